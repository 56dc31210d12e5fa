import type { LoggingSettings } from "./logging-schema.ts";
import {
  ConfigSchema,
  defaultNodeId,
  InvokeSchema,
  type InvokeSettings,
  type NodeConfig,
  type ServiceConfig,
} from "./schema.ts";
import type { PeerConfig, SyncSettings } from "./sync-schema.ts";

/** A node with its id resolved. */
export type ResolvedNode = NodeConfig & { readonly id: string };

/** A service with node ids resolved and nodes indexed by id. */
export interface ResolvedService extends Omit<ServiceConfig, "nodes" | "invoke"> {
  readonly nodes: readonly ResolvedNode[];
  /** Invocation settings; undefined when the egress cannot carry the node streams. */
  readonly invoke: InvokeSettings | undefined;
  readonly byId: ReadonlyMap<string, ResolvedNode>;
  /** This gateway's id when peer route sync is on: route changes are then recorded for the peers. */
  readonly gatewayId?: string;
  /** The gateway's log settings, which its isolates' lines follow. */
  readonly logging: LoggingSettings;
}

/** Peer route sync, present only when peers are configured. */
export interface SyncConfig {
  /** This gateway's origin id. */
  readonly gatewayId: string;
  readonly peers: readonly PeerConfig[];
  readonly settings: SyncSettings;
  /** The services this gateway serves; remote changes to other services are kept but not applied. */
  readonly services: readonly string[];
  /** Each service's `ejection.maxMs`: the longest ejection a peer's change may impose here. */
  readonly ejectionMaxMs: Readonly<Record<string, number>>;
}

/** One problem with the configuration, located by its path. */
export interface ConfigIssue {
  /** Dotted path of the bad field, e.g. `services[0].nodes[1].url`. */
  readonly path: string;
  readonly message: string;
}

/** The outcome of reading the configuration: usable services, or every reason it is not usable. */
export type LoadedConfig =
  | {
      readonly ok: true;
      readonly services: ReadonlyMap<string, ResolvedService>;
      /** Peer route sync; undefined when no peers are configured. */
      readonly sync?: SyncConfig;
      /** Log level and request sampling. */
      readonly logging: LoggingSettings;
      /** The dashboard's and admin API's own hostname, when they have one. */
      readonly adminHost?: string;
    }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/**
 * Parses and validates the raw ROUNDHOUSE_CONFIG value (a JSON string, or an object when the var
 * is a TOML table). A configuration is used whole or not at all, so a typo never half-works.
 */
export function parseConfig(raw: unknown): LoadedConfig {
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch (error) {
      return {
        ok: false,
        issues: [{ path: "ROUNDHOUSE_CONFIG", message: `not JSON: ${(error as Error).message}` }],
      };
    }
  }
  if (value === undefined) {
    return { ok: false, issues: [{ path: "ROUNDHOUSE_CONFIG", message: "not set" }] };
  }
  const parsed = ConfigSchema.safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({
        path: formatPath(issue.path),
        message: issue.message,
      })),
    };
  }
  const { gatewayId, peers } = parsed.data;
  const sync: SyncConfig | undefined =
    gatewayId !== undefined && peers.length > 0
      ? {
          gatewayId,
          peers,
          settings: parsed.data.sync,
          services: parsed.data.services.map((s) => s.name),
          ejectionMaxMs: Object.fromEntries(
            parsed.data.services.map((s) => [s.name, s.ejection.maxMs]),
          ),
        }
      : undefined;
  const services = new Map<string, ResolvedService>();
  for (const service of parsed.data.services) {
    const nodes = service.nodes.map((n) => ({ ...n, id: n.id ?? defaultNodeId(n.url) }));
    services.set(service.name, {
      ...service,
      nodes,
      invoke:
        service.egress.kind === "internet" ? (service.invoke ?? InvokeSchema.parse({})) : undefined,
      byId: new Map(nodes.map((n) => [n.id, n])),
      logging: parsed.data.logging,
      ...(sync === undefined ? {} : { gatewayId: sync.gatewayId }),
    });
  }
  const { logging, adminHost } = parsed.data;
  return {
    ok: true,
    services,
    logging,
    ...(sync === undefined ? {} : { sync }),
    ...(adminHost === undefined ? {} : { adminHost }),
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : `${out ? "." : ""}${String(part)}`;
  }
  return out || "(root)";
}

const cache = new Map<unknown, LoadedConfig>();
/** Configurations kept parsed at once: one per deployment, a few more where tests run several. */
const CACHE_SIZE = 8;

/**
 * Parses once per isolate and per distinct raw value, so the hot path pays for a lookup only.
 * Several are kept: an isolate that also runs Durable Objects reads the same value from them, and
 * one that alternated between two configurations must not start over (and lose every runtime
 * built on the last parse) at each switch.
 */
export function loadConfig(raw: unknown): LoadedConfig {
  let loaded = cache.get(raw);
  if (loaded === undefined) {
    loaded = parseConfig(raw);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value);
    cache.set(raw, loaded);
  }
  return loaded;
}
