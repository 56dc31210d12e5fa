import { parseBehaviourPatch } from "./behaviour.ts";
import {
  ADDRESS_FORMATS,
  type AddressFormat,
  type ClusterOptions,
  type FleetCluster,
  MAX_CLUSTER_NODES,
  type RackLayout,
} from "./cluster.ts";
import { HttpError } from "./http-json.ts";
import { describeNode } from "./node-request.ts";

/** Cluster, dc and rack names go into node ids, paths and query strings: nothing to escape. */
const LABEL = /^[A-Za-z0-9._-]{1,32}$/;
const CLUSTER_FIELDS = new Set(["name", "addressFormat", "port", "layout"]);
const RACK_FIELDS = new Set(["dc", "rack", "count", "behaviour"]);

/** Checks a POST /clusters body and returns it as cluster options, or throws HttpError 400. */
export function parseClusterRequest(input: unknown): ClusterOptions {
  const body = record(input, "body");
  onlyFields(body, CLUSTER_FIELDS, "");
  if (!Array.isArray(body.layout) || body.layout.length === 0) {
    throw new HttpError(400, "layout must be a non-empty array of { dc, rack, count }");
  }
  const options: ClusterOptions = { layout: body.layout.map(parseRack) };
  const total = options.layout.reduce((sum, rack) => sum + rack.count, 0);
  if (total > MAX_CLUSTER_NODES) {
    throw new HttpError(400, `a cluster has at most ${MAX_CLUSTER_NODES} nodes, not ${total}`);
  }
  if (body.name !== undefined) options.name = label(body.name, "name");
  if (body.addressFormat !== undefined) {
    if (!ADDRESS_FORMATS.includes(body.addressFormat as AddressFormat)) {
      throw new HttpError(400, `addressFormat must be one of ${ADDRESS_FORMATS.join(", ")}`);
    }
    options.addressFormat = body.addressFormat as AddressFormat;
  }
  if (body.port !== undefined) {
    // Port 0 would give every node its own port; absent means "pick one for all".
    options.port = integerIn(body.port, "port", 1, 65535);
  }
  return options;
}

/** The JSON a cluster is described with, on creation and on GET /clusters/:name. */
export function describeCluster(cluster: FleetCluster) {
  return {
    name: cluster.name,
    port: cluster.port,
    addressFormat: cluster.addressFormat,
    nodes: [...cluster.members.values()].map(describeNode),
  };
}

function parseRack(input: unknown, index: number): RackLayout {
  const where = `layout[${index}]`;
  const body = record(input, where);
  onlyFields(body, RACK_FIELDS, `${where}.`);
  const rack: RackLayout = {
    dc: label(body.dc, `${where}.dc`),
    rack: label(body.rack, `${where}.rack`),
    count: integerIn(body.count, `${where}.count`, 1, MAX_CLUSTER_NODES),
  };
  if (body.behaviour !== undefined) rack.behaviour = parseBehaviourPatch(body.behaviour);
  return rack;
}

function record(input: unknown, name: string): Record<string, unknown> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new HttpError(400, `${name} must be a JSON object`);
  }
  return input as Record<string, unknown>;
}

function onlyFields(body: Record<string, unknown>, allowed: Set<string>, prefix: string): void {
  for (const key of Object.keys(body)) {
    if (!allowed.has(key)) throw new HttpError(400, `unknown field "${prefix}${key}"`);
  }
}

function label(value: unknown, name: string): string {
  if (typeof value !== "string" || !LABEL.test(value)) {
    throw new HttpError(400, `${name} must be 1-32 characters of A-Z a-z 0-9 . _ -`);
  }
  return value;
}

function integerIn(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, `${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}
