// The conformance suite's own pieces (scripts/conformance/), so that a broken suite is caught
// before it passes a broken node.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { IMPLEMENTATIONS, parsePlan } from "../../scripts/conformance/args.ts";
import type { Check } from "../../scripts/conformance/check.ts";
import { allChecks } from "../../scripts/conformance/checks/index.ts";
import { concat, count, decodeMessage, invoke, ping } from "../../scripts/conformance/frames.ts";
import { handshakeViolations } from "../../scripts/conformance/ledger.ts";
import { formatOutcome, formatTotals, tally } from "../../scripts/conformance/report.ts";
import { runChecks } from "../../scripts/conformance/runner.ts";
import type { Frame } from "../../src/transport/frame.ts";

const ack = (id: number, retryable?: boolean): Frame => ({ kind: "ack", id, retryable });
const result = (id: number): Frame => ({
  kind: "result",
  id,
  status: 200,
  contentType: "",
  body: new Uint8Array(),
});
const failed = (id: number, code: 1 | 2): Frame => ({ kind: "error", id, code, message: "" });

describe("report", () => {
  it("prints one line per check, the reason of a failure flattened onto it", () => {
    expect(formatOutcome({ id: "C-X-1", description: "does x" })).toBe("PASS C-X-1 does x");
    expect(formatOutcome({ id: "C-X-1", description: "does x", failure: "no\n  x here" })).toBe(
      "FAIL C-X-1 does x: no | x here",
    );
    expect(formatOutcome({ id: "C-X-1", description: "does x", failure: "" })).toBe(
      "FAIL C-X-1 does x: failed",
    );
  });

  it("totals passed and failed", () => {
    const counts = tally([
      { id: "a", description: "" },
      { id: "b", description: "", failure: "x" },
    ]);
    expect(counts).toEqual({ passed: 1, failed: 1 });
    expect(formatTotals(counts.passed, counts.failed)).toBe("1 passed, 1 failed");
  });
});

describe("command line", () => {
  it("runs every implementation by default, with headers", () => {
    expect(parsePlan([])).toEqual({ targets: IMPLEMENTATIONS, headers: true });
  });

  it("selects implementations with --only, in the order given", () => {
    expect(parsePlan(["--only", "python,reference"]).targets.map((t) => t.name)).toEqual([
      "python",
      "reference",
    ]);
    expect(() => parsePlan(["--only", "rust"])).toThrow(/unknown implementation "rust"/);
  });

  it("runs one command with --node, without a header", () => {
    expect(parsePlan(["--node", "./my-node --fast"])).toEqual({
      targets: [{ name: "node", command: "./my-node --fast" }],
      headers: false,
    });
    expect(() => parsePlan(["--node", "x", "--only", "python"])).toThrow(/exclude/);
    expect(() => parsePlan(["--node", " "])).toThrow(/needs a command/);
    expect(() => parsePlan(["--nod", "x"])).toThrow();
  });

  it("narrows to some checks with --check", () => {
    expect(parsePlan(["--check", "C-ACK-1, C-DUP-1"]).checks).toEqual(["C-ACK-1", "C-DUP-1"]);
  });
});

describe("handshake judgement", () => {
  const sent = new Set([1, 2, 3]);

  it("accepts ack then one answer, a rejection alone, and answers in any order", () => {
    const frames = [ack(1), ack(2, true), failed(3, 2), result(2), failed(1, 1)];
    expect(handshakeViolations(frames, sent)).toEqual([]);
  });

  it("names every breach", () => {
    expect(handshakeViolations([result(1)], sent)).toEqual(["result for id 1 before its ack"]);
    expect(handshakeViolations([ack(1), ack(1)], sent)).toEqual(["ack for id 1 after its ack"]);
    expect(handshakeViolations([ack(1), failed(1, 2)], sent)).toEqual([
      "rejection (error code 2) for id 1 after its ack",
    ]);
    expect(handshakeViolations([ack(1), result(1), result(1)], sent)).toEqual([
      "second terminal frame (result) for id 1 after its answer",
    ]);
    expect(handshakeViolations([failed(2, 2), ack(2)], sent)).toEqual([
      "ack for id 2 after its answer",
    ]);
    expect(handshakeViolations([ack(9)], sent)).toEqual([
      "ack for id 9, which was never invoked on this stream",
    ]);
  });
});

