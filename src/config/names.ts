import { z } from "zod";

/** A datacenter or rack name, as nodes, scopes and discovery write it. */
export const scopeName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, . _ - only");

/** The name of a secret (an env var) the gateway reads a value from. */
export const secretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "the name of a secret (an env var)");

/** An HTTP header name (RFC 9110 token). */
export const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, "a header name");

/** A cookie name (RFC 6265 token). */
export const cookieName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, "a cookie name");

/** The gateway's own secrets; each does one job, so no other setting may name one. */
export const SECRETS = ["ADMIN_TOKEN", "PEER_SECRET", "METRICS_TOKEN"] as const;
