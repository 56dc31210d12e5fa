import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { inject } from "vitest";
import { SyncSchema } from "../../src/config/sync-schema.ts";
import { peerShardOf, routeSyncOf } from "../../src/durable/stubs.ts";
import type { PeerShard } from "../../src/durable/sync/peer-shard.ts";
import type { PeerView, ShardStats } from "../../src/durable/sync/peer-shard-contract.ts";
import type { RouteSync } from "../../src/durable/sync/route-sync.ts";
import { encodeStamp } from "../../src/sync/hlc.ts";
import { ANSWER_SIGNATURE_HEADER, sign } from "../../src/sync/signature.ts";
import { gateway } from "./helpers.ts";

/** The PEER_SECRET vitest.config.ts binds. */
export const PEER_SECRET = "test-peer-secret-0123456789abcdef";
export const AUTH = { authorization: "Bearer test-admin-token-0123456789abcdef" };

/** What a fake peer counted (backend/fake-peer.ts). */
export interface FakePeerStats {
  readonly requests: number;
  readonly byPath: Record<string, number>;
  readonly byStatus: Record<string, number>;
  readonly badSignatures: number;
  readonly received: readonly { key: string; kind: string; stamp: string }[];
  readonly keys: readonly string[];
}

/** A fake peer gateway on loopback. */
export interface TestPeer {
  readonly name: string;
  readonly url: string;
}

async function control(path: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(`${inject("fleetUrl")}${path}`, init);
  if (!response.ok) throw new Error(`fleet ${path}: ${response.status} ${await response.text()}`);
  return response;
}

let peerCount = 0;
let gatewayCount = 0;

/** A gateway id no other test uses. */
export const gatewayId = () => `gw${++gatewayCount}-${Math.random().toString(36).slice(2, 8)}`;

/** The changes a fake peer received, in order. */
export const changesOf = async (peer: TestPeer) => (await peerStats(peer)).received;

/** How many pushes of changes a fake peer was sent. */
export const postsTo = async (peer: TestPeer) =>
  (await peerStats(peer)).byPath["/_gw/peer/changes"] ?? 0;

/** A wire change for a signed POST to a gateway. */
export function upsert(
  service: string,
  nodeId: string,
  url: string,
  wallMs = Date.now(),
  origin = "remote",
) {
  return {
    key: `${service}/${nodeId}`,
    kind: "upsert",
    stamp: encodeStamp({ wallMs, counter: 0, origin }),
    record: { url, weight: 1 },
  };
}

/**
 * Starts `count` fake peers with unique names. They check signatures and sign their answers with
 * PEER_SECRET, or with `secret`; with `secret: null` they check nothing and sign nothing.
 */
export async function addPeers(
  count: number,
  options: { mode?: string; failStatus?: number; delayMs?: number; secret?: string | null } = {},
): Promise<TestPeer[]> {
  const prefix = `p${++peerCount}x${Math.random().toString(36).slice(2, 6)}`;
  const { secret = PEER_SECRET, ...behaviour } = options;
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const body = {
        name: `${prefix}-${i}`,
        group: prefix,
        ...(secret === null ? {} : { secret }),
        ...behaviour,
      };
      const response = await control("/peers", { method: "POST", body: JSON.stringify(body) });
      return ((await response.json()) as TestPeer[])[0] as TestPeer;
    }),
  );
}

export async function removePeers(peers: readonly TestPeer[]): Promise<void> {
  await Promise.all(peers.map((p) => control(`/peers/${p.name}`, { method: "DELETE" })));
}

export async function peerStats(peer: TestPeer): Promise<FakePeerStats> {
  return (await (await control(`/peers/${peer.name}`)).json()) as FakePeerStats;
}

export async function setPeer(
  peer: TestPeer,
  patch: { mode?: string; failStatus?: number; delayMs?: number },
): Promise<void> {
  await control(`/peers/${peer.name}/behaviour`, { method: "POST", body: JSON.stringify(patch) });
}

/**
 * The most requests the fake peers were handling at once: those started by one addPeers call
 * (the group of `peer`), which other test files sharing the fleet cannot add to.
 */
export async function peersInFlight(
  peer: TestPeer,
): Promise<{ inFlight: number; peakInFlight: number }> {
  const group = peer.name.slice(0, peer.name.lastIndexOf("-"));
  return (await (await control(`/peers/stats?group=${group}`)).json()) as {
    inFlight: number;
    peakInFlight: number;
  };
}

/** Puts wire changes into a fake peer's own table. */
export async function seedPeer(peer: TestPeer, changes: unknown[]): Promise<void> {
  await control(`/peers/${peer.name}/seed`, {
    method: "POST",
    body: JSON.stringify({ origin: peer.name, changes }),
  });
}

