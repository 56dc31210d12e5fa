import type { SyncConfig } from "../config/load.ts";
import { routeSyncOf } from "../durable/stubs.ts";
import { logOf } from "../logging/log-of.ts";

const configured = new WeakMap<SyncConfig, Promise<void>>();

/** The gateway's RouteSync object. */
export function routeSyncStub(env: Env, sync: SyncConfig) {
  return routeSyncOf(env, sync.gatewayId);
}

/**
 * Hands the gateway's sync configuration to its RouteSync object, once per isolate and
 * configuration (again after a failure). A new or changed configuration wakes the fan-out shards,
 * which reconcile with every peer at once: this is how a gateway starts syncing after a deploy.
 */
export function ensureSyncConfigured(env: Env, sync: SyncConfig): Promise<void> {
  let done = configured.get(sync);
  if (!done) {
    done = routeSyncStub(env, sync)
      .configure(sync)
      .catch((error: unknown) => {
        configured.delete(sync);
        throw error;
      });
    configured.set(sync, done);
  }
  return done;
}

/** Starts sync in the background of a request, if the isolate has not yet. */
export function startSyncInBackground(
  c: { readonly env: Env; readonly executionCtx: { waitUntil(promise: Promise<unknown>): void } },
  sync: SyncConfig,
): void {
  if (configured.has(sync)) return;
  const started = ensureSyncConfigured(c.env, sync).catch((error: unknown) => {
    logOf(c.env).fault("error", {
      event: "sync-failure",
      reason: `could not configure: ${String(error)}`,
    });
  });
  try {
    c.executionCtx.waitUntil(started);
  } catch {
    // No execution context (a test calling the app directly): the promise runs on its own.
  }
}
