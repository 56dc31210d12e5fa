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
  it("writes a plain success only when the sample draws it, and builds no line otherwise", () => {
    const out = vi.spyOn(console, "log").mockImplementation(() => {});
    const draws = [0.1, 0.6];
    const log = new Log({ level: "info", requestSampleRate: 0.5 }, () => draws.shift() ?? 0);
    const build = vi.fn(() => line);
    log.request(false, build);
    log.request(false, build);
    expect(build).toHaveBeenCalledTimes(1);
    expect(out).toHaveBeenCalledTimes(1);
    const written = JSON.parse(String(out.mock.calls[0]?.[0]));
    expect(written).toMatchObject({ level: "info", ...line });
    expect(Date.parse(written.at)).not.toBeNaN();
  });

  it("always writes a notable request (retried, hedged, failed), whatever the rate", () => {
    const out = vi.spyOn(console, "log").mockImplementation(() => {});
    const random = vi.fn(() => 0.99);
    const log = new Log({ level: "info", requestSampleRate: 0 }, random);
    for (let i = 0; i < 3; i++) log.request(true, () => line);
    expect(out).toHaveBeenCalledTimes(3);
    expect(random).not.toHaveBeenCalled();
  });

  it("samples one plain success in a hundred by default", () => {
    vi.spyOn(console, "log").mockImplementation(() => {});
    const log = new Log(undefined, () => 0.011);
    const build = vi.fn(() => line);
    log.request(false, build);
    expect(build).not.toHaveBeenCalled();
    new Log(undefined, () => 0.009).request(false, build);
    expect(build).toHaveBeenCalledTimes(1);
  });

  it("keeps lines below the level out, and writes a peer's failure as a warning", () => {
    const info = vi.spyOn(console, "log").mockImplementation(() => {});
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const log = new Log({ level: "warn", requestSampleRate: 1 });
    log.request(true, () => line);
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