/** A gateway with peer sync on: its id, peers and settings, and one service. */
export function syncGateway(options: {
  gatewayId: string;
  peers: readonly TestPeer[];
  service: string;
  nodes?: readonly { id: string; url: string }[];
  sync?: Record<string, unknown>;
  /** More fields of the one service (ejection, health, retry…). */
  serviceOverrides?: Record<string, unknown>;
}) {
  const config = {
    gatewayId: options.gatewayId,
    peers: options.peers.map((p) => ({ name: p.name, url: p.url })),
    // Generous timeouts: a driven round must not fail a push because the machine is busy.
    sync: {
      reconcileIntervalMs: 600_000,
      requestTimeoutMs: 2_000,
      peerDeadlineMs: 5_000,
      ...options.sync,
    },
    services: [{ name: options.service, nodes: options.nodes ?? [], ...options.serviceOverrides }],
  };
  const fetchVia = gateway(config);
  const json = { ...AUTH, "content-type": "application/json" };
  return {
    config,
    fetch: fetchVia,
    register: (node: Record<string, unknown>) =>
      fetchVia(`/_gw/admin/services/${options.service}/nodes`, {
        method: "POST",
        headers: json,
        body: JSON.stringify(node),
      }),
    deregister: (nodeId: string) =>
      fetchVia(`/_gw/admin/services/${options.service}/nodes/${nodeId}`, {
        method: "DELETE",
        headers: AUTH,
      }),
    detail: async () =>
      (await (await fetchVia(`/_gw/services/${options.service}`, { headers: AUTH })).json()) as {
        nodes: { id: string; source: string; ejectedUntil: number | null }[];
        peers: PeerView[];
      },
    table: () => routeSyncOf(env, options.gatewayId),
    shardStats: async (): Promise<ShardStats[]> =>
      Promise.all(shardsOf(options.gatewayId).map((shard) => shard.stats())),
    /** Runs the gateway's sync objects through one whole round (see syncRound). */
    syncRound: () => syncRound(options.gatewayId),
  };
}

/** Shards a gateway has with the default `sync.shards`. */
export const SHARDS = SyncSchema.parse({}).shards;

function shardsOf(gatewayId: string) {
  return Array.from({ length: SHARDS }, (_, i) => peerShardOf(env, gatewayId, i));
}

/**
 * Drives a gateway's peer sync through one whole round instead of waiting for its alarms:
 * RouteSync wakes its shards, every shard runs a round (after any round of its own alarm that is
 * under way), and RouteSync then applies the routing effect of whatever the round pulled. When it
 * returns, every change recorded before the call has been offered to every peer that is due.
 */
async function syncRound(gatewayId: string): Promise<void> {
  const table = routeSyncOf(env, gatewayId);
  await runInDurableObject(table, (instance: RouteSync) => instance.alarm());
  await Promise.all(
    shardsOf(gatewayId).map((shard) =>
      runInDurableObject(shard, (instance: PeerShard) => instance.alarm()),
    ),
  );
  await runInDurableObject(table, (instance: RouteSync) => instance.alarm());
}

/** A signed request to the peer endpoint of the gateway named `target`. */
export async function signedInit(
  target: string,
  method: "GET" | "POST",
  path: string,
  body = "",
  options: { secret?: string; now?: number; nonce?: string } = {},
): Promise<RequestInit> {
  const headers = await sign(
    options.secret ?? PEER_SECRET,
    { method, path, body, target },
    options.now ?? Date.now(),
    ...(options.nonce ? [options.nonce] : []),
  );
  return {
    method,
    headers: { ...headers, ...(method === "POST" ? { "content-type": "application/json" } : {}) },
    ...(method === "POST" ? { body } : {}),
  };
}

/**
 * Forwards the requests a relaying fake peer holds to `target` (another gateway in this runtime)
 * and answers them, until stopped: two gateways of one test reach each other this way.
 */
export function relay(
  peer: TestPeer,
  target: (path: string, init: RequestInit) => Promise<Response>,
) {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const next = await control(`/peers/${peer.name}/relay?waitMs=200`);
      if (next.status === 204) continue;
      const held = (await next.json()) as {
        id: number;
        method: string;
        path: string;
        headers: Record<string, string>;
        body: string;
      };
      let answer: { status: number; body: string; headers?: Record<string, string> };
      try {
        const response = await target(held.path, {
          method: held.method,
          headers: held.headers,
          ...(held.method === "POST" ? { body: held.body } : {}),
        });
        const signature = response.headers.get(ANSWER_SIGNATURE_HEADER);
        answer = {
          status: response.status,
          body: await response.text(),
          ...(signature ? { headers: { [ANSWER_SIGNATURE_HEADER]: signature } } : {}),
        };
      } catch (error) {
        answer = { status: 500, body: String(error) };
      }
      await fetch(`${inject("fleetUrl")}/peers/${peer.name}/relay/${held.id}`, {
        method: "POST",
        body: JSON.stringify(answer),
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
