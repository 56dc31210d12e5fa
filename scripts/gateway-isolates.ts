// Several gateway Workers in one Miniflare instance, each its own isolate, sharing one set of
// Durable Object namespaces (the first Worker defines the classes, the others bind to them by
// script name), as deployed isolates of one Worker share its objects. Used by the multi-isolate
// tests and by `npm run bench -- leases`.
import { resolve } from "node:path";
import { build } from "esbuild";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";

const root = resolve(import.meta.dirname, "..");

/** Durable Object bindings of wrangler.toml, binding name to class. */
const OBJECTS = {
  NODE_GATE: "NodeGate",
  ROTATION: "RotationCoordinator",
  LIVE_NODES: "LiveNodes",
  ROUTE_SYNC: "RouteSync",
  PEER_SHARD: "PeerShard",
  STREAM_BENCH: "StreamBench",
} as const;

/** The ADMIN_TOKEN every isolate is started with. */
export const ISOLATES_ADMIN_TOKEN = "isolates-admin-token-0123456789abcdef";

/** Running gateway isolates. */
export interface GatewayIsolates {
  /** One fetch per isolate, by index. */
  fetch(isolate: number, path: string, init?: RequestInit): Promise<Response>;
  /** Each isolate's own HTTP entry, for load generators. */
  readonly urls: readonly string[];
  /** Their ADMIN_TOKEN, for `/_gw/stats` and the admin API. */
  readonly adminToken: string;
  close(): Promise<void>;
}

let bundle: Promise<string> | undefined;

/** The gateway bundled once per process, as `wrangler deploy` would bundle it. */
function gatewayBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [resolve(root, "src/index.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2024",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    write: false,
    logLevel: "silent",
  }).then((out) => out.outputFiles[0]?.text ?? "");
  return bundle;
}

/** Starts `count` gateway isolates serving `config`, each on a port of its own on loopback. */
export async function startGatewayIsolates(
  count: number,
  config: unknown,
  options: { readonly ports?: readonly number[] } = {},
): Promise<GatewayIsolates> {
  const script = await gatewayBundle();
  const names = Array.from({ length: count }, (_, i) => `gateway-${i + 1}`);
  const owner = names[0] as string;
  // Written in Miniflare's long-documented worker options, converted to its config shape.
  const options4 = {
    workers: names.map((name, i) => ({
      name,
      modules: true,
      script,
      compatibilityDate: "2026-11-01",
      compatibilityFlags: ["nodejs_compat"],
      bindings: {
        ROUNDHOUSE_CONFIG: JSON.stringify(config),
        ADMIN_TOKEN: ISOLATES_ADMIN_TOKEN,
        PEER_SECRET: "isolates-peer-secret-0123456789abcdef",
        METRICS_TOKEN: "isolates-metrics-token-0123456789abcdef",
      },
      durableObjects: Object.fromEntries(
        Object.entries(OBJECTS).map(([binding, className]) => [
          binding,
          { className, useSQLite: true, ...(name === owner ? {} : { scriptName: owner }) },
        ]),
      ),
      unsafeDirectSockets: [{ host: "127.0.0.1", port: options.ports?.[i] ?? 0 }],
    })),
  };
  const mf = new Miniflare(convertV4MiniflareOptions(options4));
  await mf.ready;
  const urls = await Promise.all(
    names.map(async (name) => (await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "")),
  );
  return {
    urls,
    adminToken: ISOLATES_ADMIN_TOKEN,
    fetch: (isolate, path, init) => fetch(`${urls[isolate]}${path}`, init),
    close: () => mf.dispose(),
  };
}
