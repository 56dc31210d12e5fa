import { importSigningKey } from "../src/sync/signature.ts";
import { FakePeer, FakePeerError } from "./fake-peer.ts";
import type { FakePeerOptions } from "./fake-peer-types.ts";
import { isLoopbackIPv4 } from "./loopback.ts";

/** Requests being handled at once, and the most there were. */
export interface InFlightCount {
  inFlight: number;
  peakInFlight: number;
}

/**
 * A set of fake peers sharing one secret and in-flight counts: `peakInFlight` is the most
 * requests the set's peers were handling at once, which is what the gateway's bound on requests
 * in flight is measured by. Peers started with a group are also counted by group, so tests that
 * share the set measure only their own peers.
 */
export class FakePeerSet {
  readonly host: string;
  readonly peers = new Map<string, FakePeer>();
  readonly #total: InFlightCount = { inFlight: 0, peakInFlight: 0 };
  readonly #groups = new Map<string, InFlightCount>();
  readonly #secret: string | undefined;

  constructor(options: { host?: string; secret?: string } = {}) {
    this.host = options.host ?? "127.0.0.1";
    this.#secret = options.secret;
  }

  /** Starts a peer. */
  async add(options: FakePeerOptions = {}): Promise<FakePeer> {
    const host = options.host ?? this.host;
    if (!isLoopbackIPv4(host)) throw new FakePeerError(400, `host ${host} is not in 127.0.0.0/8`);
    let name = options.name;
    if (name === undefined) {
      let n = 1;
      while (this.peers.has(`peer-${n}`)) n++;
      name = `peer-${n}`;
    }
    if (!/^[A-Za-z0-9._:-]{1,64}$/.test(name))
      throw new FakePeerError(400, `bad peer name ${name}`);
    if (this.peers.has(name)) throw new FakePeerError(409, `peer "${name}" exists`);
    const secret = options.secret ?? this.#secret;
    const peer = new FakePeer(
      this,
      name,
      host,
      secret ? importSigningKey(secret) : undefined,
      {
        mode: options.mode ?? "ok",
        failStatus: options.failStatus ?? 503,
        delayMs: options.delayMs ?? 0,
      },
      options.group,
    );
    this.peers.set(name, peer);
    try {
      await peer.start();
    } catch (error) {
      this.peers.delete(name);
      throw error;
    }
    return peer;
  }

  get inFlight(): number {
    return this.#total.inFlight;
  }

  get peakInFlight(): number {
    return this.#total.peakInFlight;
  }

  /** The counts of one group's peers, or of the whole set. */
  countsOf(group?: string): InFlightCount {
    if (group === undefined) return { ...this.#total };
    return { ...(this.#groups.get(group) ?? { inFlight: 0, peakInFlight: 0 }) };
  }

  /** Counts a request a peer of `group` begins to handle; the function returned ends it. */
  enter(group: string | undefined): () => void {
    const counts = [this.#total];
    if (group !== undefined) {
      const count = this.#groups.get(group) ?? { inFlight: 0, peakInFlight: 0 };
      this.#groups.set(group, count);
      counts.push(count);
    }
    for (const count of counts) {
      count.inFlight++;
      count.peakInFlight = Math.max(count.peakInFlight, count.inFlight);
    }
    return () => {
      for (const count of counts) count.inFlight--;
    };
  }

  get(name: string): FakePeer {
    const peer = this.peers.get(name);
    if (!peer) throw new FakePeerError(404, `no peer "${name}"`);
    return peer;
  }

  async remove(name: string): Promise<void> {
    await this.get(name).close();
    this.peers.delete(name);
  }

  /** Forgets every peer's counters and the peaks. */
  resetStats(): void {
    for (const count of [this.#total, ...this.#groups.values()])
      count.peakInFlight = count.inFlight;
    for (const peer of this.peers.values()) peer.resetStats();
  }

  async close(): Promise<void> {
    const peers = [...this.peers.values()];
    this.peers.clear();
    await Promise.all(peers.map((p) => p.close()));
  }
}
