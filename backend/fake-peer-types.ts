/** How a fake peer answers: normally, never, with an error status, not at all, or via a relay. */
export type FakePeerMode = "ok" | "hang" | "fail" | "refuse" | "relay";

/** Settings a test can change at run time. */
export interface FakePeerBehaviour {
  mode: FakePeerMode;
  /** Status answered in mode "fail". */
  failStatus: number;
  /** Delay before answering in modes ok and fail. */
  delayMs: number;
}

/** One change a peer accepted. */
export interface ReceivedChange {
  readonly key: string;
  readonly kind: string;
  /** Encoded stamp. */
  readonly stamp: string;
}

/** What a fake peer counted. */
export interface FakePeerStats {
  readonly name: string;
  readonly url: string;
  readonly mode: FakePeerMode;
  /** Requests received, by path (`/_gw/peer/changes`, …). */
  readonly requests: number;
  readonly byPath: Record<string, number>;
  /** Responses sent, by status ("hung" for none). */
  readonly byStatus: Record<string, number>;
  /** Requests refused for a bad signature. */
  readonly badSignatures: number;
  /** Changes accepted (POST bodies), in arrival order, duplicates included. */
  readonly received: readonly ReceivedChange[];
  /** Distinct keys in its table. */
  readonly keys: readonly string[];
}

/** A request held for a relay. */
export interface RelayedRequest {
  readonly id: number;
  readonly method: string;
  /** Path and query below the peer's base URL. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A relay's answer. */
export interface RelayAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** Options for FakePeerSet.add. */
export interface FakePeerOptions {
  /** Peer name (its gatewayId); default peer-<n>. */
  name?: string;
  /** Loopback address; default the set's host. */
  host?: string;
  /** Initial behaviour. */
  mode?: FakePeerMode;
  failStatus?: number;
  delayMs?: number;
  /** PEER_SECRET to check signatures with (401 on a bad one); none checks nothing. */
  secret?: string;
  /** Name of the group whose in-flight count the peer's requests also go to. */
  group?: string;
}
