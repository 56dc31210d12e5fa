import { compareStamps, type Stamp } from "./hlc.ts";

/** Where a node is reached and how much traffic it takes. */
export interface RouteRecord {
  /** Absolute http(s) URL of the node. */
  readonly url: string;
  /** Datacenter the node runs in. */
  readonly dc?: string;
  /** Rack (or zone) within the datacenter. */
  readonly rack?: string;
  /** Relative share of traffic. */
  readonly weight: number;
}

/** Whether a node takes traffic. */
export type NodeState =
  /** Takes traffic. */
  | { readonly kind: "active" }
  /** Out of rotation until `until` (ms since epoch), then active again. */
  | { readonly kind: "ejected"; readonly until: number }
  /** Deregistered. */
  | { readonly kind: "removed" };

interface ChangeBase {
  /** `service/nodeId`, see routeKey. */
  readonly key: string;
  /** When and where the change was made; the later stamp wins. */
  readonly stamp: Stamp;
}

/** One write to the replicated table. */
export type Change =
  /** Registers a node or replaces its record; makes it active. */
  | (ChangeBase & { readonly kind: "upsert"; readonly record: RouteRecord })
  /** Deregisters a node, leaving a tombstone. */
  | (ChangeBase & { readonly kind: "remove" })
  /** Takes a node out of rotation until a time. */
  | (ChangeBase & { readonly kind: "eject"; readonly until: number })
  /** Puts an ejected node back into rotation. */
  | (ChangeBase & { readonly kind: "readmit" });

/** A change kind. */
export type ChangeKind = Change["kind"];

/** What the table knows about one node. */
export interface RouteEntry {
  /** `service/nodeId`. */
  readonly key: string;
  /** The route; null once removed (a tombstone); undefined while only state changes have arrived. */
  readonly record: RouteRecord | null | undefined;
  /** Effective state; always `removed` for a tombstone. */
  readonly state: NodeState;
  /** Stamp of the last write of any kind. */
  readonly stamp: Stamp;
  /** Stamp of the last upsert or remove, if any arrived. */
  readonly recordStamp: Stamp | undefined;
}

/** Service names as the configuration allows them, then node ids as the configuration allows them. */
export const ROUTE_KEY_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}\/[A-Za-z0-9._:-]{1,128}$/;

/** The table key of a service's node. */
export function routeKey(service: string, nodeId: string): string {
  const key = `${service}/${nodeId}`;
  if (!ROUTE_KEY_PATTERN.test(key)) throw new RangeError(`bad route key: ${key}`);
  return key;
}

/** Splits a route key into service and node id; undefined when it is not one. */
export function parseRouteKey(key: string): { service: string; nodeId: string } | undefined {
  if (!ROUTE_KEY_PATTERN.test(key)) return undefined;
  const slash = key.indexOf("/");
  return { service: key.slice(0, slash), nodeId: key.slice(slash + 1) };
}

/**
 * Total order on changes to one key: by stamp, then by content. Stamps are unique per event, so
 * the content tie-break only makes a misbehaving peer's duplicate stamps converge deterministically.
 */
export function compareChanges(a: Change, b: Change): number {
  const byStamp = compareStamps(a.stamp, b.stamp);
  if (byStamp !== 0) return byStamp;
  const ca = canonical(a);
  const cb = canonical(b);
  return ca === cb ? 0 : ca < cb ? -1 : 1;
}

function canonical(change: Change): string {
  switch (change.kind) {
    case "upsert": {
      const { url, dc, rack, weight } = change.record;
      return JSON.stringify([change.key, "upsert", url, dc ?? null, rack ?? null, weight]);
    }
    case "eject":
      return JSON.stringify([change.key, "eject", change.until]);
    default:
      return JSON.stringify([change.key, change.kind]);
  }
}

/** Copies only the fields a change of its kind carries, so stray wire fields are never stored. */
function normalize(change: Change): Change {
  const { key, stamp } = change;
  const base = {
    key,
    stamp: { wallMs: stamp.wallMs, counter: stamp.counter, origin: stamp.origin },
  };
  switch (change.kind) {
    case "upsert": {
      const { url, dc, rack, weight } = change.record;
      const record: RouteRecord = {
        url,
        weight,
        ...(dc === undefined ? {} : { dc }),
        ...(rack === undefined ? {} : { rack }),
      };
      return { ...base, kind: "upsert", record };
    }
    case "eject":
      return { ...base, kind: "eject", until: change.until };
    default:
      return { ...base, kind: change.kind };
  }
}

type RecordChange = Extract<Change, { kind: "upsert" | "remove" }>;

