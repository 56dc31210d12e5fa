import { Hono } from "hono";
import { loadConfig } from "./config/load.ts";
import { cachedSecretIssues } from "./config/secrets.ts";
import { problem } from "./http/problem.ts";
import { adminRoutes } from "./routes/admin.ts";
import { adminHostBoundary } from "./routes/admin-host.ts";
import { publicIssues } from "./routes/config-issues.ts";
import type { GatewayEnv } from "./routes/context.ts";
import { dashboardRoutes } from "./routes/dashboard.tsx";
import { diagnosticsRoutes } from "./routes/diagnostics.ts";
import { healthRoutes } from "./routes/health.ts";
import { invokeRoutes } from "./routes/invoke.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { onError } from "./routes/on-error.ts";
import { peerRoutes } from "./routes/peer.ts";
import { proxyRoutes } from "./routes/proxy.ts";
import { startSyncInBackground } from "./routes/sync-runtime.ts";

/** The gateway's HTTP surface. */
export const app = new Hono<GatewayEnv>();

app.route("/_gw", healthRoutes);

// Everything but the health report refuses to work on a bad configuration, naming what is wrong.
app.use("*", async (c, next) => {
  const config = loadConfig(c.env.ROUNDHOUSE_CONFIG);
  const issues = config.ok ? cachedSecretIssues(c.env, config.services) : config.issues;
  if (!config.ok || issues.length > 0) {
    const first = issues[0];
    return problem({
      status: 503,
      type: "bad-config",
      title: "Gateway configuration is invalid",
      // Paths only: GET /_gw/health with the admin token, and the log, say what is wrong.
      detail: first ? `invalid at ${first.path}` : undefined,
      extensions: { issues: publicIssues(issues) },
    });
  }
  c.set("config", config.services);
  c.set("sync", config.sync);
  c.set("adminHost", config.adminHost);
  if (config.sync) startSyncInBackground(c, config.sync);
  await next();
});

app.route("/_gw/peer", peerRoutes);

// With an admin hostname, the admin surface answers there alone, and nothing else does.
app.use("*", adminHostBoundary);

app.route("/_gw/admin/diagnostics", diagnosticsRoutes);
// Before the admin routes, whose token check covers everything else under /_gw.
app.route("/_gw/metrics", metricsRoutes);
app.route("/_gw/dashboard", dashboardRoutes);
app.route("/_gw", adminRoutes);
app.route("/s", proxyRoutes);
app.route("/v1/invoke", invokeRoutes);

app.notFound(() =>
  problem({ status: 404, type: "not-found", title: "Not found", detail: "no such route" }),
);

app.onError(onError);
