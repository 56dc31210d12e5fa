// `npm run conformance`: judges node implementations against every MUST of docs/protocol.md
// (the node's contract is docs/conformance.md). Exit status 1 if any check failed.

import { parsePlan, USAGE } from "./conformance/args.ts";
import { allChecks } from "./conformance/checks/index.ts";
import { formatHeader, formatOutcome, formatTotals, tally } from "./conformance/report.ts";
import { runChecks } from "./conformance/runner.ts";

let plan: ReturnType<typeof parsePlan>;
try {
  plan = parsePlan(process.argv.slice(2));
} catch (error) {
  console.error(`conformance: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}

const unknown = plan.checks?.filter((id) => !allChecks.some((check) => check.id === id)) ?? [];
if (unknown.length > 0) {
  console.error(`conformance: no check ${unknown.join(", ")}\n${USAGE}`);
  process.exit(2);
}
const checks = plan.checks
  ? allChecks.filter((check) => plan.checks?.includes(check.id))
  : allChecks;

let passed = 0;
let failed = 0;
for (const target of plan.targets) {
  if (plan.headers) console.log(formatHeader(target.name, target.command));
  const outcomes = await runChecks(target.command, checks, (outcome) =>
    console.log(formatOutcome(outcome)),
  );
  const counts = tally(outcomes);
  passed += counts.passed;
  failed += counts.failed;
  if (plan.targets.length > 1)
    console.log(`${target.name}: ${formatTotals(counts.passed, counts.failed)}`);
}
console.log(formatTotals(passed, failed));
process.exitCode = failed > 0 ? 1 : 0;
