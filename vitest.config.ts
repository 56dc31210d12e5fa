import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
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
              bindings: { ADMIN_TOKEN: "test-admin-token", PEER_SECRET: "test-peer-secret" },
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
