// The command line of `npm run conformance`.
import { parseArgs } from "node:util";

/** A node implementation to judge: a name for the report and the command that starts it. */
export interface Target {
  /** Shown in the header. */
  name: string;
  /** Run with /bin/sh -c, with PORT in its environment. */
  command: string;
}

/** The three implementations CI judges (docs/conformance.md). */
export const IMPLEMENTATIONS: readonly Target[] = [
  { name: "reference", command: "node backend/conformance-node.ts" },
  { name: "typescript", command: "node nodes/typescript/examples/conformance-node.ts" },
  { name: "python", command: "/usr/bin/python3 nodes/python/examples/conformance_node.py" },
];

/** What to run: one command (`--node`), or some or all of the implementations. */
export interface Plan {
  /** The targets, in order. */
  targets: Target[];
  /** Whether a header goes before each target's checks (not for a single --node). */
  headers: boolean;
  /** Ids of the checks to run (`--check`); undefined for all. */
  checks?: string[] | undefined;
}

/** Reads the arguments; throws an Error with a usage message when they do not make sense. */
export function parsePlan(argv: readonly string[]): Plan {
  const { values } = parseArgs({
    args: [...argv],
    options: { node: { type: "string" }, only: { type: "string" }, check: { type: "string" } },
    strict: true,
    allowPositionals: false,
  });
  const checks = values.check === undefined ? undefined : list(values.check);
  if (checks?.length === 0) throw new Error("--check needs at least one check id");
  if (values.node !== undefined) {
    if (values.only !== undefined) throw new Error("--node and --only exclude each other");
    if (values.node.trim() === "") throw new Error("--node needs a command");
    return { targets: [{ name: "node", command: values.node }], headers: false, checks };
  }
  if (values.only === undefined) return { targets: [...IMPLEMENTATIONS], headers: true, checks };
  const names = values.only
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  const targets = names.map((name) => {
    const target = IMPLEMENTATIONS.find((candidate) => candidate.name === name);
    if (!target) {
      throw new Error(
        `unknown implementation "${name}" (known: ${IMPLEMENTATIONS.map((t) => t.name).join(", ")})`,
      );
    }
    return target;
  });
  if (targets.length === 0) throw new Error("--only needs at least one implementation");
  return { targets, headers: true, checks };
}

function list(value: string): string[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** How to call the suite. */
export const USAGE = `usage: npm run conformance -- [--node "<command>" | --only reference,typescript,python] [--check C-ACK-1,...]`;
