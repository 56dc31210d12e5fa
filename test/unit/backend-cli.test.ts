import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { isLoopback, parseCli, UsageError } from "../../backend/cli.ts";

const CLI = path.resolve(import.meta.dirname, "../../backend/cli.ts");
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

function run(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return child;
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/** Collects stdout lines up to and including the control line, which the CLI prints last. */
async function listing(child: ChildProcess): Promise<Map<string, string>> {
  const lines = new Map<string, string>();
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    const [name, url] = line.trim().split(/\s+/);
    if (name && url) lines.set(name, url);
    if (name === "control") break;
  }
  return lines;
}

describe("parseCli", () => {
  it("has the documented defaults", () => {
    expect(parseCli([])).toEqual({
      host: "127.0.0.1",
      nodes: 3,
      basePort: 9101,
      controlPort: 9100,
      delayMs: 0,
    });
  });

  it("rejects bad input", () => {
    expect(() => parseCli(["--host", "0.0.0.0"])).toThrow(/loopback/);
    expect(() => parseCli(["--nodes", "x"])).toThrow(UsageError);
    expect(() => parseCli(["--nodes", "0"])).toThrow(UsageError);
    expect(() => parseCli(["--base-port", "65535", "--nodes", "2"])).toThrow(/room/);
    expect(() => parseCli(["--frobnicate"])).toThrow(UsageError);
  });

  it("knows loopback addresses", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1", "localhost"].every(isLoopback)).toBe(true);
    expect(["0.0.0.0", "10.0.0.1", "::", "example.com", "127.example"].some(isLoopback)).toBe(
      false,
    );
  });
});

describe("backend cli", () => {
  it("runs numbered nodes and shuts down on SIGTERM", async () => {
    const child = run([
      "--nodes",
      "2",
      "--base-port",
      "0",
      "--control-port",
      "0",
      "--delay-ms",
      "1",
    ]);
    const exited = exitCode(child);
    const lines = await listing(child);
    expect([...lines.keys()]).toEqual(["node-1", "node-2", "control"]);
    const res = await fetch(lines.get("node-2") ?? "");
    expect(res.headers.get("x-node-id")).toBe("node-2");
    const nodes = await (await fetch(`${lines.get("control")}/nodes`)).json();
    expect(nodes).toMatchObject([{ behaviour: { delayMs: 1 } }, { behaviour: { delayMs: 1 } }]);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("refuses a non-loopback host", async () => {
    const child = run(["--host", "0.0.0.0"]);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    expect(await exitCode(child)).toBe(2);
    expect(stderr).toMatch(/not a loopback address/);
  });
});
