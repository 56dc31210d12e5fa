// The least a Worker can do as a balancer: round robin over the nodes of the bench's config with
// one fetch per request, no retries, no health, no Durable Object. Not part of the gateway; the
// versus bench runs it under wrangler dev beside Roundhouse, so the difference between the two is
// what Roundhouse itself adds on top of the runtime.

interface FloorEnv {
  /** The same config the gateway gets; only the first service's node URLs are read. */
  readonly ROUNDHOUSE_CONFIG: string;
}

let nodes: string[] | undefined;
let next = 0;

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const url = new URL(request.url);
    // Answers the bench's readiness probe the way the gateway does.
    if (url.pathname === "/_gw/health") return Response.json({ status: "ok" });
    nodes ??=
      (
        JSON.parse(env.ROUNDHOUSE_CONFIG) as { services: { nodes: { url: string }[] }[] }
      ).services[0]?.nodes.map((n) => n.url) ?? [];
    const node = nodes[next++ % nodes.length];
    if (node === undefined) return new Response("no nodes", { status: 503 });
    const path = url.pathname.replace(/^\/s\/[^/]+/, "");
    return fetch(node + path + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    });
  },
};
