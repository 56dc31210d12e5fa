// `npm run bench -- peers-sync`: a gateway with 200 peers (fake peer gateways on loopback). How
// long does the admin call that causes a route change take with every peer healthy, with one hung
// and with twenty hung; how long until every healthy peer has the change; how many requests are
// in flight to peers at most; and how long a hung peer takes to converge once it recovers.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type { FakePeer } from "../backend/fake-peer.ts";
import { FakePeerSet } from "../backend/fake-peer-set.ts";
import type { Stamp } from "../src/sync/hlc.ts";
import type { RouteEntry } from "../src/sync/route-table.ts";
import { startGateway } from "./gateway.ts";
import { fmt, machine, percentile, printTable, writeResult } from "./report.ts";

const SERVICE = "bench";
const GATEWAY_ID = "bench-gw";
/** 64 = nine shards of 6 connections and two of 5: the defaults of sync.shards and maxInFlight. */
const IN_FLIGHT_BOUND = 64;

interface Phase {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  convergeHealthyMs: number;
  calls: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function stampsOf(entry: RouteEntry): string {
  const stamp = (s: Stamp | undefined) => (s ? `${s.wallMs}.${s.counter}.${s.origin}` : "-");
  return `${stamp(entry.stamp)}/${stamp(entry.recordStamp)}`;
}

export async function peerSyncBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      peers: { type: "string", default: "200" },
      calls: { type: "string", default: "300" },
      "peer-delay-ms": { type: "string", default: "2" },
      "converge-probes": { type: "string", default: "6" },
      "warmup-calls": { type: "string", default: "100" },
      rounds: { type: "string", default: "6" },
      "recover-timeout-ms": { type: "string", default: "300000" },
      port: { type: "string", default: "8799" },
    },
  });
  const peerCount = Number(values.peers);
  const calls = Number(values.calls);
  const probes = Number(values["converge-probes"]);
  const secret = randomBytes(16).toString("hex");
  const set = new FakePeerSet({ host: "127.0.0.1", secret });
  const peers: FakePeer[] = [];
  for (let i = 0; i < peerCount; i++) {
    peers.push(await set.add({ name: `peer-${i}`, delayMs: Number(values["peer-delay-ms"]) }));
  }
  const config = {
    gatewayId: GATEWAY_ID,
    peers: peers.map((p) => ({ name: p.name, url: p.url })),
    // The nodes registered in the timed calls are on loopback, which the address policy refuses
    // unless allowed.
    services: [{ name: SERVICE, allow: ["127.0.0.0/8"] }],
  };
  const gateway = await startGateway(config, Number(values.port), { PEER_SECRET: secret });
  const admin = { authorization: `Bearer ${gateway.adminToken}` };
  let nodeNumber = 0;

  /** One timed registration; the node is removed again (untimed) so the service stays small. */
  const register = async (): Promise<{ ms: number; key: string }> => {
    const id = `n-${++nodeNumber}`;
    const started = performance.now();
    const response = await fetch(`${gateway.url}/_gw/admin/services/${SERVICE}/nodes`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ url: `http://127.0.0.1:9/${id}`, id }),
    });
    const ms = performance.now() - started;
    if (response.status !== 201)
      throw new Error(`register: ${response.status} ${await response.text()}`);
    await response.body?.cancel();
    return { ms, key: `${SERVICE}/${id}` };
  };
  const deregister = async (key: string) => {
    const id = key.slice(SERVICE.length + 1);
    const response = await fetch(`${gateway.url}/_gw/admin/services/${SERVICE}/nodes/${id}`, {
      method: "DELETE",
      headers: admin,
    });
    if (response.status !== 204) throw new Error(`remove: ${response.status}`);
  };
  /** Time from the call until every given peer holds the key (polled every 2 ms, 60 s at most). */
  const converge = async (targets: readonly FakePeer[]): Promise<number> => {
    const started = performance.now();
    const { key } = await register();
    while (!targets.every((p) => p.table.get(key))) {
      if (performance.now() - started > 60_000) throw new Error(`${key} did not converge`);
      await sleep(2);
    }
    const ms = performance.now() - started;
    await deregister(key);
    return ms;
  };
  /** Hangs exactly the given peers; the others answer (a peer leaving a hang closes its connections). */
  const hangOnly = async (hung: readonly FakePeer[]) => {
    for (const peer of peers) {
      const mode = hung.includes(peer) ? "hang" : "ok";
      if (peer.behaviour.mode !== mode) await peer.setBehaviour({ mode });
    }
  };
  /** `count` timed admin calls and `probeCount` convergence probes with `hung` hung. */
  const run = async (hung: readonly FakePeer[], count: number, probeCount: number) => {
    const healthy = peers.filter((p) => !hung.includes(p));
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const { ms, key } = await register();
      times.push(ms);
      await deregister(key);
    }
    const convergeTimes: number[] = [];
    for (let i = 0; i < probeCount; i++) convergeTimes.push(await converge(healthy));
    return { times, convergeTimes };
  };
  const summarise = (times: number[], convergeTimes: number[]): Phase => {
    times.sort((a, b) => a - b);
    convergeTimes.sort((a, b) => a - b);
    return {
      p50Ms: percentile(times, 50),
      p99Ms: percentile(times, 99),
      meanMs: times.reduce((a, b) => a + b, 0) / times.length,
      convergeHealthyMs: percentile(convergeTimes, 50),
      calls: times.length,
    };
  };
  /** The gateway's own counters: per shard, the most requests it had in flight at once. */
  const shardPeaks = async (): Promise<{ sum: number; max: number; perShard: number[] }> => {
    const response = await fetch(`${gateway.url}/_gw/sync`, { headers: admin });
    const body = (await response.json()) as { shards: { peakInFlight: number; limit: number }[] };
    const perShard = body.shards.map((s) => s.peakInFlight);
    return { sum: perShard.reduce((a, b) => a + b, 0), max: Math.max(...perShard), perShard };
  };
  /** How many peers have reconciled, and the shards' alarm and reconcile counts (diagnosis). */
  const syncState = async (label: string) => {
    const detail = await fetch(`${gateway.url}/_gw/services/${SERVICE}`, { headers: admin });
    const views = ((await detail.json()) as { peers: { lastReconciledAt: number | null }[] }).peers;
    const stats = await fetch(`${gateway.url}/_gw/sync`, { headers: admin });
    const shardStats = (
      (await stats.json()) as {
        shards: { alarms: number; reconciles: number; inFlight: number }[];
      }
    ).shards;
    if (process.env.PEER_SYNC_BENCH_DEBUG) {
      console.log(
        `${label}: reconciled peers ${views.filter((v) => v.lastReconciledAt !== null).length}, ` +
          `shards ${JSON.stringify(shardStats.map((s) => [s.alarms, s.reconciles, s.inFlight]))}`,
      );
    }
  };
  /** Time until a recovered peer's table holds every key a healthy peer's does, at equal stamps. */
  const recover = async (peer: FakePeer, reference: FakePeer): Promise<number> => {
    await peer.setBehaviour({ mode: "ok" });
    const started = performance.now();
    // Compared key by key every 50 ms (the fake peers share this process, and a busy check would
    // starve them), against the reference as it is at each check: the last removal made before
    // the recovery may still be on its way to the reference.
    const same = () =>
      peer.table.size === reference.table.size &&
      reference.table.entries().every((wanted) => {
        const entry = peer.table.get(wanted.key);
        return entry !== undefined && stampsOf(entry) === stampsOf(wanted);
      });
    while (!same()) {
      if (performance.now() - started > Number(values["recover-timeout-ms"])) {
        const detail = await fetch(`${gateway.url}/_gw/services/${SERVICE}`, { headers: admin });
        const view = ((await detail.json()) as { peers: { peer: string }[] }).peers.find(
          (p) => p.peer === peer.name,
        );
        throw new Error(
          `${peer.name} did not converge: ${JSON.stringify(view)}; ` +
            `${reference.table.size} vs ${peer.table.size} entries`,
        );
      }
      await sleep(50);
    }
    return performance.now() - started;
  };

  try {
    // Warm up: the first calls create the objects, the shards reconcile with every peer, and the
    // runtime compiles the hot paths; the first phase would otherwise pay for all of it.
    for (let i = 0; i < Number(values["warmup-calls"]); i++) {
      await deregister((await register()).key);
    }
    await sleep(2_000);
    set.resetStats();
    await syncState("warm");
    // The three cases are measured in interleaved rounds (the order rotating), so that whatever
    // drifts over the run (the table grows by a tombstone per call) weighs on each alike.
    const oneHungPeer = peers[0] as FakePeer;
    const twenty = peers.slice(0, 20);
    const cases = { healthy: [], oneHung: [oneHungPeer], twentyHung: twenty } as const;
    const names = Object.keys(cases) as (keyof typeof cases)[];
    const samples: Record<keyof typeof cases, { times: number[]; converge: number[] }> = {
      healthy: { times: [], converge: [] },
      oneHung: { times: [], converge: [] },
      twentyHung: { times: [], converge: [] },
    };
    const rounds = Number(values.rounds);
    // The most requests the peers held open at once, per phase: the bound must hold in each.
    const peerPeaks = { healthy: 0, oneHung: 0, twentyHung: 0, recovery: 0 };
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length] as keyof typeof cases;
        await hangOnly(cases[name]);
        set.resetStats();
        const { times, convergeTimes } = await run(
          cases[name],
          Math.ceil(calls / rounds),
          Math.max(1, Math.round(probes / rounds)),
        );
        peerPeaks[name] = Math.max(peerPeaks[name], set.peakInFlight);
        samples[name].times.push(...times);
        samples[name].converge.push(...convergeTimes);
      }
    }
    const healthy = summarise(samples.healthy.times, samples.healthy.converge);
    const oneHung = summarise(samples.oneHung.times, samples.oneHung.converge);
    const twentyHung = summarise(samples.twentyHung.times, samples.twentyHung.converge);
    await syncState("rounds");
    // Read before the recovery wait: idle objects may be evicted then, and their counters with them.
    const shards = await shardPeaks();
    // Recovery: twenty peers hang through a sustained stretch of changes, long enough for their
    // backoff to grow, then come back.
    await hangOnly(twenty);
    set.resetStats();
    await run(twenty, Math.ceil(calls / 2), 0);
    const reference = peers[peerCount - 1] as FakePeer;
    const recoveredTwenty = await Promise.all(twenty.map((peer) => recover(peer, reference)));
    const recoveredOneMs = recoveredTwenty[0] ?? Number.NaN;
    const convergeRecoveredMs = Math.max(...recoveredTwenty);
    peerPeaks.recovery = set.peakInFlight;
    const peakAtPeers = Math.max(...Object.values(peerPeaks));

    const result = {
      machine: machine(),
      peers: peerCount,
      callsPerPhase: calls,
      rounds: Number(values.rounds),
      peerDelayMs: Number(values["peer-delay-ms"]),
      inFlightBound: IN_FLIGHT_BOUND,
      // The gateway's own count: per shard, the most requests in flight at once, summed over the
      // 11 shards (each within its 5 or 6). An upper bound on the total at any moment.
      peakInFlight: shards.sum,
      peakInFlightPerShard: shards.perShard,
      // Requests the peers held open at once (answering or hung), the most in any phase: a
      // request the gateway gives up on counts at the peer until the peer sees it closed, so this
      // is the bound as the peers see it (docs/architecture.md, "Peer route sync").
      peakInFlightObservedByPeers: peakAtPeers,
      peakInFlightObservedByPeersByPhase: peerPeaks,
      p50Ms: { healthy: healthy.p50Ms, oneHung: oneHung.p50Ms, twentyHung: twentyHung.p50Ms },
      p99Ms: { healthy: healthy.p99Ms, oneHung: oneHung.p99Ms, twentyHung: twentyHung.p99Ms },
      meanMs: { healthy: healthy.meanMs, oneHung: oneHung.meanMs, twentyHung: twentyHung.meanMs },
      p99Ratio: {
        oneHung: oneHung.p99Ms / healthy.p99Ms,
        twentyHung: twentyHung.p99Ms / healthy.p99Ms,
      },
      convergeHealthyMs: healthy.convergeHealthyMs,
      convergeHealthyMsWithHung: {
        oneHung: oneHung.convergeHealthyMs,
        twentyHung: twentyHung.convergeHealthyMs,
      },
      convergeRecoveredMs,
      convergeRecoveredOneMs: recoveredOneMs,
    };
    console.log(`\npeers-sync: ${peerCount} fake peers, ${calls} admin registrations per phase`);
    printTable(
      ["peers hung", "admin p50 ms", "admin p99 ms", "p99 / healthy", "all healthy have it ms"],
      [
        ["0", fmt(healthy.p50Ms, 1), fmt(healthy.p99Ms, 1), "1.00", fmt(healthy.convergeHealthyMs)],
        [
          "1",
          fmt(oneHung.p50Ms, 1),
          fmt(oneHung.p99Ms, 1),
          fmt(result.p99Ratio.oneHung, 2),
          fmt(oneHung.convergeHealthyMs),
        ],
        [
          "20",
          fmt(twentyHung.p50Ms, 1),
          fmt(twentyHung.p99Ms, 1),
          fmt(result.p99Ratio.twentyHung, 2),
          fmt(twentyHung.convergeHealthyMs),
        ],
      ],
    );
    console.log(
      `peak requests in flight to peers: ${shards.sum} by the shards' count (each at most ` +
        `${shards.max}), ${peakAtPeers} held open at once by the peers (bound ${IN_FLIGHT_BOUND}; ` +
        `by phase ${JSON.stringify(peerPeaks)}); recovered peers converged within ` +
        `${fmt(convergeRecoveredMs)} ms`,
    );
    console.log(`wrote ${writeResult("peer-sync", result)}`);
    if (peakAtPeers > IN_FLIGHT_BOUND) {
      const over = Object.entries(peerPeaks).filter(([, peak]) => peak > IN_FLIGHT_BOUND);
      throw new Error(
        `peers-sync: the peers held more requests open at once than the bound of ` +
          `${IN_FLIGHT_BOUND}: ${over.map(([phase, peak]) => `${peak} in phase ${phase}`).join(", ")}`,
      );
    }
  } finally {
    await gateway.stop();
    await set.close();
  }
}
