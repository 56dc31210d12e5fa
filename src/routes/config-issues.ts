import type { ConfigIssue } from "../config/load.ts";
import { Log } from "../logging/log.ts";

const logged = new WeakSet<readonly ConfigIssue[]>();
// A configuration that does not load has no logging settings of its own: the defaults log it.
const badConfigLog = new Log();

/**
 * A bad configuration's issues as anyone may see them: the field paths only. A message can carry
 * what an anonymous caller should not learn (a secret's length, a value from the configuration),
 * so the messages go to the log, once per configuration an isolate loads, and to `/_gw/health`
 * for the holder of the admin token.
 */
export function publicIssues(issues: readonly ConfigIssue[]): { path: string }[] {
  if (!logged.has(issues)) {
    logged.add(issues);
    for (const { path, message } of issues) {
      badConfigLog.fault("error", { event: "config-invalid", reason: `${path}: ${message}` });
    }
  }
  return issues.map(({ path }) => ({ path }));
}