describe("frames", () => {
  it("splits a message into its frames and says where decoding stopped", () => {
    const two = decodeMessage(concat(ping(1, 2), invoke(5, { fn: "echo", body: "hi" })));
    expect(two.error).toBeUndefined();
    expect(two.frames.map((f) => `${f.kind}#${f.id}`)).toEqual(["ping#1", "invoke#5"]);
    const cut = decodeMessage(concat(ping(1, 2), new Uint8Array([1, 2, 3])));
    expect(cut.frames).toHaveLength(1);
    expect(cut.error).toMatch(/^truncated/);
  });

  it("reads a decimal count strictly", () => {
    const utf8 = new TextEncoder();
    expect(count(utf8.encode("12"))).toBe(12);
    expect(count(utf8.encode(""))).toBeUndefined();
    expect(count(utf8.encode("1e3"))).toBeUndefined();
  });
});

describe("check registry", () => {
  const ids = allChecks.map((check) => check.id);
  const protocol = readFileSync("docs/protocol.md", "utf8");
  const conformance = readFileSync("docs/conformance.md", "utf8");

  it("has unique, well-formed ids", () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^C-[A-Z]+-\d+$/);
  });

  it("lists every check in docs/conformance.md and tags it in docs/protocol.md", () => {
    // C-DRAIN-6 verifies docs/conformance.md's own requirement (exit status 0).
    const fromConformance = new Set(["C-DRAIN-6"]);
    for (const check of allChecks) {
      expect(conformance).toContain(`| \`${check.id}\``);
      if (!fromConformance.has(check.id)) expect(protocol).toContain(`**[${check.id}]**`);
    }
    const tagged = [...protocol.matchAll(/\*\*\[(C-[A-Z]+-\d+)\]\*\*/g)].map((m) => m[1]);
    for (const tag of tagged) expect(ids).toContain(tag);
  });
});

describe("runner", () => {
  const pass: Check = { id: "C-T-1", description: "passes", run: async () => {} };
  const fail: Check = {
    id: "C-T-2",
    description: "fails",
    run: async () => {
      throw new Error("because");
    },
  };
  const hang: Check = {
    id: "C-T-3",
    description: "hangs",
    timeoutMs: 50,
    run: () => new Promise(() => {}),
  };

  it("runs checks against a node started with the command, bounding each in time", async () => {
    // A node that serves only /health: enough for the runner.
    const server = `require("http").createServer((q, s) => s.end("ok")).listen(process.env.PORT, "127.0.0.1")`;
    const outcomes = await runChecks(
      `"${process.execPath}" -e '${server}'`,
      [pass, fail, hang],
      () => {},
    );
    expect(outcomes.map((o) => o.failure)).toEqual([
      undefined,
      "because",
      "did not finish within 50 ms",
    ]);
  });

  it("starts a background check first and reports it in its place", async () => {
    const started: string[] = [];
    const quiet: Check = {
      id: "C-T-4",
      description: "waits",
      background: true,
      run: async () => {
        started.push("background");
      },
    };
    const first: Check = {
      id: "C-T-5",
      description: "first",
      run: async () => {
        started.push("first");
      },
    };
    const server = `require("http").createServer((q, s) => s.end("ok")).listen(process.env.PORT, "127.0.0.1")`;
    const reported: string[] = [];
    await runChecks(`"${process.execPath}" -e '${server}'`, [first, quiet], (o) =>
      reported.push(o.id),
    );
    expect(started).toEqual(["background", "first"]);
    expect(reported).toEqual(["C-T-5", "C-T-4"]);
  });

  it("fails every check when the node does not start, saying why", async () => {
    const outcomes = await runChecks("echo broken >&2; exit 3", [pass, fail], () => {});
    expect(outcomes[0]?.failure).toMatch(
      /^node did not start: node exited .*exit status 3[\s\S]*broken/,
    );
    expect(outcomes[1]?.failure).toBe("node did not start");
  });
});
