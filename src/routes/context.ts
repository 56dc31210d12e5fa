import type { ResolvedService } from "../config/load.ts";

/** Hono bindings and per-request variables shared by every route. */
export interface GatewayEnv {
  Bindings: Env;
  Variables: {
    /** The validated services, by name. */
    config: ReadonlyMap<string, ResolvedService>;
  };
}
