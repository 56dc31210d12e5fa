import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { NodeStream } from "../../src/transport/node-stream.ts";
import { connectWebSocket } from "../../src/transport/web-socket.ts";
import { bytes, latch, text } from "./transport-harness.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const COMMANDS = {
  reference: "backend/conformance-node.ts",
  library: "nodes/typescript/examples/conformance-node.ts",
};
const DEADLINE = { deadlineMs: 5_000 };
const children: ChildProcess[] = [];
const streams: NodeStream[] = [];

afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

/** Starts a conformance node on a free port and resolves with it once it prints its address. */
async function start(script: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(ROOT, script)], {
    env: { ...process.env, PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    const port = /127\.0\.0\.1:(\d+)/.exec(line)?.[1];
    if (port) return { child, port: Number(port) };
  }
  throw new Error(`${script} exited before printing its address`);
}

/** Polls the health endpoint until it answers `status`, within a bound. */
async function healthBecomes(port: number, status: number): Promise<void> {
  const deadline = Date.now() + 3_000;
  while ((await fetch(`http://127.0.0.1:${port}/health`)).status !== status) {
    if (Date.now() > deadline) throw new Error(`health never answered ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(Object.entries(COMMANDS))("the %s conformance node", (_name, script) => {
  it("serves the documented functions, then drains on SIGTERM and exits 0", async () => {
    const { child, port } = await start(script);
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const stream = new NodeStream({
      connect: (signal) =>
        connectWebSocket(`ws://127.0.0.1:${port}/_roundhouse/stream`, { signal }),
    });
    streams.push(stream);
    const call = async (name: string | undefined, body: string) => {
      const result = await stream.invoke(
        { body: bytes(body), contentType: "text/plain", function: name },
        DEADLINE,
      );
      return `${result.status} ${text(result.body)}`;
    };
    await healthBecomes(port, 200);
    expect(await call(undefined, "hi")).toBe("200 hi");
    expect(await call("echo", "hey")).toBe("200 hey");
    expect(await call("idem", "again")).toBe("200 again");
    expect([await call("seq", ""), await call("seq", "")]).toEqual(["200 0", "200 1"]);
    expect(await call("small", "x".repeat(17))).toMatch(/^413 .*payload-too-large/);
    expect(await call("slow", "")).toMatch(/^504 .*function-timeout/);
    expect(await call("aborted", "")).toBe("200 1");
    await expect(call("fail", "out of widgets")).rejects.toThrow(/out of widgets/);
    const acked = latch();
    const sleeping = stream.invoke(
      { body: bytes("400"), function: "sleep" },
      { ...DEADLINE, onAck: acked.open },
    );
    await acked.opened;
    child.kill("SIGTERM");
    await healthBecomes(port, 503);
    expect(text((await sleeping).body)).toBe("slept");
    expect(await exited).toBe(0);
  });
});
