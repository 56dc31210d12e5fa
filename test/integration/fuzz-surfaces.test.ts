import fc from "fast-check";
import { generateSignedCookie } from "hono/cookie";
import { describe, expect, inject, it } from "vitest";
import { encodeStamp } from "../../src/sync/hlc.ts";
import { ChangesBodySchema } from "../../src/sync/wire.ts";
import { fuzzRuns, fuzzTimeout, reportFuzz } from "../fuzz/runs.ts";
import { addNodes, gateway, serviceName } from "./helpers.ts";
import { AUTH, addPeers, gatewayId, signedInit, syncGateway } from "./peer-helpers.ts";

// The HTTP surfaces, driven with generated inputs inside workerd: never a 500, a problem+json
// for every error the gateway itself answers, and afterwards a valid request still works and
// the stored state still reads back.
const runs = (base: number) => fuzzRuns(base, inject("fuzzRuns"));

const token = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
const headerValue = fc.stringMatching(/^[\x21-\x7e]{0,40}$/);
const pathPart = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._~%-]{0,20}$/),
  fc.constantFrom("..", ".", "%2e%2e", "%2F", "%00", "%ff", "//", "s", "_gw"),
);

async function expectNoCrash(response: Response, gatewayAnswered: boolean): Promise<void> {
  expect(response.status).not.toBe(500);
  if (gatewayAnswered && response.status >= 400) {
    expect(response.headers.get("content-type")).toBe("application/problem+json");
  }
  await response.body?.cancel();
}

describe("fuzz: HTTP surfaces", { timeout: fuzzTimeout(inject("fuzzRuns")) }, () => {
  it("request paths, queries and headers through the proxy", async () => {
    const nodes = await addNodes(2);
    const name = serviceName("fz");
    const fetchVia = gateway({
      services: [
        {
          name,
          nodes: nodes.map(({ id, url }) => ({ id, url })),
          scope: { allowHeader: true },
          retry: { backoffBaseMs: 1, backoffMaxMs: 1 },
        },
      ],
    });
    const cases = runs(40);
    await fc.assert(
      fc.asyncProperty(
        fc.array(pathPart, { maxLength: 4 }),
        fc.dictionary(token, headerValue, { maxKeys: 3 }),
        fc.dictionary(
          fc.constantFrom("x-roundhouse-scope", "idempotency-key", "x-request-id", "connection"),
          headerValue,
        ),
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"),
        async (segments, query, headers, method) => {
          const search = new URLSearchParams(query).toString();
          const path = `/s/${name}/${segments.join("/")}${search ? `?${search}` : ""}`;
          const response = await fetchVia(path, { method, headers });
          // A node's own answer passes through as it is; only the gateway's errors are problems.
          await expectNoCrash(response, response.headers.get("x-roundhouse-node") === null);
        },
      ),
      { numRuns: cases },
    );
    const after = await fetchVia(`/s/${name}/still-works`);
    expect(after.status).toBe(200);
    reportFuzz("proxy requests", cases);
  });

  it("admin bodies and paths", async () => {
    const [node] = await addNodes(1);
    const name = serviceName("fza");
    const fetchVia = gateway({ services: [{ name }] });
    const json = { ...AUTH, "content-type": "application/json" };
    const created: string[] = [];
    const cases = runs(40);
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record({
        url: fc.oneof(fc.webUrl(), fc.constant(node?.url), fc.string()),
        id: fc.oneof(token, fc.string()),
        weight: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.string()),
        dc: fc.string({ maxLength: 70 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.array(pathPart, { maxLength: 3 }), async (value, segments) => {
        const response = await fetchVia(`/_gw/admin/services/${name}/nodes`, {
          method: "POST",
          headers: json,
          body: JSON.stringify(value),
        });
        expect(response.status).not.toBe(500);
        if (response.status === 201) created.push(((await response.json()) as { id: string }).id);
        else await expectNoCrash(response, true);
        const view = await fetchVia(`/_gw/services/${segments.join("/")}`, { headers: AUTH });
        await expectNoCrash(view, true);
      }),
      { numRuns: cases },
    );
    // Stored state reads back: exactly the registrations that answered 201.
    const detail = await fetchVia(`/_gw/services/${name}`, { headers: AUTH });
    expect(detail.status).toBe(200);
    const nodes = ((await detail.json()) as { nodes: { id: string }[] }).nodes.map((n) => n.id);
    expect(nodes.sort()).toEqual([...created].sort());
    reportFuzz("admin bodies and paths", cases);
  });

  it("peer bodies, signed and unsigned", async () => {
    const [peer] = await addPeers(1);
    const service = serviceName("fzp");
    const id = gatewayId();
    const gw = syncGateway({ gatewayId: id, peers: [peer!], service });
    const cases = runs(40);
    const change = fc.record({
      key: fc.oneof(fc.constant(`${service}/n`), fc.string()),
      kind: fc.constantFrom("upsert", "remove", "eject", "readmit", "nope"),
      stamp: fc.string(),
      until: fc.integer(),
      record: fc.jsonValue(),
    });
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .record({ origin: fc.string(), changes: fc.array(change, { maxLength: 3 }) })
        .map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (text, signed) => {
        const init = signed
          ? await signedInit(id, "POST", "/_gw/peer/changes", text)
          : { method: "POST", body: text };
        const response = await gw.fetch("/_gw/peer/changes", init);
        await expectNoCrash(response, response.status !== 200);
      }),
      { numRuns: cases },
    );
    expect(Array.isArray(await gw.table().entries())).toBe(true);
    expect((await gw.fetch("/_gw/health")).status).toBe(200);
    reportFuzz("peer bodies", cases);
  });
});

