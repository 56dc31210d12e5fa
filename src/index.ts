import { app } from "./app.ts";

export { StreamBench } from "./durable/bench/stream-bench.ts";
export { LiveNodes } from "./durable/live-nodes.ts";
export { NodeGate } from "./durable/node-gate.ts";
export { PeerShard } from "./durable/peer-shard.ts";
export { RotationCoordinator } from "./durable/rotation-coordinator.ts";
export { RouteSync } from "./durable/route-sync.ts";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
