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
  | (ChangeBase & { readonly kind: "readmit" })
  /** An operator's drain: out of rotation for new dispatches while true. */
  | (ChangeBase & { readonly kind: "drain"; readonly draining: boolean })
  /** An operator's weight for the node; null returns it to the configured weight. */
  | (ChangeBase & { readonly kind: "weigh"; readonly weight: number | null });

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
  /** An operator drained the node (the last drain write); false when none arrived. */
  readonly draining: boolean;
  /** The operator's weight for the node; null when none is set. */
  readonly weight: number | null;
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
    case "drain":
      return JSON.stringify([change.key, "drain", change.draining]);
    case "weigh":
      return JSON.stringify([change.key, "weigh", change.weight]);
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
    case "drain":
      return { ...base, kind: "drain", draining: change.draining };
    case "weigh":
      return { ...base, kind: "weigh", weight: change.weight };
    default:
      return { ...base, kind: change.kind };
  }
}

type RecordChange = Extract<Change, { kind: "upsert" | "remove" }>;
type StateChange = Extract<Change, { kind: "upsert" | "remove" | "eject" | "readmit" }>;
type DrainChange = Extract<Change, { kind: "drain" }>;
type WeighChange = Extract<Change, { kind: "weigh" }>;

/**
 * Last-writer-wins registers per key: the record (written by upsert and remove), the state
 * (written by upsert, remove, eject and readmit), and an operator's drain and weight, each its
 * own. Eject and readmit carry no record, so one whole-entry register would lose the route when a
 * node is ejected, and a drain on one peer would undo a weight set on another at the same time;
 * with a register per concern each is a max over a total order, which makes apply commutative,
 * associative and idempotent.
 */
interface Registers {
  record: RecordChange | undefined;
  state: StateChange | undefined;
  drain: DrainChange | undefined;
  weight: WeighChange | undefined;
}

/** The register a change writes besides the state's (record), or instead of it (operator). */
function registerOf(change: Change): "record" | "state" | "drain" | "weight" {
  switch (change.kind) {
    case "upsert":
    case "remove":
      return "record";
    case "drain":
      return "drain";
    case "weigh":
      return "weight";
    default:
      return "state";
  }
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
    const current = this.#entries.get(change.key) ?? {
      record: undefined,
      state: undefined,
      drain: undefined,
      weight: undefined,
    };
    const wins = (held: Change | undefined) =>
      held === undefined || compareChanges(change, held) > 0;
    const register = registerOf(change);
    const next: Registers = { ...current };
    const stored = normalize(change);
    let altered = false;
    if (register === "record" || register === "state") {
      if (register === "record" && wins(current.record)) {
        next.record = stored as RecordChange;
        altered = true;
      }
      if (wins(current.state)) {
        next.state = stored as StateChange;
        altered = true;
      }
    } else if (wins(current[register])) {
      (next as unknown as Record<string, Change>)[register] = stored;
      altered = true;
    }
    if (altered) this.#entries.set(change.key, next);
    return altered;
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
   * The fewest changes that rebuild a key's entry from nothing: its last upsert or remove, its
   * last eject or readmit when that came later, and its operator's last drain and weight, in
   * stamp order.
   */
  changesFor(key: string): Change[] {
    const registers = this.#entries.get(key);
    if (!registers) return [];
    const { record, state, drain, weight } = registers;
    const held = [record, state, drain, weight].filter((c): c is Change => c !== undefined);
    const unique = held.filter((c, i) => held.findIndex((o) => compareChanges(o, c) === 0) === i);
    return unique.sort(compareChanges);
  }

  /** The last write of a key's state (upsert, remove, eject or readmit), if any. */
  stateChange(key: string): Change | undefined {
    return this.#entries.get(key)?.state;
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

function toEntry(key: string, registers: Registers): RouteEntry {
  const { record, state, drain, weight } = registers;
  const tombstone = record?.kind === "remove";
  const stamps = [record, state, drain, weight].filter((c): c is Change => c !== undefined);
  const latest = stamps.sort(compareChanges).at(-1) as Change;
  return {
    key,
    record: record === undefined ? undefined : tombstone ? null : record.record,
    state: tombstone ? { kind: "removed" } : state ? stateOf(state) : { kind: "active" },
    stamp: latest.stamp,
    recordStamp: record?.stamp,
    draining: drain?.draining ?? false,
    weight: weight?.weight ?? null,
  };
}

function stateOf(change: StateChange): NodeState {
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
