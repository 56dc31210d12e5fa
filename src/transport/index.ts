/** Public surface of the gateway-to-node stream transport. */
export { type BackoffOptions, reconnectDelay } from "./backoff.ts";
export {
  AbortedError,
  BusyError,
  type CallPhase,
  DeadlineError,
  FunctionError,
  InvokeError,
  LostAfterAckError,
  NotAckedError,
} from "./errors.ts";
export { decodeFrame, encodeFrame, type Frame, FrameError, type FrameErrorCode } from "./frame.ts";
export {
  type InvokeResult,
  NodeStream,
} from "./node-stream.ts";
export type {
  InvokeOptions,
  InvokePayload,
  NodeStreamOptions,
  StreamLogEntry,
  StreamStats,
} from "./node-stream-types.ts";
export * from "./protocol.ts";
export type { Connect, SocketListener, StreamSocket } from "./socket.ts";
export type { LinkState } from "./stream-state.ts";
export { adaptWebSocket, connectWebSocket } from "./web-socket.ts";
export { connectWorkersSocket, type UpgradeFetch } from "./workers-socket.ts";
