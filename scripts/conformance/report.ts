// The suite's output lines: one per check, a header per implementation, and totals.

/** The verdict on one check. */
export interface Outcome {
  /** The check's stable id, as tagged in docs/protocol.md. */
  id: string;
  /** What the check verifies. */
  description: string;
  /** Why it failed; undefined when it passed. */
  failure?: string | undefined;
}

/** `PASS <id> <description>` or `FAIL <id> <description>: <why>`, on one line. */
export function formatOutcome(outcome: Outcome): string {
  if (outcome.failure === undefined) return `PASS ${outcome.id} ${outcome.description}`;
  const why = outcome.failure.replace(/\s*\n\s*/g, " | ").trim() || "failed";
  return `FAIL ${outcome.id} ${outcome.description}: ${why}`;
}

/** `N passed, N failed`. */
export function formatTotals(passed: number, failed: number): string {
  return `${passed} passed, ${failed} failed`;
}

/** The header printed before an implementation's checks. */
export function formatHeader(name: string, command: string): string {
  return `== ${name}: ${command}`;
}

/** Counts of passed and failed outcomes. */
export function tally(outcomes: readonly Outcome[]): { passed: number; failed: number } {
  const failed = outcomes.filter((outcome) => outcome.failure !== undefined).length;
  return { passed: outcomes.length - failed, failed };
}
