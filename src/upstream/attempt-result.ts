/** A whole small response, sent back from the gate as plain data. */
export interface BufferedResponse {
  readonly status: number;
  readonly statusText: string;
  /** Header lines in order as [name, value], repeats kept (Set-Cookie); RPC carries them as arrays. */
  readonly headers: ReadonlyArray<ReadonlyArray<string>>;
  readonly body: ArrayBuffer;
}

/** Set when the attempt's failure got the node ejected (or found it ejected), until then. */
interface Ejection {
  readonly ejectedUntil?: number | undefined;
}

/**
 * How one proxied attempt ended. A response comes either streamed (a Response whose body is
 * still to be read) or buffered (a small body the gate read whole, since piping a stream across
 * the RPC boundary costs more than the copy).
 */
export type ForwardResult =
  | ({
      readonly kind: "response";
      readonly delivery: "streamed";
      readonly response: Response;
    } & Ejection)
  | ({
      readonly kind: "response";
      readonly delivery: "buffered";
      readonly buffered: BufferedResponse;
    } & Ejection)
  | ({ readonly kind: "network-error" | "timeout"; readonly detail: string } & Ejection)
  | ({
      readonly kind: "not-sent";
      /** cancelled: a hedge's loser, cut short in this isolate once another attempt had won. */
      readonly reason: "ejected" | "queue-timeout" | "cancelled";
    } & Ejection);

/** The status a response result carries. */
export function statusOf(result: ForwardResult & { kind: "response" }): number {
  return result.delivery === "buffered" ? result.buffered.status : result.response.status;
}
