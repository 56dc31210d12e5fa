// Validates the gateway configuration offline: `npm run check-config [-- --env NAME | --file F]`.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { experimental_readRawConfig } from "wrangler";
import { checkNodeUrl } from "../src/balancer/address-policy.ts";
import { parseConfig } from "../src/config/load.ts";
import { addressPolicyOf } from "../src/config/network-schema.ts";

const { values } = parseArgs({
  options: {
    config: { type: "string", default: "wrangler.toml" },
    env: { type: "string" },
    file: { type: "string" },
  },
});

function rawValue(): { source: string; raw: unknown } {
  if (values.file) return { source: values.file, raw: readFileSync(values.file, "utf8") };
  const { rawConfig } = experimental_readRawConfig({ config: values.config });
  const environment = values.env ? rawConfig.env?.[values.env] : rawConfig;
  if (!environment) throw new Error(`no environment "${values.env}" in ${values.config}`);
  const label = values.env ? `${values.config} [env.${values.env}]` : values.config;
  return { source: `${label} vars.ROUNDHOUSE_CONFIG`, raw: environment.vars?.ROUNDHOUSE_CONFIG };
}

const { source, raw } = rawValue();
const result = parseConfig(raw);
if (result.ok) {
  const names = [...result.services.values()].map((s) => `${s.name} (${s.nodes.length} nodes)`);
  console.log(`ok: ${source} is valid; services: ${names.join(", ") || "none"}`);
  // Loopback nodes pass so that `wrangler dev` and the demo work; a deployed Worker cannot reach them.
  for (const service of result.services.values()) {
    const policy = addressPolicyOf(service);
    const urls = [...service.nodes.map((n) => n.url), ...(service.discovery?.seeds ?? [])];
    for (const url of urls) {
      const verdict = checkNodeUrl(url, policy);
      if (verdict.ok && verdict.localOnly) {
        console.log(`  local only: ${service.name}: ${url} (loopback; unreachable once deployed)`);
      }
    }
    if (service.egress.kind !== "internet") {
      console.log(
        `  ${service.name}: egress through the ${service.egress.kind} binding ` +
          `"${service.egress.binding}"; invocations are unavailable on it`,
      );
    }
  }
} else {
  console.error(`invalid: ${source}`);
  for (const issue of result.issues) console.error(`  ${issue.path}: ${issue.message}`);
  process.exitCode = 1;
}
