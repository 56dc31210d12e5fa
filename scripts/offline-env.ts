/**
 * Environment additions that keep wrangler from reaching the network (request.cf lookups,
 * metrics, error reports, telemetry): this project runs with loopback only.
 */
export function offlineEnv(): Record<string, string> {
  return {
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    CLOUDFLARE_TELEMETRY_DISABLED: "1",
  };
}
