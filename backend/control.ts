import type { IncomingMessage, ServerResponse } from "node:http";
import { BehaviourError, parseBehaviourPatch } from "./behaviour.ts";
import { DuplicateClusterError, InvalidOptionError, UnknownClusterError } from "./cluster.ts";
import { describeCluster, parseClusterRequest } from "./cluster-request.ts";
import { peerControl } from "./fake-peer-control.ts";
import { DuplicateNodeError, type Fleet, type FleetNodeOptions, NODE_ID } from "./fleet.ts";
import { HttpError, readJson, sendJson } from "./http-json.ts";
import { describeNode } from "./node-request.ts";
import type { BackendNode } from "./node-types.ts";
import { ListenError } from "./server-lifecycle.ts";
import type { StreamFaults } from "./stream-server.ts";

/** An answer: status plus JSON body (none for 204). */
interface Reply {
  status: number;
  body?: unknown;
}

/** What a route handler gets: the fleet, the request, and the decoded :id or :name if any. */
interface Context {
  fleet: Fleet;
  req: IncomingMessage;
  id: string;
}

interface Route {
  method: string;
  /** Path pattern; its one capture group, if any, is the node id or cluster name. */
  path: RegExp;
  handle: (ctx: Context) => Promise<Reply> | Reply;
}

const NODE_FIELDS = new Set(["id", "host", "port", "dc", "rack", "cluster", "behaviour"]);

const ROUTES: Route[] = [
  { method: "POST", path: /^\/nodes$/, handle: createNode },
  { method: "GET", path: /^\/nodes$/, handle: listNodes },
  { method: "GET", path: /^\/nodes\/([^/]+)\/stats$/, handle: getStats },
  { method: "POST", path: /^\/nodes\/([^/]+)\/reset-stats$/, handle: resetStats },
  { method: "POST", path: /^\/nodes\/([^/]+)\/behaviour$/, handle: setBehaviour },
  { method: "POST", path: /^\/nodes\/([^/]+)\/stream-faults$/, handle: setStreamFaults },
  { method: "POST", path: /^\/nodes\/([^/]+)\/stop$/, handle: stopNode },
  { method: "POST", path: /^\/nodes\/([^/]+)\/start$/, handle: restartNode },
  { method: "DELETE", path: /^\/nodes\/([^/]+)$/, handle: deleteNode },
  { method: "POST", path: /^\/clusters$/, handle: createCluster },
  { method: "GET", path: /^\/clusters$/, handle: listClusters },
  { method: "GET", path: /^\/clusters\/([^/]+)$/, handle: getCluster },
  { method: "DELETE", path: /^\/clusters\/([^/]+)$/, handle: deleteCluster },
];

/** The control server's request listener; answers every request with JSON and never throws. */
export function createControlHandler(
  fleet: Fleet,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    dispatch(fleet, req)
      .catch(toReply)
      .then((reply) => {
        if (!res.headersSent) sendJson(res, reply.status, reply.body);
      })
      .catch(() => res.destroy());
  };
}

async function dispatch(fleet: Fleet, req: IncomingMessage): Promise<Reply> {
  const peerReply = await peerControl(fleet.peers, req);
  if (peerReply) return peerReply;
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  let pathMatched = false;
  for (const route of ROUTES) {
    const match = route.path.exec(path);
    if (!match) continue;
    pathMatched = true;
    if (route.method !== req.method) continue;
    return route.handle({ fleet, req, id: decodeId(match[1]) });
  }
  if (pathMatched) throw new HttpError(405, `${req.method} not allowed on ${path}`);
  throw new HttpError(404, `no route for ${req.method} ${path}`);
}

async function createNode({ fleet, req }: Context): Promise<Reply> {
  const node = await fleet.addNode(parseNodeRequest((await readJson(req)) ?? {}));
  return { status: 201, body: describe(node) };
}

function listNodes({ fleet }: Context): Reply {
  const body = [...fleet.nodes.values()].map((node) => ({
    ...describe(node),
    behaviour: node.behaviour(),
  }));
  return { status: 200, body };
}

function getStats({ fleet, id }: Context): Reply {
  return { status: 200, body: nodeById(fleet, id).stats() };
}

