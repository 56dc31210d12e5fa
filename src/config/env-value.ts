/**
 * The one way to read a secret, var or binding that the configuration names by string: `Env`'s
 * generated type lists only what wrangler.toml declares, and a name the operator chose (an
 * affinity secret, a VPC binding, a discovery header's secret) is none of those.
 */
export function envValue(env: object, name: string): unknown {
  return (env as Record<string, unknown>)[name];
}

/** The named secret or var when it is a non-empty string, else undefined. */
export function envString(env: object, name: string): string | undefined {
  const value = envValue(env, name);
  return typeof value === "string" && value.length > 0 ? value : undefined;
}
