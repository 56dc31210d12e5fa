import type { ConfigIssue } from "./load.ts";

/** Shortest ADMIN_TOKEN or PEER_SECRET accepted: 256 bits, what HMAC-SHA256 keys are sized for. */
export const MIN_SECRET_BYTES = 32;

const SECRETS = ["ADMIN_TOKEN", "PEER_SECRET"] as const;

/**
 * Secrets that are set but too short to resist guessing, as configuration issues: a gateway
 * refuses to run on them, as on any bad configuration, rather than run guessable.
 */
export function secretIssues(
  env: Partial<Record<(typeof SECRETS)[number], unknown>>,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const name of SECRETS) {
    const value = env[name];
    if (typeof value !== "string" || value.length === 0) continue;
    const bytes = new TextEncoder().encode(value).byteLength;
    if (bytes < MIN_SECRET_BYTES) {
      issues.push({
        path: name,
        message:
          `${bytes} bytes, shorter than ${MIN_SECRET_BYTES}; set a random value, e.g. ` +
          `\`openssl rand -hex 32 | npx wrangler secret put ${name}\``,
      });
    }
  }
  return issues;
}
