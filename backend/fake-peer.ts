// Fake peer gateways for peer route sync tests and the peer-sync benchmark: loopback HTTP servers
// that speak the three /_gw/peer endpoints well enough to be pushed to and reconciled with, and
// that can be told to hang, fail, refuse, or relay their requests to a test.
import http from "node:http";
import type { Socket } from "node:net";
import { bucketChanges, computeDigest, DEFAULT_BUCKET_COUNT } from "../src/sync/digest.ts";
import { pageAfter, parseBuckets } from "../src/sync/fanout.ts";
import { encodeStamp } from "../src/sync/hlc.ts";
import { RouteTable } from "../src/sync/route-table.ts";
import {
  ANSWER_SIGNATURE_HEADER,
  NONCE_HEADER,
  signAnswer,
  verify,
} from "../src/sync/signature.ts";
import { parseChanges, parseSince, routesSinceBody } from "../src/sync/wire.ts";
import type { FakePeerSet } from "./fake-peer-set.ts";
import type {
  FakePeerBehaviour,
  FakePeerStats,
  ReceivedChange,
  RelayAnswer,
  RelayedRequest,
} from "./fake-peer-types.ts";
import { HttpError } from "./http-json.ts";
import { httpUrl, listen, shutdown, trackSockets } from "./server-lifecycle.ts";

const SIGNED_HEADERS = ["x-roundhouse-timestamp", "x-roundhouse-signature", "x-roundhouse-nonce"];
const RELAY_HOLD_MS = 10_000;
const MAX_BODY = 2 * 1024 * 1024;

/** Raised for an unknown peer or a bad option; the control server answers it with its status. */
export class FakePeerError extends HttpError {
  override name = "FakePeerError";
}

/** One fake peer gateway. */
export class FakePeer {
  readonly name: string;
  readonly host: string;
  port = 0;
  #set: FakePeerSet;
  #key: Promise<CryptoKey> | undefined;
  #behaviour: FakePeerBehaviour;
  #server: http.Server | null = null;
  #sockets = new Set<Socket>();
  readonly table = new RouteTable();
  #received: ReceivedChange[] = [];
  #requests = 0;
  #byPath: Record<string, number> = {};
  #byStatus: Record<string, number> = {};
  #badSignatures = 0;
  #relayQueue: RelayedRequest[] = [];
  #relayWaiters: Array<(request: RelayedRequest | undefined) => void> = [];
  #relayPending = new Map<number, (answer: RelayAnswer) => void>();
  #relayId = 0;
  /** Requests held open in mode hang. */
  #hung = new Set<http.ServerResponse>();
  /** The table's digest, until the table changes. */
  #digest: ReturnType<typeof computeDigest> | undefined;

  /** The in-flight group of the set this peer's requests count toward. */
  readonly #group: string | undefined;

  constructor(
    set: FakePeerSet,
    name: string,
    host: string,
    key: Promise<CryptoKey> | undefined,
    behaviour: FakePeerBehaviour,
    group?: string,
  ) {
    this.#set = set;
    this.#group = group;
    this.#key = key;
    this.name = name;
    this.host = host;
    this.#behaviour = behaviour;
  }

  get url(): string {
    return httpUrl(this.host, this.port);
  }

