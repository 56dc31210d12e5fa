import { readFileSync } from "node:fs";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";

// The fault tests refuse and drop connections on purpose; workerd logs each such fetch failure
// with its internal stack. Those lines say nothing a failing assertion would not, and a passing
// run should show its summary, not thousands of them; every other runtime log passes through.
const EXPECTED_DISCONNECTS = ["Connection refused (os error 111)", "Network connection lost"];
function runtimeLog({ level, message }: { level: string; message: string }): void {
  if (EXPECTED_DISCONNECTS.some((text) => message.includes(text))) return;
  (level === "error" || level === "warn" ? process.stderr : process.stdout).write(`${message}\n`);
}
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" } },
      // Several gateway isolates in one Miniflare instance, driven from Node.
      {
        test: {
          name: "isolates",
          include: ["test/isolates/**/*.test.ts"],
          environment: "node",
          testTimeout: 30_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              handleStructuredLogs: runtimeLog,
              bindings: {
                ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
                PEER_SECRET: "test-peer-secret-0123456789abcdef",
                DISCOVERY_TOKEN: "Bearer test-discovery-token",
              },
              // Bound where a deployment binds its VPC Network: the egress path runs for real.
              serviceBindings: { FLEET_VPC: "vpc-stand-in" },
              workers: [
                {
                  name: "vpc-stand-in",
                  modules: true,
                  script: readFileSync("test/fixtures/vpc-stand-in.js", "utf8"),
                  compatibilityDate: "2026-10-01",
                },
              ],
            },
          }),
        ],
        test: {
          name: "workers",
          // Loopback nodes and alarms on a shared 2-core machine: generous, since no test waits it out.
          testTimeout: 30_000,
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/global-setup.ts"],
        },
      },
    ],
  },
});
