import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, startFleet } from "../../backend/fleet.ts";
import type { BackendNode } from "../../backend/node-types.ts";
import { type GatewayIsolates, startGatewayIsolates } from "../../scripts/gateway-isolates.ts";
import { REFRESH_MS } from "../../src/routes/dashboard-refresh.ts";

// The dashboard in a real headless Chromium (Debian's package, driven by playwright-core): sign
// in, see the demo service's three nodes, fail one through the reference node's control API, and
// see it shown as ejected within one refresh.

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "isolates-admin-token-0123456789abcdef";
// CI installs Chromium (.ci/run); elsewhere a machine without it skips, saying so.
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`${CHROMIUM} is missing; .ci/run installs it`);

let fleet: Fleet;
let nodes: BackendNode[];
let gateways: GatewayIsolates;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  fleet = await startFleet({ host: "127.0.0.1" });
  nodes = [];
  for (let i = 1; i <= 3; i++) nodes.push(await fleet.addNode({ id: `node-${i}` }));
  // The demo service of wrangler.toml, on these nodes.
  gateways = await startGatewayIsolates(1, {
    services: [
      {
        name: "echo",
        allow: ["127.0.0.0/8"],
        nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
      },
    ],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateways?.close();
  await fleet?.close();
});

describe.skipIf(!available)("the dashboard in Chromium", () => {
  it("signs in, lists the nodes, and shows a failing node ejected within one refresh", async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 720 } });
    const base = gateways.urls[0] as string;
    await page.goto(`${base}/_gw/dashboard`);
    await page.fill('input[name="token"]', TOKEN);
    await page.click('button[type="submit"]');
    await page.waitForSelector('section[data-service="echo"]');
    expect(page.url()).toBe(`${base}/_gw/dashboard`);
    for (const node of nodes) {
      await page.waitForSelector(`tr[data-node="${node.id}"][data-state="healthy"]`);
    }

    // Fail node-2 through the fleet's control API, then send the traffic that gets it ejected.
    const victim = nodes[1] as BackendNode;
    const control = await fetch(`${fleet.url}/nodes/${victim.id}/behaviour`, {
      method: "POST",
      body: JSON.stringify({ mode: "fail", failStatus: 503 }),
    });
    expect(control.ok).toBe(true);
    let ejected = false;
    for (let i = 0; i < 60 && !ejected; i++) {
      await (await gateways.fetch(0, "/s/echo/")).arrayBuffer();
      const detail = await gateways.fetch(0, "/_gw/services/echo", {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const body = (await detail.json()) as {
        nodes: { id: string; ejectedUntil: number | null }[];
      };
      ejected = body.nodes.some((n) => n.id === victim.id && n.ejectedUntil !== null);
    }
    expect(ejected).toBe(true);
    // The page refreshes itself: no reload, and the row turns within one refresh.
    await page.waitForSelector(`tr[data-node="${victim.id}"][data-state="ejected"]`, {
      timeout: REFRESH_MS + 3_000,
    });
    const shot = process.env.UPDATE_SCREENSHOT
      ? "docs/dashboard.png"
      : join(mkdtempSync(join(tmpdir(), "roundhouse-shot-")), "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    // Signing out is the page's own form, which the origin check must let through.
    await page.click('form[action="/_gw/dashboard/logout"] button');
    await page.waitForSelector('input[name="token"]');
    await page.close();
  });
});
