import { readFileSync } from "node:fs";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
// Wrangler's notes on reading wrangler.toml (which secrets came from .dev.vars, or are missing
// where the tests bind their own) would repeat once per test file.
process.env.WRANGLER_LOG ??= "error";

export default defineConfig({
  test: {
    // A passing run shows the summary; a failing test's console output is still shown.
    silent: "passed-only",
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" } },
      // The dashboard in headless Chromium, against a gateway in Miniflare.
      {
        test: {
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
        },
      },
      // Several gateway isolates in one Miniflare instance, driven from Node.
      {
        test: {
          name: "isolates",
          include: ["test/isolates/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            // workerd's own logs of every refused or reset connection (the fault tests make
            // hundreds) would bury the summary; the tests' own console output still shows.
            verbose: false,
            miniflare: {
              bindings: {
                ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
                PEER_SECRET: "test-peer-secret-0123456789abcdef",
                AFFINITY_SECRET: "test-affinity-secret-0123456789abcdef",
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
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/global-setup.ts"],
        },
      },
    ],
  },
});