function resetStats({ fleet, id }: Context): Reply {
  nodeById(fleet, id).resetStats();
  return { status: 204 };
}

async function setBehaviour({ fleet, req, id }: Context): Promise<Reply> {
  const node = nodeById(fleet, id);
  const patch = parseBehaviourPatch((await readJson(req)) ?? {});
  return { status: 200, body: await node.setBehaviour(patch) };
}

async function setStreamFaults({ fleet, req, id }: Context): Promise<Reply> {
  const node = nodeById(fleet, id);
  const faults = (await readJson(req)) ?? {};
  if (typeof faults !== "object" || Array.isArray(faults))
    throw new HttpError(400, "faults must be a JSON object");
  node.setStreamFaults(faults as StreamFaults);
  return { status: 204 };
}

async function stopNode({ fleet, id }: Context): Promise<Reply> {
  await nodeById(fleet, id).stop();
  return { status: 204 };
}

async function restartNode({ fleet, id }: Context): Promise<Reply> {
  await nodeById(fleet, id).start();
  return { status: 204 };
}

async function deleteNode({ fleet, id }: Context): Promise<Reply> {
  if (!(await fleet.removeNode(id))) throw notFound(id);
  return { status: 204 };
}

async function createCluster({ fleet, req }: Context): Promise<Reply> {
  const cluster = await fleet.addCluster(parseClusterRequest(await readJson(req)));
  return { status: 201, body: describeCluster(cluster) };
}

function listClusters({ fleet }: Context): Reply {
  return { status: 200, body: [...fleet.clusters.values()].map(describeCluster) };
}

function getCluster({ fleet, id }: Context): Reply {
  const cluster = fleet.clusters.get(id);
  if (!cluster) throw new HttpError(404, `no cluster "${id}"`);
  return { status: 200, body: describeCluster(cluster) };
}

async function deleteCluster({ fleet, id }: Context): Promise<Reply> {
  if (!(await fleet.removeCluster(id))) throw new HttpError(404, `no cluster "${id}"`);
  return { status: 204 };
}

function describe(node: BackendNode) {
  return { ...describeNode(node), cluster: node.cluster ?? null };
}

function nodeById(fleet: Fleet, id: string): BackendNode {
  const node = fleet.nodes.get(id);
  if (!node) throw notFound(id);
  return node;
}

function notFound(id: string): HttpError {
  return new HttpError(404, `no node "${id}"`);
}

function decodeId(raw: string | undefined): string {
  if (raw === undefined) return "";
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, "path is not valid URL encoding");
  }
}

function parseNodeRequest(input: unknown): FleetNodeOptions {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new HttpError(400, "body must be a JSON object");
  }
  const body = input as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (!NODE_FIELDS.has(key)) throw new HttpError(400, `unknown field "${key}"`);
  }
  const options: FleetNodeOptions = {};
  if (body.id !== undefined) {
    if (typeof body.id !== "string" || !NODE_ID.test(body.id)) {
      throw new HttpError(400, "id must be 1-64 characters of A-Z a-z 0-9 . _ -");
    }
    options.id = body.id;
  }
  if (body.port !== undefined) {
    const port = body.port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new HttpError(400, "port must be an integer between 0 and 65535");
    }
    options.port = port;
  }
  for (const key of ["host", "dc", "rack", "cluster"] as const) {
    const value = body[key];
    if (value === undefined) continue;
    if (typeof value !== "string") throw new HttpError(400, `${key} must be a string`);
    options[key] = value;
  }
  if (body.behaviour !== undefined) options.behaviour = parseBehaviourPatch(body.behaviour);
  return options;
}

function toReply(error: unknown): Reply {
  if (error instanceof HttpError) return { status: error.status, body: { error: error.message } };
  if (error instanceof BehaviourError) return { status: 400, body: { error: error.message } };
  if (error instanceof InvalidOptionError) return { status: 400, body: { error: error.message } };
  if (error instanceof UnknownClusterError) return { status: 404, body: { error: error.message } };
  if (error instanceof DuplicateNodeError || error instanceof DuplicateClusterError) {
    return { status: 409, body: { error: error.message } };
  }
  if (error instanceof ListenError && error.code === "EADDRINUSE") {
    return { status: 409, body: { error: error.message } };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: { error: message } };
}
