import { importSigningKey } from "../src/sync/signature.ts";
import { FakePeer, FakePeerError } from "./fake-peer.ts";
import type { FakePeerOptions } from "./fake-peer-types.ts";
import { isLoopbackIPv4 } from "./loopback.ts";

/**
 * A set of fake peers sharing one secret and one in-flight count: `peakInFlight` is the most
 * requests any peers of the set were handling at once, which is what the gateway's bound on
 * requests in flight is measured by.
 */
export class FakePeerSet {
  readonly host: string;
  readonly peers = new Map<string, FakePeer>();
  inFlight = 0;
  peakInFlight = 0;
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
    const peer = new FakePeer(this, name, host, secret ? importSigningKey(secret) : undefined, {
      mode: options.mode ?? "ok",
      failStatus: options.failStatus ?? 503,
      delayMs: options.delayMs ?? 0,
    });
    this.peers.set(name, peer);
    try {
      await peer.start();
    } catch (error) {
      this.peers.delete(name);
      throw error;
    }
    return peer;
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

  /** Forgets every peer's counters and the set's peak. */
  resetStats(): void {
    this.peakInFlight = this.inFlight;
    for (const peer of this.peers.values()) peer.resetStats();
  }

  async close(): Promise<void> {
    const peers = [...this.peers.values()];
    this.peers.clear();
    await Promise.all(peers.map((p) => p.close()));
  }
}
