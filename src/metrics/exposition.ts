/**
 * The Prometheus text exposition format, version 0.0.4: one HELP and one TYPE line per family,
 * then its samples. Written here rather than taken from prom-client, whose registry of
 * process-global metrics fits neither Workers isolates nor counts that live in Durable Objects.
 */

export type MetricType = "counter" | "gauge" | "histogram";

/** One sample line: a value under a set of labels, with a suffix for histogram series. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly suffix?: "_bucket" | "_sum" | "_count";
}

/** A metric family as it is exposed. */
export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: readonly Sample[];
}

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The exposition of the families, in order; a family without samples is left out. */
export function render(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (family.samples.length === 0) continue;
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      lines.push(
        `${family.name}${sample.suffix ?? ""}${labelSet(sample.labels)} ${number(sample.value)}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

function labelSet(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}
