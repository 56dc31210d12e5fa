import { z } from "zod";

/** What the gateway logs (as JSON lines, which Workers Logs indexes by field). */
export const LoggingSchema = z.strictObject({
  /** Least severe line written: debug, info, warn or error. */
  level: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** Share of proxied requests and invocations that get a line of their own (0–1). */
  requestSampleRate: z.number().min(0).max(1).default(1),
});

export type LoggingSettings = z.output<typeof LoggingSchema>;
