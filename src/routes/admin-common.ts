import type { ResolvedService } from "../config/load.ts";
import { fail, problem } from "../http/problem.ts";
import { Problem } from "./admin-schemas.ts";

const problemContent = { "application/problem+json": { schema: Problem } };

/** OpenAPI responses for the problem statuses a route may answer. */
export const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: "problem", content: problemContent }]));

/** A change the live-node object could not record for the peers: 503, with nothing changed. */
export function syncUnavailable(error: unknown): never {
  const why = `the change could not be queued for the peer gateways, so it was not made: ${error}`;
  fail(
    problem({ status: 503, type: "sync-unavailable", title: "Change not recorded", detail: why }),
  );
}

/** The service named in the path; 404 problem when there is none. */
export function lookup(
  config: ReadonlyMap<string, ResolvedService>,
  name: string,
): ResolvedService {
  const service = config.get(name);
  if (service) return service;
  fail(
    problem({
      status: 404,
      type: "unknown-service",
      title: "Unknown service",
      detail: `no service named "${name}"`,
    }),
  );
}
