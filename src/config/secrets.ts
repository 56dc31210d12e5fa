import { envValue } from "./env-value.ts";
import type { ConfigIssue, ResolvedService } from "./load.ts";
import { SECRETS } from "./names.ts";

/** Shortest ADMIN_TOKEN or PEER_SECRET accepted: 256 bits, what HMAC-SHA256 keys are sized for. */
export const MIN_SECRET_BYTES = 32;

const checked = new WeakMap<object, WeakMap<object, ConfigIssue[]>>();

/**
 * The secret issues of an environment and a parsed configuration, worked out once per pair: both
 * stay the same object for an isolate's life, and this runs on every request.
 */
export function cachedSecretIssues(
  env: object,
  services: ReadonlyMap<string, ResolvedService>,
): ConfigIssue[] {
  let byConfig = checked.get(env);
  if (!byConfig) {
    byConfig = new WeakMap();
    checked.set(env, byConfig);
  }
  let issues = byConfig.get(services);
  if (!issues) {
    issues = secretIssues(env, services.values());
    byConfig.set(services, issues);
  }
  return issues;
}

/**
 * Secrets that are set but too short to resist guessing, and secrets a service's configuration
 * needs but the deployment lacks (a session affinity's signing key), as configuration issues: a
 * gateway refuses to run on them, as on any bad configuration, rather than run guessable.
 */
function secretIssues(env: object, services: Iterable<ResolvedService> = []): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const name of SECRETS) {
    const issue = shortSecret(name, envValue(env, name));
    if (issue) issues.push(issue);
  }
  for (const service of services) {
    const name = service.affinity?.secret;
    if (name === undefined) continue;
    const value = envValue(env, name);
    if (typeof value !== "string" || value.length === 0) {
      issues.push({
        path: `services.${service.name}.affinity.secret`,
        message: `the secret ${name} is not set; ${howToSet(name)}`,
      });
    } else {
      const issue = shortSecret(name, value);
      if (issue) issues.push(issue);
    }
  }
  return issues;
}

function shortSecret(name: string, value: unknown): ConfigIssue | undefined {
  if (typeof value !== "string" || value.length === 0) return undefined;
  const bytes = new TextEncoder().encode(value).byteLength;
  if (bytes >= MIN_SECRET_BYTES) return undefined;
  return {
    path: name,
    message: `${bytes} bytes, shorter than ${MIN_SECRET_BYTES}; ${howToSet(name)}`,
  };
}

function howToSet(name: string): string {
  return `set a random value, e.g. \`openssl rand -hex 32 | npx wrangler secret put ${name}\``;
}
