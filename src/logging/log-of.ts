import { loadConfig } from "../config/load.ts";
import { Log } from "./log.ts";

const logs = new WeakMap<object, Log>();
let fallback: Log | undefined;

/**
 * The log as the deployment's configuration sets it, for code that has the environment but no
 * parsed configuration at hand (Durable Objects): parsed once per isolate and configuration. A
 * configuration that does not parse logs with the defaults.
 */
export function logOf(env: Env): Log {
  const config = loadConfig(env.ROUNDHOUSE_CONFIG);
  if (!config.ok) {
    fallback ??= new Log();
    return fallback;
  }
  let log = logs.get(config.services);
  if (!log) {
    log = new Log(config.logging);
    logs.set(config.services, log);
  }
  return log;
}
