import { z } from "zod";

/**
 * One node URL schema for config, admin registrations, discovery seeds and peer records: http(s),
 * no query, no fragment. Below both config and sync, which each check node URLs.
 */
export const NodeUrlSchema = z
  .url({ protocol: /^https?$/, error: "must be an absolute http:// or https:// URL" })
  .refine((u) => !/[?#]/.test(u), "must not carry a query or fragment");
