import { z } from "zod";

export const LoggingSchema = z
  .strictObject({
    level: z
      .enum(["debug", "info", "warn", "error"])
      .default("info")
      .describe("Least severe line written."),
    requestSampleRate: z
      .number()
      .min(0)
      .max(1)
      .default(0.01)
      .describe(
        "Share of plain successes (one attempt, answered by a node, status below 500) that get a line of their own; every other request and invocation always gets one.",
      ),
  })
  .meta({
    id: "logging",
    description:
      "What the gateway logs, as JSON lines that Workers Logs indexes by field; see [operations.md](operations.md#logs).",
  });

export type LoggingSettings = z.output<typeof LoggingSchema>;
