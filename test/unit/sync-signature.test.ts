import { describe, expect, it } from "vitest";
import {
  type AnswerParts,
  importSigningKey,
  NONCE_HEADER,
  newNonce,
  ReplayGuard,
  SIGNATURE_HEADER,
  type SignedParts,
  sign,
  signAnswer,
  TIMESTAMP_HEADER,
  verify,
  verifyAnswer,
} from "../../src/sync/signature.ts";

const SECRET = "correct horse battery staple";
const NOW = 1_700_000_000_000;
const parts: SignedParts = {
  method: "POST",
  path: "/_gw/peer/changes?dry=1",
  body: JSON.stringify({ origin: "a", changes: [] }),
  target: "gw-b",
};

describe("sign / verify", () => {
  it("round-trips with the three headers", async () => {
    const headers = await sign(SECRET, parts, NOW);
    expect(headers[TIMESTAMP_HEADER]).toBe(String(NOW));
    expect(headers[SIGNATURE_HEADER]).toMatch(/^v2=[0-9a-f]{64}$/);
    expect(headers[NONCE_HEADER]).toMatch(/^[0-9a-f]{32}$/);
    expect(await verify(SECRET, parts, headers, NOW + 1_000)).toEqual({
      ok: true,
      timestamp: NOW,
      nonce: headers[NONCE_HEADER],
    });
  });

  it("accepts a Headers object, an imported key and a byte body", async () => {
    const key = await importSigningKey(SECRET);
    const bytes = { ...parts, body: new TextEncoder().encode(parts.body as string) };
    const signed = await sign(key, bytes, NOW);
    expect(await verify(SECRET, parts, new Headers({ ...signed }), NOW)).toMatchObject({
      ok: true,
    });
  });

  it("signs the method case-insensitively", async () => {
    const headers = await sign(SECRET, { ...parts, method: "post" }, NOW);
    expect((await verify(SECRET, parts, headers, NOW)).ok).toBe(true);
  });

  it.each<[string, Partial<SignedParts>]>([
    ["method", { method: "PUT" }],
    ["path", { path: "/_gw/peer/changes" }],
    ["query", { path: "/_gw/peer/changes?dry=0" }],
    ["body", { body: JSON.stringify({ origin: "b", changes: [] }) }],
    ["empty body", { body: "" }],
    ["target gateway (a replay to another peer)", { target: "gw-c" }],
  ])("rejects a tampered %s as a bad signature", async (_, tamper) => {
    const headers = await sign(SECRET, parts, NOW);
    expect(await verify(SECRET, { ...parts, ...tamper }, headers, NOW)).toEqual({
      ok: false,
      reason: "bad-signature",
    });
  });

  it("rejects a tampered timestamp or nonce, a wrong secret and a malformed MAC", async () => {
    const headers = await sign(SECRET, parts, NOW);
    const bad = { ok: false, reason: "bad-signature" };
    const timestamp = { ...headers, [TIMESTAMP_HEADER]: String(NOW + 1) };
    expect(await verify(SECRET, parts, timestamp, NOW)).toEqual(bad);
    const nonce = { ...headers, [NONCE_HEADER]: newNonce() };
    expect(await verify(SECRET, parts, nonce, NOW)).toEqual(bad);
    expect(await verify(`${SECRET}!`, parts, headers, NOW)).toEqual(bad);
    const flipped = headers[SIGNATURE_HEADER].replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    expect(await verify(SECRET, parts, { ...headers, [SIGNATURE_HEADER]: flipped }, NOW)).toEqual(
      bad,
    );
    for (const signature of ["v2=00", "v1=xyz", headers[SIGNATURE_HEADER].slice(3)]) {
      expect(
        await verify(SECRET, parts, { ...headers, [SIGNATURE_HEADER]: signature }, NOW),
      ).toEqual(bad);
    }
    const junkTime = { ...headers, [TIMESTAMP_HEADER]: "soon" };
    expect(await verify(SECRET, parts, junkTime, NOW)).toEqual(bad);
  });

  it("rejects timestamps outside the skew window, at its edges and with a custom window", async () => {
    const headers = await sign(SECRET, parts, NOW);
    const skewed = { ok: false, reason: "skewed" };
    expect((await verify(SECRET, parts, headers, NOW + 300_000)).ok).toBe(true);
    expect((await verify(SECRET, parts, headers, NOW - 300_000)).ok).toBe(true);
    expect(await verify(SECRET, parts, headers, NOW + 300_001)).toEqual(skewed);
    expect(await verify(SECRET, parts, headers, NOW - 300_001)).toEqual(skewed);
    expect(await verify(SECRET, parts, headers, NOW + 1_001, { maxSkewMs: 1_000 })).toEqual(skewed);
  });

  it.each([TIMESTAMP_HEADER, SIGNATURE_HEADER, NONCE_HEADER])(
    "reports a missing or empty %s as missing",
    async (name) => {
      const headers: Record<string, string | undefined> = { ...(await sign(SECRET, parts, NOW)) };
      const missing = { ok: false, reason: "missing" };
      expect(await verify(SECRET, parts, { ...headers, [name]: "" }, NOW)).toEqual(missing);
      delete headers[name];
      expect(await verify(SECRET, parts, headers, NOW)).toEqual(missing);
      expect(
        await verify(SECRET, parts, new Headers(headers as Record<string, string>), NOW),
      ).toEqual(missing);
    },
  );

  it("rejects a replay when given a guard, but only after the MAC checks out", async () => {
    const guard = new ReplayGuard();
    const headers = await sign(SECRET, parts, NOW);
    expect((await verify(SECRET, parts, headers, NOW, { guard })).ok).toBe(true);
    expect(await verify(SECRET, parts, headers, NOW + 5, { guard })).toEqual({
      ok: false,
      reason: "replayed",
    });
    const forged = await sign("other secret", parts, NOW);
    expect((await verify(SECRET, parts, forged, NOW, { guard })).ok).toBe(false);
    expect(guard.size).toBe(1);
  });

  it("refuses nonces it could not carry", async () => {
    await expect(sign(SECRET, parts, NOW, "short")).rejects.toThrow(RangeError);
    await expect(sign(SECRET, parts, NOW, "has space in it, too long")).rejects.toThrow(RangeError);
  });
});

