// @roundhouse/node: serve functions to a Roundhouse gateway over its node stream
// (docs/protocol.md). The codec is the gateway's own, from src/transport, bundled at build time.

export type { FaultAction, NodeHooks, StreamFaults } from "./hooks.ts";
export type { AttachedNodeHandle, AttachOptions } from "./node.ts";
export { attachNode, HEALTH_PATH, serve } from "./node.ts";
export type { NormalisedResult } from "./result.ts";
export { InvocationError, normaliseResult } from "./result.ts";
export type {
  AttachedNode,
  FunctionRequest,
  FunctionResponse,
  FunctionSpec,
  Handler,
  NodeOptions,
  NodeStats,
  ServedNode,
  ServeOptions,
} from "./types.ts";
