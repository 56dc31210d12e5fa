import { z } from "zod";
import { NodeUrlSchema } from "../balancer/node-url.ts";
import { MAX_BUCKET_COUNT } from "./digest.ts";
import { decodeStamp, encodeStamp, isValidStamp, ORIGIN_PATTERN, type Stamp } from "./hlc.ts";
import { MAX_BATCH } from "./peer-queue.ts";
import { type Change, ROUTE_KEY_PATTERN, type RouteRecord } from "./route-table.ts";

/** Largest request or response body a peer endpoint accepts; check Content-Length against it first. */
export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * Most changes in one body: twice a batch, since a batch or page runs past its limit to include
 * every change sharing its last stamp (rare: only when one stamp is used for several changes).
 */
export const MAX_CHANGES = 2 * MAX_BATCH;

const origin = z.string().regex(ORIGIN_PATTERN, "letters, digits and . _ : - only, at most 64");

/** An encoded stamp (see encodeStamp), decoded. */
const StampSchema = z
  .string()
  .max(80)
  .transform((text, ctx): Stamp => {
    const stamp = decodeStamp(text);
    if (stamp === undefined || !isValidStamp(stamp)) {
      ctx.addIssue({ code: "custom", message: "not an encoded stamp" });
      return z.NEVER;
    }
    return stamp;
  });

const RecordSchema = z.strictObject({
  url: NodeUrlSchema.max(2048),
  dc: z.string().min(1).max(64).optional(),
  rack: z.string().min(1).max(64).optional(),
  weight: z.int().min(1).max(100),
});

const base = {
  key: z.string().regex(ROUTE_KEY_PATTERN, "must be service/nodeId"),
  stamp: StampSchema,
};

/** One change on the wire: as in the table, with the stamp encoded. */
const ChangeSchema = z.discriminatedUnion("kind", [
  z.strictObject({ ...base, kind: z.literal("upsert"), record: RecordSchema }),
  z.strictObject({ ...base, kind: z.literal("remove") }),
  z.strictObject({ ...base, kind: z.literal("eject"), until: z.int().min(0) }),
  z.strictObject({ ...base, kind: z.literal("readmit") }),
  z.strictObject({ ...base, kind: z.literal("drain"), draining: z.boolean() }),
  z.strictObject({ ...base, kind: z.literal("weigh"), weight: z.int().min(1).max(100).nullable() }),
]);

/** Body of POST /_gw/peer/changes. */
export const ChangesBodySchema = z.strictObject({
  /** Sender's origin id. */
  origin,
  /** Changes in stamp order. */
  changes: z.array(ChangeSchema).max(MAX_CHANGES),
});

/** Response of GET /_gw/peer/digest. */
const DigestBodySchema = z.strictObject({
  /** Responder's origin id. */
  origin,
  /** Hex SHA-256 per bucket. */
  buckets: z
    .array(z.string().regex(/^[0-9a-f]{64}$/, "hex SHA-256"))
    .min(1)
    .max(MAX_BUCKET_COUNT),
  /** Hex SHA-256 over the buckets. */
  top: z.string().regex(/^[0-9a-f]{64}$/, "hex SHA-256"),
});

/** Response of GET /_gw/peer/routes?since=. */
const RoutesSinceBodySchema = z.strictObject({
  /** Responder's origin id. */
  origin,
  /** Changes after `since`, in stamp order. */
  changes: z.array(ChangeSchema).max(MAX_CHANGES),
  /** More changes follow; ask again with `since` = the last change's stamp. */
  more: z.boolean(),
});

/** A body of POST /_gw/peer/changes, decoded. */
export interface ChangesBody {
  /** Sender's origin id. */
  readonly origin: string;
  /** The changes, stamps decoded. */
  readonly changes: Change[];
}
/** A digest response, decoded. */
export type DigestBody = z.output<typeof DigestBodySchema>;
/** A routes-since response, decoded. */
export interface RoutesSinceBody {
  /** Responder's origin id. */
  readonly origin: string;
  /** The changes, stamps decoded. */
  readonly changes: Change[];
  /** More changes follow. */
  readonly more: boolean;
}

/** One problem with a body, located by its path. */
export interface WireIssue {
  /** Dotted path of the bad field, e.g. `changes[3].record.url`. */
  readonly path: string;
  /** What is wrong with it. */
  readonly message: string;
}

/** A decoded body, or every reason it could not be decoded. */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: readonly WireIssue[] };

/** Decodes a POST /_gw/peer/changes body (JSON text or an already parsed value). */
export function parseChanges(json: unknown): ParseResult<ChangesBody> {
  return parseJsonWith(ChangesBodySchema, json);
}

/** Decodes a digest response (JSON text or an already parsed value). */
export function parseDigest(json: unknown): ParseResult<DigestBody> {
  return parseJsonWith(DigestBodySchema, json);
}

/** Decodes a routes-since response (JSON text or an already parsed value). */
export function parseRoutesSince(json: unknown): ParseResult<RoutesSinceBody> {
  return parseJsonWith(RoutesSinceBodySchema, json);
}

/** Decodes the `since` query parameter: absent or empty means from the beginning. */
export function parseSince(param: string | undefined): ParseResult<Stamp | undefined> {
  if (param === undefined || param === "") return { ok: true, value: undefined };
  return parseWith(StampSchema, param, "since");
}

function parseJsonWith<T extends z.ZodType>(schema: T, json: unknown): ParseResult<z.output<T>> {
  if (typeof json !== "string") return parseWith(schema, json, "(root)");
  try {
    return parseWith(schema, JSON.parse(json), "(root)");
  } catch (error) {
    return {
      ok: false,
      issues: [{ path: "(root)", message: `not JSON: ${(error as Error).message}` }],
    };
  }
}

function parseWith<T extends z.ZodType>(
  schema: T,
  value: unknown,
  root: string,
): ParseResult<z.output<T>> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((issue) => ({
      path: formatPath(issue.path, root),
      message: issue.message,
    })),
  };
}

function formatPath(path: readonly PropertyKey[], root: string): string {
  let out = "";
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : `${out ? "." : ""}${String(part)}`;
  }
  return out || root;
}

/** A change as it goes on the wire. */
export type WireChange = z.input<typeof ChangeSchema>;

/** Encodes a change for the wire (stamp as a string, no stray fields). */
export function toWireChange(change: Change): WireChange {
  const head = { key: change.key, stamp: encodeStamp(change.stamp) };
  switch (change.kind) {
    case "upsert":
      return { ...head, kind: "upsert", record: wireRecord(change.record) };
    case "eject":
      return { ...head, kind: "eject", until: change.until };
    case "drain":
      return { ...head, kind: "drain", draining: change.draining };
    case "weigh":
      return { ...head, kind: "weigh", weight: change.weight };
    default:
      return { ...head, kind: change.kind };
  }
}

function wireRecord({ url, dc, rack, weight }: RouteRecord): RouteRecord {
  return {
    url,
    weight,
    ...(dc === undefined ? {} : { dc }),
    ...(rack === undefined ? {} : { rack }),
  };
}

/** The body of POST /_gw/peer/changes for these changes. */
export function changesBody(origin: string, changes: readonly Change[]) {
  return { origin, changes: changes.map(toWireChange) };
}

/** The body of a routes-since response. */
export function routesSinceBody(origin: string, changes: readonly Change[], more: boolean) {
  return { origin, changes: changes.map(toWireChange), more };
}
