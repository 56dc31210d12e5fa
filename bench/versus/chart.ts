// docs/versus.svg, drawn by hand: panels of grouped bars (one group per scenario, one bar per
// system, every bar labelled with its value) for throughput, p99 latency and error rate.
// Throughput and latency use log scales: the systems differ by orders of magnitude there, and on
// a linear axis the small bars would vanish.
import type { SystemResult, VersusResult } from "./result.ts";
import type { SystemName } from "./systems.ts";
import { percent } from "./table.ts";

const COLOURS: Record<SystemName, string> = {
  direct: "#9e9e9e",
  nginx: "#2e7d32",
  "nginx-tuned": "#81c784",
  haproxy: "#1565c0",
  roundhouse: "#e65100",
  "roundhouse-workerd": "#ffb74d",
  "roundhouse-lor": "#6a1b9a",
  "roundhouse-outlier": "#ba68c8",
  "roundhouse-gate-path": "#bf360c",
  "workerd-floor": "#795548",
};

const WIDTH = 1000;
const LEFT = 70;
const RIGHT = 20;
const PANEL = 220;
const GAP = 80;
const HEADER = 100;
const LEGEND_ENTRY = 150;

interface PanelSpec {
  readonly title: string;
  readonly figure: "rps" | "p99Ms" | "errorRate";
  readonly log: boolean;
  readonly label: (v: number) => string;
}

const PANELS: readonly PanelSpec[] = [
  { title: "requests/s served (2xx), log scale", figure: "rps", log: true, label: (v) => round(v) },
  { title: "p99 latency, ms, log scale", figure: "p99Ms", log: true, label: (v) => round(v) },
  {
    title: "error rate: non-2xx and transport errors, % of requests",
    figure: "errorRate",
    log: false,
    label: percent,
  },
];

interface Bar {
  readonly system: SystemName;
  readonly value: number;
}

export function versusChart(result: VersusResult, subtitle: string): string {
  const scenarios = Object.keys(result.scenarios) as (keyof VersusResult["scenarios"])[];
  const systems = [
    ...new Set(scenarios.flatMap((s) => Object.keys(result.scenarios[s] ?? {}))),
  ] as SystemName[];
  const height = HEADER + PANELS.length * (PANEL + GAP);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${LEFT}" y="24" font-size="16" font-weight="bold">Roundhouse beside NGINX and HAProxy: three nodes, one of them faulty</text>`,
    `<text x="${LEFT}" y="44" fill="#555">${xmlText(subtitle)}</text>`,
  ];
  // Legend entries in rows of as many as fit the width, so any number of systems stays readable.
  const perRow = Math.floor((WIDTH - LEFT - RIGHT) / LEGEND_ENTRY);
  systems.forEach((system, i) => {
    const x = LEFT + (i % perRow) * LEGEND_ENTRY;
    const y = 62 + Math.floor(i / perRow) * 18;
    out.push(
      `<rect x="${x}" y="${y}" width="12" height="12" fill="${COLOURS[system]}"/>`,
      `<text x="${x + 16}" y="${y + 10}">${system}</text>`,
    );
  });
  PANELS.forEach((spec, p) => {
    const groups = scenarios.map((s) =>
      systems.flatMap((system): Bar[] => {
        const r: SystemResult | undefined = result.scenarios[s]?.[system];
        return r ? [{ system, value: r[spec.figure] }] : [];
      }),
    );
    const top = HEADER + 30 + p * (PANEL + GAP);
    drawPanel(out, spec, top, groups, scenarios);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

function drawPanel(
  out: string[],
  spec: PanelSpec,
  top: number,
  groups: Bar[][],
  names: readonly string[],
): void {
  const values = groups.flat().map((b) => b.value);
  const { y, ticks } = spec.log ? logAxis(values) : percentAxis(values);
  const plotWidth = WIDTH - LEFT - RIGHT;
  const groupWidth = plotWidth / Math.max(1, groups.length);
  out.push(
    `<text x="${LEFT}" y="${top - 12}" font-size="13" font-weight="bold">${spec.title}</text>`,
  );
  for (const tick of ticks) {
    const ty = n(top + y(tick));
    out.push(
      `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${ty}" y2="${ty}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${n(Number(ty) + 4)}" text-anchor="end" fill="#555">${spec.log ? String(tick) : percent(tick)}</text>`,
    );
  }
  groups.forEach((bars, g) => {
    const x0 = LEFT + g * groupWidth;
    const barWidth = (groupWidth * 0.84) / Math.max(1, bars.length);
    bars.forEach((bar, i) => {
      const x = x0 + groupWidth * 0.08 + i * barWidth;
      const h = Math.max(0.5, PANEL - y(bar.value));
      const label = spec.label(bar.value);
      out.push(
        `<rect x="${n(x)}" y="${n(top + PANEL - h)}" width="${n(barWidth - 2)}" height="${n(h)}" fill="${COLOURS[bar.system]}"><title>${bar.system}: ${label}</title></rect>`,
        `<text transform="translate(${n(x + barWidth / 2 + 3)},${n(top + PANEL - h - 4)}) rotate(-90)" font-size="10">${label}</text>`,
      );
    });
    out.push(
      `<text x="${n(x0 + groupWidth / 2)}" y="${top + PANEL + 16}" text-anchor="middle" font-weight="bold">${xmlText(names[g] ?? "")}</text>`,
    );
  });
  out.push(
    `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${top + PANEL}" y2="${top + PANEL}" stroke="#333"/>`,
  );
}

/** Decades from the one below the smallest value to the one above the largest. */
function logAxis(values: number[]) {
  const positive = values.filter((v) => v > 0);
  const low = Math.floor(Math.log10(Math.min(...positive, 1)));
  // Headroom for the labels above the tallest bar.
  const high = Math.ceil(Math.log10(Math.max(...positive, 10)) + 0.35);
  const span = Math.max(1, high - low);
  const y = (v: number) => PANEL * (1 - (Math.log10(Math.max(v, 10 ** low)) - low) / span);
  const ticks = Array.from({ length: span + 1 }, (_, i) => 10 ** (low + i));
  return { y, ticks };
}

function percentAxis(values: number[]) {
  const max = niceCeiling(Math.max(...values, 0.001) * 1.2);
  const y = (v: number) => PANEL * (1 - v / max);
  return { y, ticks: [0, 0.25, 0.5, 0.75, 1].map((f) => f * max) };
}

/** The smallest of 1, 2, 5 × 10^k at or above `v`, at most 1 (100 %). */
function niceCeiling(v: number): number {
  const exponent = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10]) if (step * exponent >= v) return Math.min(1, step * exponent);
  return 1;
}

function round(v: number): string {
  return v < 10 ? v.toFixed(1) : v.toFixed(0);
}

/** A coordinate with one decimal, to keep the file readable. */
function n(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function xmlText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