// The surfaces of the second trust-boundary round (#24): the dashboard's forms, an operator's
// drain and weight, affinity cookies, and a peer's drain and weight changes.
describe("fuzz: trust-boundary surfaces", { timeout: fuzzTimeout(inject("fuzzRuns")) }, () => {
  const TOKEN = AUTH.authorization.slice("Bearer ".length);
  // The AFFINITY_SECRET the test worker is given (vitest.config.ts).
  const AFFINITY_SECRET = "test-affinity-secret-0123456789abcdef";
  const OWN_ORIGIN = "http://gateway.test";

  it("dashboard sign-in and sign-out forms", async () => {
    const fetchVia = gateway({ services: [] });
    const signIn = await fetchVia("/_gw/dashboard/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: OWN_ORIGIN },
      body: new URLSearchParams({ token: TOKEN }).toString(),
      redirect: "manual",
    });
    const session = (signIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const cases = runs(40);
    const form = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc
        .dictionary(fc.oneof(fc.constant("token"), fc.string({ maxLength: 10 })), fc.string())
        .map((fields) => new URLSearchParams(fields).toString()),
      fc.constantFrom(`token=${TOKEN}`, `token=${TOKEN}&token=x`, "token=", "--x\r\n", "%zz=%"),
      fc.string({ minLength: 4_000, maxLength: 5_000 }),
    );
    // Multipart bodies have a property of their own (below).
    const contentType = fc.option(
      fc.oneof(
        fc.constantFrom("application/x-www-form-urlencoded", "application/json", "text/plain"),
        headerValue.filter((type) => !/multipart/i.test(type)),
      ),
    );
    const origin = fc.option(
      fc.oneof(
        fc.constantFrom(OWN_ORIGIN, "null", "https://gateway.test"),
        fc.webUrl(),
        headerValue,
      ),
    );
    const site = fc.option(fc.constantFrom("same-origin", "same-site", "cross-site", "none"));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("login", "logout"),
        form,
        contentType,
        origin,
        site,
        fc.boolean(),
        async (route, body, type, from, fetchSite, withSession) => {
          const headers: Record<string, string> = {};
          if (type !== null) headers["content-type"] = type;
          if (from !== null) headers.origin = from;
          if (fetchSite !== null) headers["sec-fetch-site"] = fetchSite;
          // A sign-out with the session would end it for the rest of the run: only a copy of
          // the cookie with its signature cut is sent then.
          if (withSession) headers.cookie = route === "login" ? session : session.slice(0, -4);
          const response = await fetchVia(`/_gw/dashboard/${route}`, {
            method: "POST",
            headers,
            body,
            redirect: "manual",
          });
          const kind = response.headers.get("content-type") ?? "";
          expect(response.status).not.toBe(500);
          if (response.status === 303) {
            expect(response.headers.get("location")).toBe("/_gw/dashboard");
          } else if (response.status === 401 && route === "login") {
            // The sign-in page again, saying the token was wrong.
            expect(kind).toContain("text/html");
          } else {
            expect(response.status).toBeGreaterThanOrEqual(400);
            expect(response.status).toBeLessThan(500);
            expect(kind).toBe("application/problem+json");
          }
          expect(response.headers.get("cache-control")).toBe("no-store");
          await response.body?.cancel();
        },
      ),
      { numRuns: cases },
    );
    // The session begun before the run is still good: no fuzzed sign-out ended it.
    const page = await fetchVia("/_gw/dashboard/fragment", {
      headers: { cookie: session, "x-roundhouse-dashboard": "1" },
    });
    expect(page.status).toBe(200);
    reportFuzz("dashboard forms", cases);
  });

  // Found by the forms property: a multipart sign-in form without its boundary was a 500 (the
  // parser threw); it is a 400 problem now.
  it("dashboard sign-in with malformed multipart bodies", async () => {
    const fetchVia = gateway({ services: [] });
    const cases = runs(20);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 200 }), fc.constant(""), fc.constant("--x\r\n")),
        fc.constantFrom("multipart/form-data", "multipart/form-data; boundary=x"),
        async (body, type) => {
          const response = await fetchVia("/_gw/dashboard/login", {
            method: "POST",
            headers: { "content-type": type, origin: OWN_ORIGIN },
            body,
            redirect: "manual",
          });
          expect(response.status).not.toBe(500);
          if (response.status === 400) {
            expect(response.headers.get("content-type")).toBe("application/problem+json");
          }
          await response.body?.cancel();
        },
      ),
      { numRuns: cases },
    );
    reportFuzz("dashboard multipart forms", cases);
  });

  it("drain and weight bodies leave the state alone when refused", async () => {
    const nodes = await addNodes(2);
    const name = serviceName("fzd");
    const fetchVia = gateway({
      services: [{ name, nodes: nodes.map(({ id, url }) => ({ id, url })), slowStartMs: 0 }],
    });
    const state = async () => {
      const response = await fetchVia(`/_gw/services/${name}`, { headers: AUTH });
      expect(response.status).toBe(200);
      const view = (await response.json()) as {
        nodes: { id: string; draining: boolean; weight: number }[];
      };
      return view.nodes.map(({ id, draining, weight }) => ({ id, draining, weight }));
    };
    const weight = fc.oneof(
      fc.integer({ min: -5, max: 200 }),
      fc.constant(null),
      fc.double(),
      fc.string({ maxLength: 5 }),
      fc.jsonValue(),
    );
    const body = fc.oneof(
      fc.record({ weight }).map((v) => ({ text: JSON.stringify(v), onlyWeight: true })),
      fc.jsonValue().map((v) => ({ text: JSON.stringify(v), onlyWeight: false })),
      fc.string({ maxLength: 50 }).map((text) => ({ text, onlyWeight: false })),
    );
    const contentType = fc.option(
      fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain"),
    );
    const nodeId = fc.oneof(fc.constantFrom(...nodes.map((n) => n.id)), pathPart);
    const cases = runs(40);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("PATCH", "POST", "DELETE"),
        nodeId,
        body,
        contentType,
        async (method, id, { text, onlyWeight }, type) => {
          const before = await state();
          const path = `/_gw/admin/services/${name}/nodes/${id}${method === "PATCH" ? "" : "/drain"}`;
          const headers: Record<string, string> = { ...AUTH };
          if (type !== null) headers["content-type"] = type;
          const response = await fetchVia(path, { method, headers, body: text });
          expect(response.status).not.toBe(500);
          if (response.status === 200) {
            const setting = (await response.json()) as {
              nodeId: string;
              draining: boolean;
              weight: number | null;
            };
            expect(setting.nodeId).toBe(id);
            const after = (await state()).find((n) => n.id === id);
            expect(after?.draining).toBe(setting.draining);
            // The weight in effect: the operator's, or the declared 1 when it was set to null.
            expect(after?.weight).toBe(setting.weight ?? 1);
            return;
          }
          expect(response.status).toBeGreaterThanOrEqual(400);
          expect(response.status).toBeLessThan(500);
          expect(response.headers.get("content-type")).toBe("application/problem+json");
          const problem = (await response.json()) as { issues?: { path: string }[] };
          const known = nodes.some((n) => n.id === id);
          if (method === "PATCH" && known && onlyWeight && type?.startsWith("application/json")) {
            expect(response.status).toBe(400);
            expect(problem.issues?.map((i) => i.path)).toContain("weight");
          }
          expect(await state()).toEqual(before);
        },
      ),
      { numRuns: cases },
    );
    reportFuzz("drain and weight bodies", cases);
  });

  it("affinity cookies: a forged, stale or foreign value pins nothing", async () => {
    const nodes = await addNodes(3);
    const name = serviceName("fzc");
    const other = serviceName("fzc");
    const fetchVia = gateway({
      services: [
        {
          name,
          nodes: nodes.map(({ id, url }) => ({ id, url })),
          slowStartMs: 0,
          affinity: { cookie: "rh", ttlSeconds: 600 },
        },
      ],
    });
    const now = () => Math.floor(Date.now() / 1000);
    const nodeId = fc.constantFrom(...nodes.map((n) => n.id));
    // Values the gateway never issued for this service now: signed with another secret, of the
    // earlier form without an issue time, of another service, expired, or issued in the future.
    const signedValue = fc.oneof(
      fc
        .tuple(nodeId, fc.string({ minLength: 1, maxLength: 40 }))
        .map(([id, secret]) => ({ value: `${name}/${id}/${now()}`, secret })),
      nodeId.map((id) => ({ value: `${name}/${id}`, secret: AFFINITY_SECRET })),
      nodeId.map((id) => ({ value: `${other}/${id}/${now()}`, secret: AFFINITY_SECRET })),
      fc
        .tuple(nodeId, fc.integer({ min: 600, max: 10 ** 9 }))
        .map(([id, age]) => ({ value: `${name}/${id}/${now() - age}`, secret: AFFINITY_SECRET })),
      fc.tuple(nodeId, fc.integer({ min: 61, max: 10 ** 6 })).map(([id, ahead]) => ({
        value: `${name}/${id}/${now() + ahead}`,
        secret: AFFINITY_SECRET,
      })),
    );
    const cookieText = fc.stringMatching(/^[\x20-\x7e]{0,80}$/);
    const affinityCookie = fc.oneof(
      signedValue,
      cookieText.map((text) => ({ value: text, secret: undefined })),
      fc
        .tuple(nodeId, cookieText)
        .map(([id, sig]) => ({ value: `${name}/${id}/${now()}.${sig}`, secret: undefined })),
      fc.string({ minLength: 4_000, maxLength: 8_000 }).map((text) => ({
        value: encodeURIComponent(text),
        secret: undefined,
      })),
    );
    const cases = runs(40);
    await fc.assert(
      fc.asyncProperty(
        fc.array(affinityCookie, { minLength: 1, maxLength: 3 }),
        fc.array(cookieText, { maxLength: 2 }),
        async (values, extra) => {
          const own = await Promise.all(
            values.map(async ({ value, secret }) =>
              secret === undefined
                ? `rh=${value}`
                : ((await generateSignedCookie("rh", value, secret)).split(";")[0] as string),
            ),
          );
          const cookie = [...own, ...extra].join("; ");
          const response = await fetchVia(`/s/${name}/`, { headers: { cookie } });
          // The reference node answers a header section over its 16 KiB bound with its own 431,
          // which passes through as any node's answer does.
          const fromNode = response.headers.get("x-roundhouse-node") !== null;
          if (fromNode) expect([200, 431]).toContain(response.status);
          else await expectNoCrash(response, true);
          // An answer that is not the pinned node's own sets a fresh cookie: a value that pinned
          // the request would have left it out.
          if (fromNode) expect(response.headers.get("set-cookie") ?? "").toMatch(/^rh=/);
          await response.body?.cancel();
        },
      ),
      { numRuns: cases },
    );
    reportFuzz("affinity cookies", cases);
  });

  it("peer drain and weight changes, and a service drained by a peer still answers", async () => {
    const [peer] = await addPeers(1);
    const nodes = await addNodes(2);
    const service = serviceName("fzq");
    const id = gatewayId();
    const gw = syncGateway({
      gatewayId: id,
      peers: [peer!],
      service,
      nodes: nodes.map(({ id, url }) => ({ id, url })),
      serviceOverrides: { slowStartMs: 0 },
    });
    let wall = Date.now();
    const stamp = fc.oneof(
      fc.constant(null).map(() => encodeStamp({ wallMs: ++wall, counter: 0, origin: "remote" })),
      fc.string({ maxLength: 30 }),
    );
    const key = fc.oneof(
      fc.constantFrom(...nodes.map((n) => `${service}/${n.id}`)),
      fc.constant(`${service}/no-such-node`),
      fc.string({ maxLength: 30 }),
    );
    const change = fc.oneof(
      fc.record({
        key,
        kind: fc.constant("drain"),
        draining: fc.oneof(fc.boolean(), fc.jsonValue()),
        stamp,
      }),
      fc.record({
        key,
        kind: fc.constant("weigh"),
        weight: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.constant(null), fc.jsonValue()),
        stamp,
      }),
      fc.record(
        { key, kind: fc.constantFrom("drain", "weigh"), stamp, extra: fc.jsonValue() },
        { requiredKeys: ["kind"] },
      ),
    );
    const send = async (body: string) =>
      gw.fetch("/_gw/peer/changes", await signedInit(id, "POST", "/_gw/peer/changes", body));
    const answers = async () => {
      const response = await gw.fetch(`/s/${service}/`);
      await response.body?.cancel();
      return response.status;
    };
    const cases = runs(40);
    await fc.assert(
      fc.asyncProperty(fc.array(change, { maxLength: 4 }), async (changes) => {
        const value = { origin: "remote", changes };
        const response = await send(JSON.stringify(value));
        expect(response.status).not.toBe(500);
        if (ChangesBodySchema.safeParse(value).success) {
          expect(response.status).toBe(200);
        } else {
          expect(response.status).toBe(400);
          expect(response.headers.get("content-type")).toBe("application/problem+json");
        }
        await response.body?.cancel();
        // Whatever a peer drained, the service answers: a peer's drain does not outrank panic.
        expect(await answers()).toBe(200);
      }),
      { numRuns: cases },
    );
    // Every node drained by one batch: still answered, by the nodes a peer drained.
    const all = nodes.map((n) => ({
      key: `${service}/${n.id}`,
      kind: "drain",
      draining: true,
      stamp: encodeStamp({ wallMs: ++wall, counter: 0, origin: "remote" }),
    }));
    expect((await send(JSON.stringify({ origin: "remote", changes: all }))).status).toBe(200);
    const detail = await gw.detail();
    expect(detail.nodes.map((n) => (n as { drainedBy?: string }).drainedBy)).toEqual([
      "peer",
      "peer",
    ]);
    for (let i = 0; i < 4; i++) expect(await answers()).toBe(200);
    reportFuzz("peer drain changes", cases);
  });
});