  get behaviour(): FakePeerBehaviour {
    return { ...this.#behaviour };
  }

  /** Listens (again, on the same port once it has one), unless the mode is refuse. */
  async start(): Promise<void> {
    if (this.#server || this.#behaviour.mode === "refuse") return;
    const server = http.createServer((req, res) => void this.#handle(req, res));
    server.keepAliveTimeout = 5_000;
    this.#sockets = trackSockets(server);
    this.port = await listen(server, this.host, this.port);
    this.#server = server;
  }

  /** Changes the behaviour; refuse closes the port, leaving refuse opens it again. */
  async setBehaviour(patch: Partial<FakePeerBehaviour>): Promise<FakePeerBehaviour> {
    if (
      patch.mode !== undefined &&
      !["ok", "hang", "fail", "refuse", "relay"].includes(patch.mode)
    ) {
      throw new FakePeerError(400, `unknown mode ${patch.mode}`);
    }
    if (
      patch.failStatus !== undefined &&
      !(Number.isInteger(patch.failStatus) && patch.failStatus >= 200 && patch.failStatus <= 599)
    ) {
      throw new FakePeerError(400, "failStatus must be an HTTP status");
    }
    if (
      patch.delayMs !== undefined &&
      !(Number.isInteger(patch.delayMs) && patch.delayMs >= 0 && patch.delayMs <= 60_000)
    ) {
      throw new FakePeerError(400, "delayMs must be 0..60000");
    }
    const wasHung = this.#behaviour.mode === "hang";
    this.#behaviour = { ...this.#behaviour, ...patch };
    if (wasHung && this.#behaviour.mode !== "hang") {
      // Coming back from a hang is a restart: the connections it held are closed, as a restarted
      // process would close them (a client may keep a connection it gave up on open until then).
      for (const res of this.#hung) res.destroy();
      this.#hung.clear();
    }
    if (this.#behaviour.mode === "refuse") await this.#stop();
    else await this.start();
    return this.behaviour;
  }

  stats(): FakePeerStats {
    return {
      name: this.name,
      url: this.url,
      mode: this.#behaviour.mode,
      requests: this.#requests,
      byPath: { ...this.#byPath },
      byStatus: { ...this.#byStatus },
      badSignatures: this.#badSignatures,
      received: [...this.#received],
      keys: [...this.table.keys()].sort(),
    };
  }

  #apply(changes: Parameters<RouteTable["applyAll"]>[0]): number {
    const applied = this.table.applyAll(changes).length;
    if (applied > 0) this.#digest = undefined;
    return applied;
  }

  /** Puts changes into the peer's table, as if made there, for reconcile to find. */
  seed(changes: Parameters<RouteTable["applyAll"]>[0]): number {
    return this.#apply(changes);
  }

  resetStats(): void {
    this.#requests = 0;
    this.#byPath = {};
    this.#byStatus = {};
    this.#badSignatures = 0;
    this.#received = [];
  }

  /** The next request held for the relay, waiting up to `waitMs` for one. */
  nextRelayed(waitMs: number): Promise<RelayedRequest | undefined> {
    const queued = this.#relayQueue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#relayWaiters = this.#relayWaiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, waitMs);
      const waiter = (request: RelayedRequest | undefined) => {
        clearTimeout(timer);
        resolve(request);
      };
      this.#relayWaiters.push(waiter);
    });
  }

  /** Answers a relayed request; false when it is no longer waiting. */
  answerRelayed(id: number, answer: RelayAnswer): boolean {
    const pending = this.#relayPending.get(id);
    if (!pending) return false;
    this.#relayPending.delete(id);
    pending(answer);
    return true;
  }

  async close(): Promise<void> {
    await this.#stop();
    for (const waiter of this.#relayWaiters) waiter(undefined);
    this.#relayWaiters = [];
  }

  async #stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server) await shutdown(server, this.#sockets);
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const leave = this.#set.enter(this.#group);
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      leave();
    };
    res.once("close", done);
    const path = req.url ?? "/";
    const route = path.split("?")[0] ?? "/";
    this.#requests++;
    this.#byPath[route] = (this.#byPath[route] ?? 0) + 1;
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      res.destroy();
      return;
    }
    const reply = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      this.#byStatus[status] = (this.#byStatus[status] ?? 0) + 1;
      const text =
        payload === undefined
          ? ""
          : typeof payload === "string"
            ? payload
            : JSON.stringify(payload);
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(text);
      done();
    };
    const { mode, failStatus, delayMs } = this.#behaviour;
    if (delayMs > 0 && (mode === "ok" || mode === "fail")) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    if (mode === "hang") {
      this.#byStatus.hung = (this.#byStatus.hung ?? 0) + 1;
      this.#hung.add(res);
      res.once("close", () => this.#hung.delete(res));
      return; // Never answered; the socket closes when the client closes it or the peer recovers.
    }
    if (mode === "fail") {
      reply(failStatus, { type: "urn:fake-peer:fail", status: failStatus });
      return;
    }
    if (mode === "relay") {
      const id = ++this.#relayId;
      const headers: Record<string, string> = {};
      for (const name of [...SIGNED_HEADERS, "content-type"]) {
        const value = req.headers[name];
        if (typeof value === "string") headers[name] = value;
      }
      const request: RelayedRequest = { id, method: req.method ?? "GET", path, headers, body };
      const answered = new Promise<RelayAnswer>((resolve) => {
        this.#relayPending.set(id, resolve);
        setTimeout(() => {
          if (this.#relayPending.delete(id)) resolve({ status: 504, body: "relay timed out" });
        }, RELAY_HOLD_MS);
      });
      const waiter = this.#relayWaiters.shift();
      if (waiter) waiter(request);
      else this.#relayQueue.push(request);
      const answer = await answered;
      if (!res.writableEnded && !res.destroyed)
        reply(answer.status, answer.body ?? "", answer.headers);
      return;
    }
    const key = this.#key;
    if (key) {
      const result = await verify(
        await key,
        { method: req.method ?? "GET", path, body, target: this.name },
        req.headers as Record<string, string>,
        Date.now(),
      );
      if (!result.ok) {
        this.#badSignatures++;
        reply(401, { type: "urn:roundhouse:problem:unauthorized", detail: result.reason });
        return;
      }
    }
    // A peer signs its 2xx answers, bound to the request's nonce, as a gateway does.
    const answer = async (payload: unknown) => {
      const text = JSON.stringify(payload);
      const nonce = req.headers[NONCE_HEADER];
      const headers: Record<string, string> = {};
      if (key && typeof nonce === "string") {
        const parts = { requestNonce: nonce, status: 200, responder: this.name, body: text };
        headers[ANSWER_SIGNATURE_HEADER] = await signAnswer(await key, parts);
      }
      reply(200, text, headers);
    };
    const url = new URL(path, "http://peer.invalid");
    if (req.method === "POST" && url.pathname === "/_gw/peer/changes") {
      const parsed = parseChanges(body);
      if (!parsed.ok) {
        reply(400, { type: "urn:roundhouse:problem:bad-request", issues: parsed.issues });
        return;
      }
      for (const change of parsed.value.changes) {
        this.#received.push({
          key: change.key,
          kind: change.kind,
          stamp: encodeStamp(change.stamp),
        });
      }
      const applied = this.#apply(parsed.value.changes);
      await answer({ origin: this.name, applied });
      return;
    }
    if (req.method === "GET" && url.pathname === "/_gw/peer/digest") {
      this.#digest ??= computeDigest(this.table, DEFAULT_BUCKET_COUNT);
      const digest = await this.#digest;
      await answer({ origin: this.name, buckets: digest.buckets, top: digest.top });
      return;
    }
    if (req.method === "GET" && url.pathname === "/_gw/peer/routes") {
      const since = parseSince(url.searchParams.get("since") ?? undefined);
      const buckets = parseBuckets(
        url.searchParams.get("buckets") ?? undefined,
        DEFAULT_BUCKET_COUNT,
      );
      if (!since.ok || buckets === null) {
        reply(400, { type: "urn:roundhouse:problem:bad-request" });
        return;
      }
      const all = buckets ? bucketChanges(this.table, buckets) : this.table.since(since.value);
      const page = pageAfter(all, since.value, 256);
      await answer(routesSinceBody(this.name, page.changes, page.more));
      return;
    }
    reply(404, { type: "urn:roundhouse:problem:not-found" });
  }
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
