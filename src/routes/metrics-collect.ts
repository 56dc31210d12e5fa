import type { ResolvedService, SyncConfig } from "../config/load.ts";
import { runtimeFor } from "../dispatch/service-runtime.ts";
import { coordinatorOf, peerShardOf } from "../durable/stubs.ts";
import { METRICS, VERSION } from "../metrics/catalogue.ts";
import { HANDSHAKE_BUCKETS_S } from "../metrics/dispatch-metrics.ts";
import type { Family, Sample } from "../metrics/exposition.ts";
import { gather } from "./service-views.ts";
import { ensureSyncConfigured } from "./sync-runtime.ts";

type Key = keyof typeof METRICS;

/** Samples gathered per family, in the catalogue's order. */
class Families {
  readonly #samples = new Map<Key, Sample[]>();

  add(key: Key, labels: Record<string, string>, value: number, suffix?: Sample["suffix"]): void {
    const list = this.#samples.get(key) ?? [];
    list.push(suffix === undefined ? { labels, value } : { labels, value, suffix });
    this.#samples.set(key, list);
  }

  families(): Family[] {
    return (Object.keys(METRICS) as Key[]).map((key) => {
      const [name, type, help] = METRICS[key];
      return { name, type, help, samples: this.#samples.get(key) ?? [] };
    });
  }
}

/** Ships this isolate's own pending counts, so that they are in the totals it answers with. */
export async function shipOwnCounts(
  env: Env,
  services: readonly ResolvedService[],
  now: number,
): Promise<void> {
  await Promise.all(
    services.map((service) =>
      runtimeFor(service).metricsShipping.ship(now, (counts) =>
        coordinatorOf(env, service.name).reportMetrics(counts),
      ),
    ),
  );
}

/**
 * Every service's metrics, from where all isolates' traffic meets: the coordinator's totals of
 * what every isolate shipped and the ejections it granted, each node's gate, the live-node
 * object's membership, probes and discovery, and the peer shards. Whichever isolate answers the
 * scrape reads the same objects.
 */
export async function collect(
  env: Env,
  services: Iterable<ResolvedService>,
  sync: SyncConfig | undefined,
): Promise<Family[]> {
  const out = new Families();
  out.add("buildInfo", { version: VERSION }, 1);
  const now = Date.now();
  const list = [...services];
  await shipOwnCounts(env, list, now);
  for (const service of list) {
    const [state, totals] = await Promise.all([
      gather(env, service, sync),
      coordinatorOf(env, service.name).metrics(),
    ]);
    const svc = { service: service.name };
    const { dispatch } = totals;
    for (const [node, byClass] of Object.entries(dispatch.requests)) {
      for (const [cls, n] of Object.entries(byClass))
        out.add("requests", { ...svc, node, class: cls }, n);
    }
    for (const [node, byOutcome] of Object.entries(dispatch.attempts)) {
      for (const [outcome, n] of Object.entries(byOutcome)) {
        out.add("attempts", { ...svc, node, outcome }, n);
      }
    }
    for (const [node, n] of Object.entries(dispatch.retries))
      out.add("retries", { ...svc, node }, n);
    for (const [node, n] of Object.entries(dispatch.hedges)) out.add("hedges", { ...svc, node }, n);
    out.add("retriesRefused", svc, dispatch.retriesRefused);
    for (const [node, h] of Object.entries(dispatch.handshakes)) {
      let cumulative = 0;
      HANDSHAKE_BUCKETS_S.forEach((bound, i) => {
        cumulative += h.buckets[i] ?? 0;
        out.add("handshake", { ...svc, node, le: String(bound) }, cumulative, "_bucket");
      });
      out.add("handshake", { ...svc, node, le: "+Inf" }, h.count, "_bucket");
      out.add("handshake", { ...svc, node }, h.sum, "_sum");
      out.add("handshake", { ...svc, node }, h.count, "_count");
    }
    for (const [node, gate] of state.gates) {
      const labels = { ...svc, node };
      out.add("inFlight", labels, gate.inFlight);
      out.add("queued", labels, gate.queued);
      out.add("leasedSlots", labels, gate.leased);
      out.add("leaseGrants", labels, gate.leaseCalls);
      out.add("gateDispatches", labels, gate.forwarded);
    }
    out.add("ejectionsActive", svc, totals.ejected.length);
    const ejections = (reason: string, counts: Record<string, number>) => {
      for (const [node, n] of Object.entries(counts))
        out.add("ejections", { ...svc, node, reason }, n);
    };
    ejections("consecutive_failures", totals.ejectionsGranted);
    ejections("latency", dispatch.latencyEjections);
    const tally = state.report.healthTally;
    ejections(
      "health_check",
      Object.fromEntries(Object.entries(tally).map(([n, t]) => [n, t.downs])),
    );
    for (const [node, t] of Object.entries(tally)) {
      out.add("healthChecks", { ...svc, node, result: "pass" }, t.pass);
      out.add("healthChecks", { ...svc, node, result: "fail" }, t.fail);
    }
    out.add("membershipHealthy", svc, state.routable);
    out.add("membershipTotal", svc, state.byId.size);
    const draining = [...state.byId.values()].filter((e) => e.node.draining).length;
    out.add("draining", svc, draining);
    out.add("panic", svc, state.panic ? 1 : 0);
    if (service.discovery) {
      const d = state.report.discovery;
      out.add("discoveryRounds", svc, d.rounds);
      out.add("discoveryRequests", { ...svc, result: "ok" }, d.requests - d.failures);
      out.add("discoveryRequests", { ...svc, result: "failed" }, d.failures);
      if (d.lastGoodAt > 0) out.add("discoveryAge", svc, (now - d.lastGoodAt) / 1000);
    }
    for (const peer of state.peers) {
      const labels = { ...svc, peer: peer.peer };
      out.add("syncPending", labels, peer.pending);
      const since = peer.lastSyncedAt ?? 0;
      out.add("syncLag", labels, peer.pending > 0 ? (now - since) / 1000 : 0);
    }
  }
  if (sync) {
    await ensureSyncConfigured(env, sync);
    const shards = await Promise.all(
      Array.from({ length: sync.settings.shards }, (_, i) =>
        peerShardOf(env, sync.gatewayId, i).stats(),
      ),
    );
    for (const [shard, stats] of shards.entries()) {
      out.add("syncFailedRounds", { shard: String(shard) }, stats.failedRounds);
    }
  }
  return out.families();
}
