import { app } from "./app.ts";

export { StreamBench } from "./durable/bench/stream-bench.ts";
export { RotationCoordinator } from "./durable/coordinator/rotation-coordinator.ts";
export { NodeGate } from "./durable/gate/node-gate.ts";
export { LiveNodes } from "./durable/live-nodes/live-nodes.ts";
export { PeerShard } from "./durable/sync/peer-shard.ts";
export { RouteSync } from "./durable/sync/route-sync.ts";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
