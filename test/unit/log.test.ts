import { afterEach, describe, expect, it, vi } from "vitest";
import { Log } from "../../src/logging/log.ts";

afterEach(() => vi.restoreAllMocks());

const line = {
  kind: "request" as const,
  requestId: "r-1",
  service: "echo",
  node: "n1",
  attempts: 2,
  status: 200,
  ms: 12,
  outcome: "answered",
};

describe("Log", () => {
  it("writes one JSON line per sampled request, with every field", () => {
    const out = vi.spyOn(console, "log").mockImplementation(() => {});
    const draws = [0.1, 0.6];
    new Log({ level: "info", requestSampleRate: 0.5 }, () => draws.shift() ?? 0).request(line);
    new Log({ level: "info", requestSampleRate: 0.5 }, () => 0.6).request(line);
    expect(out).toHaveBeenCalledTimes(1);
    const written = JSON.parse(String(out.mock.calls[0]?.[0]));
    expect(written).toMatchObject({ level: "info", ...line });
    expect(Date.parse(written.at)).not.toBeNaN();
  });

  it("keeps lines below the level out, and writes a peer's failure as a warning", () => {
    const info = vi.spyOn(console, "log").mockImplementation(() => {});
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const log = new Log({ level: "warn", requestSampleRate: 1 });
    log.request(line);
    log.change({ event: "drain", service: "echo", node: "n1", reason: "drained by an operator" });
    log.change({ event: "peer-failure", peer: "eu", reason: "503" });
    expect(info).not.toHaveBeenCalled();
    expect(JSON.parse(String(warn.mock.calls[0]?.[0]))).toMatchObject({
      level: "warn",
      event: "peer-failure",
      peer: "eu",
      reason: "503",
    });
  });
});
