import type { ResolvedService, SyncConfig } from "../config/load.ts";

/** Hono bindings and per-request variables shared by every route. */
export interface GatewayEnv {
  Bindings: Env;
  Variables: {
    /** The validated services, by name. */
    config: ReadonlyMap<string, ResolvedService>;
    /** Peer route sync; undefined when no peers are configured. */
    sync: SyncConfig | undefined;
    /** The admin surface's own hostname, when the configuration names one. */
    adminHost: string | undefined;
  };
}