describe("ReplayGuard", () => {
  it("accepts a nonce once while it is inside the skew window, then forgets it", () => {
    const guard = new ReplayGuard({ maxSkewMs: 1_000 });
    expect(guard.check("n1", NOW, NOW)).toBe("fresh");
    expect(guard.check("n1", NOW, NOW + 1_000)).toBe("replayed");
    expect(guard.check("n2", NOW + 500, NOW + 1_001)).toBe("fresh");
    expect(guard.size).toBe(1);
  });

  it("stays within its capacity and refuses rather than forgets a live nonce", () => {
    const guard = new ReplayGuard({ maxSkewMs: 1_000, capacity: 100 });
    for (let i = 0; i < 100; i++) expect(guard.check(`n${i}`, NOW, NOW)).toBe("fresh");
    expect(guard.check("extra", NOW, NOW)).toBe("full");
    expect(guard.check("n0", NOW, NOW)).toBe("replayed");
    expect(guard.size).toBe(100);
  });

  it("keeps memory bounded under a long stream of requests", () => {
    const guard = new ReplayGuard({ maxSkewMs: 1_000, capacity: 500 });
    let maxSize = 0;
    for (let i = 0; i < 20_000; i++) {
      const now = NOW + i * 10;
      // Timestamps jitter within the window, so expiry is not in insertion order.
      const signedAt = now - ((i * 7919) % 900);
      expect(guard.check(`n${i}`, signedAt, now)).toBe("fresh");
      maxSize = Math.max(maxSize, guard.size);
    }
    expect(maxSize).toBeLessThanOrEqual(500);
  });

  it("frees room by sweeping out-of-order expiries when full", () => {
    const guard = new ReplayGuard({ maxSkewMs: 1_000, capacity: 3 });
    guard.check("late", NOW + 900, NOW);
    guard.check("early-1", NOW - 900, NOW);
    guard.check("early-2", NOW - 900, NOW);
    expect(guard.check("next", NOW + 200, NOW + 200)).toBe("fresh");
    expect(guard.size).toBe(2);
    expect(guard.check("late", NOW + 900, NOW + 200)).toBe("replayed");
  });
});

describe("signAnswer / verifyAnswer", () => {
  const answer: AnswerParts = {
    requestNonce: "a".repeat(32),
    status: 200,
    responder: "gw-b",
    body: JSON.stringify({ origin: "gw-b", buckets: [], top: "0" }),
  };

  it("round-trips", async () => {
    const signature = await signAnswer(SECRET, answer);
    expect(signature).toMatch(/^v2=[0-9a-f]{64}$/);
    expect(await verifyAnswer(SECRET, answer, signature)).toBe(true);
  });

  it.each<[string, Partial<AnswerParts>]>([
    ["request nonce (an answer to another request)", { requestNonce: "b".repeat(32) }],
    ["status", { status: 201 }],
    ["responder (another peer's answer)", { responder: "gw-c" }],
    ["body", { body: "{}" }],
  ])("refuses a tampered %s", async (_, tamper) => {
    const signature = await signAnswer(SECRET, answer);
    expect(await verifyAnswer(SECRET, { ...answer, ...tamper }, signature)).toBe(false);
  });

  it("refuses a missing, malformed or foreign-keyed signature", async () => {
    expect(await verifyAnswer(SECRET, answer, null)).toBe(false);
    expect(await verifyAnswer(SECRET, answer, "v2=zz")).toBe(false);
    const foreign = await signAnswer(`${SECRET}!`, answer);
    expect(await verifyAnswer(SECRET, answer, foreign)).toBe(false);
  });
});