/**
 * Two last-writer-wins registers per key: the record (written by upsert and remove) and the state
 * (written by every kind). Eject and readmit carry no record, so one whole-entry register would
 * lose the route when a node is ejected; with two registers each is a max over a total order,
 * which makes apply commutative, associative and idempotent.
 */
interface Registers {
  record: RecordChange | undefined;
  state: Change;
}

/** Options of RouteTable.since. */
export interface SinceOptions {
  /** Only changes stamped by this origin. */
  readonly origin?: string;
  /**
   * Most changes to return. Changes sharing the last returned stamp are all included even past
   * the limit, so that a cursor at that stamp cannot skip any of them.
   */
  readonly limit?: number;
}

/**
 * The replicated route table. Convergent: any set of changes applied in any order, with any
 * duplicates, yields the same table. Tombstones are kept: dropping one is safe only once every
 * peer has it, which the table alone cannot know, and a removed node costs one small entry.
 */
export class RouteTable {
  readonly #entries = new Map<string, Registers>();

  /** Number of keys, tombstones included. */
  get size(): number {
    return this.#entries.size;
  }

  /** Applies one change; true when it altered the table (false for stale or repeated changes). */
  apply(change: Change): boolean {
    const current = this.#entries.get(change.key);
    const isRecordChange = change.kind === "upsert" || change.kind === "remove";
    const winsState = current === undefined || compareChanges(change, current.state) > 0;
    const winsRecord =
      isRecordChange &&
      (current?.record === undefined || compareChanges(change, current.record) > 0);
    if (!winsState && !winsRecord) return false;
    const stored = normalize(change);
    this.#entries.set(change.key, {
      record: winsRecord ? (stored as RecordChange) : current?.record,
      state: winsState || current === undefined ? stored : current.state,
    });
    return true;
  }

  /** Applies changes in order; returns those that altered the table (to forward or persist). */
  applyAll(changes: Iterable<Change>): Change[] {
    const applied: Change[] = [];
    for (const change of changes) if (this.apply(change)) applied.push(change);
    return applied;
  }

  /** The entry for a key. */
  get(key: string): RouteEntry | undefined {
    const registers = this.#entries.get(key);
    return registers && toEntry(key, registers);
  }

  /** Every entry, tombstones included, sorted by key. */
  entries(): RouteEntry[] {
    return [...this.#entries.keys()].sort().map((key) => this.get(key) as RouteEntry);
  }

  /** Keys, unsorted. */
  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /**
   * The fewest changes that rebuild a key's entry from nothing: its last upsert or remove, and
   * its last eject or readmit when that came later.
   */
  changesFor(key: string): Change[] {
    const registers = this.#entries.get(key);
    if (!registers) return [];
    const { record, state } = registers;
    if (record === undefined) return [state];
    return compareChanges(record, state) === 0 ? [record] : [record, state];
  }

  /**
   * Changes stamped strictly after `after` (all when undefined), sorted by stamp. The table
   * keeps current state, not a log: a change overwritten since is not listed, its successor is.
   * Cost is a scan of the whole table.
   */
  since(after?: Stamp, options: SinceOptions = {}): Change[] {
    const found: Change[] = [];
    for (const key of this.#entries.keys()) {
      for (const change of this.changesFor(key)) {
        if (options.origin !== undefined && change.stamp.origin !== options.origin) continue;
        if (after !== undefined && compareStamps(change.stamp, after) <= 0) continue;
        found.push(change);
      }
    }
    found.sort(compareChanges);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (found.length <= limit) return found;
    let end = Math.max(0, Math.floor(limit));
    if (end === 0) return [];
    const last = (found[end - 1] as Change).stamp;
    while (end < found.length && compareStamps((found[end] as Change).stamp, last) === 0) end++;
    return found.slice(0, end);
  }
}

function toEntry(key: string, { record, state }: Registers): RouteEntry {
  const tombstone = record?.kind === "remove";
  return {
    key,
    record: record === undefined ? undefined : tombstone ? null : record.record,
    state: tombstone ? { kind: "removed" } : stateOf(state),
    stamp: state.stamp,
    recordStamp: record?.stamp,
  };
}

function stateOf(change: Change): NodeState {
  switch (change.kind) {
    case "eject":
      return { kind: "ejected", until: change.until };
    case "remove":
      return { kind: "removed" };
    default:
      return { kind: "active" };
  }
}

/** Whether a node with this entry takes traffic at `now`: known, not removed, not ejected then. */
export function isRoutable(entry: RouteEntry, now: number): boolean {
  if (!entry.record) return false;
  return (
    entry.state.kind === "active" || (entry.state.kind === "ejected" && entry.state.until <= now)
  );
}
