import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, startFleet } from "../../backend/fleet.ts";
import { freePort } from "../../scripts/conformance/node-process.ts";
import { type GatewayIsolates, startGatewayIsolates } from "../../scripts/gateway-isolates.ts";
import { PYTHON, pythonAvailable } from "../python.ts";

// Replays the README's invoke session: the `npm start` configuration from wrangler.toml, its
// Python demo node, and each `curl` of the console block with the answer the README prints.
// Only the ports differ, so that the test runs beside a developer's own `npm start`.

const MARKER = "<!-- replayed by test/isolates/readme-invoke.test.ts -->";

interface Step {
  readonly command: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  readonly url: URL;
  readonly expected: string;
}

/** Splits a shell command line, honouring single quotes (all the README uses). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? (m[2] as string));
}

function readmeSession(): Step[] {
  const readme = readFileSync("README.md", "utf8");
  const at = readme.indexOf(MARKER);
  const block = /```console\n([\s\S]*?)```/.exec(readme.slice(at));
  if (at < 0 || !block) throw new Error("README lost its replayed invoke session");
  const lines = (block[1] as string).trimEnd().split("\n");
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith("$ curl ")) continue;
    const args = words(line.slice(2)).slice(1);
    const headers: Record<string, string> = {};
    let method = "GET";
    let body: string | undefined;
    let url: URL | undefined;
    for (let a = 0; a < args.length; a++) {
      const arg = args[a] as string;
      if (arg === "-s") continue;
      if (arg === "-X") method = args[++a] as string;
      else if (arg === "-H") {
        const [name, ...value] = (args[++a] as string).split(":");
        headers[(name as string).trim()] = value.join(":").trim();
      } else if (arg === "--data") body = args[++a] as string;
      else url = new URL(arg);
    }
    if (!url) throw new Error(`no URL in README command: ${line}`);
    // curl's --data sends a form content type unless told otherwise.
    if (body !== undefined && !headers["content-type"]) {
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    steps.push({ command: line, method, headers, body, url, expected: lines[i + 1] ?? "" });
  }
  return steps;
}

/** The ROUNDHOUSE_CONFIG that `npm start` serves. */
function startConfig(): { services: { name: string; nodes: { id: string; url: string }[] }[] } {
  const toml = readFileSync("wrangler.toml", "utf8");
  const json = /ROUNDHOUSE_CONFIG = '''\n([\s\S]*?)'''/.exec(toml);
  if (!json) throw new Error("wrangler.toml has no ROUNDHOUSE_CONFIG block");
  return JSON.parse(json[1] as string);
}

async function healthy(url: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > until) throw new Error(`${url}/health never answered`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let fleet: Fleet;
let python: ChildProcess;
let gateways: GatewayIsolates;

beforeAll(async () => {
  if (!pythonAvailable) return;
  const config = startConfig();
  fleet = await startFleet({ host: "127.0.0.1" });
  const port = await freePort();
  python = spawn(PYTHON, ["nodes/python/examples/demo_node.py"], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const pythonUrl = `http://127.0.0.1:${port}`;
  // The same services and nodes, each node on a port of this test's.
  for (const service of config.services) {
    for (const node of service.nodes) {
      if (service.name === "py") node.url = pythonUrl;
      else node.url = (await fleet.addNode({ id: node.id })).url;
    }
  }
  await healthy(pythonUrl, 20_000);
  gateways = await startGatewayIsolates(1, config);
}, 60_000);

afterAll(async () => {
  await gateways?.close();
  python?.kill("SIGTERM");
  await fleet?.close();
});

describe.runIf(pythonAvailable)("the README's invoke session", () => {
  const steps = readmeSession();

  it("has the session to replay", () => {
    expect(steps.length).toBeGreaterThanOrEqual(3);
  });

  it.each(steps.map((s) => [s.command, s]))("%s", async (_command, step) => {
    const response = await gateways.fetch(0, `${step.url.pathname}${step.url.search}`, {
      method: step.method,
      headers: step.headers,
      body: step.body ?? null,
    });
    expect(await response.text()).toBe(step.expected);
  });
});
