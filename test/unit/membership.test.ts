import { describe, expect, it } from "vitest";
import {
  type MemberNode,
  type MembershipLevel,
  selectNodes,
  selectUntried,
} from "../../src/balancer/membership.ts";

const node = (id: string, healthy = true): MemberNode => ({
  id,
  url: `http://${id}`,
  weight: 1,
  healthy,
  since: 0,
});
const rack: MembershipLevel = {
  scope: { kind: "rack", dc: "eu", rack: "r1" },
  nodes: [node("a"), node("b")],
};
const dc: MembershipLevel = {
  scope: { kind: "dc", dc: "eu" },
  nodes: [node("a"), node("b"), node("c"), node("d")],
};
const none = () => false;

const cluster: MembershipLevel = {
  scope: { kind: "cluster" },
  nodes: [...dc.nodes, node("e"), node("f")],
};
const ids = (selection: { nodes: readonly MemberNode[] }) => selection.nodes.map((n) => n.id);

describe("selectUntried", () => {
  it("stays in the nearest level while it has an untried node and attempts to spare", () => {
    expect(ids(selectUntried([rack, dc], none, 0.5, new Set(["a"]), 2))).toEqual(["a", "b"]);
  });

  it("moves on once the level took its attempts, leaving out the level it left", () => {
    // Rack a,b failed: the dc level without them.
    expect(ids(selectUntried([rack, dc, cluster], none, 0.5, new Set(["a", "b"]), 2))).toEqual([
      "c",
      "d",
    ]);
    // A whole dc of four is left after two failures, so the third attempt reaches e or f.
    expect(ids(selectUntried([dc, cluster], none, 0.5, new Set(["a", "b"]), 2))).toEqual([
      "e",
      "f",
    ]);
  });

  it("still takes any untried node once every level is spent, never giving up early", () => {
    const tried = new Set(["a", "b", "e", "f"]);
    expect(ids(selectUntried([dc, cluster], none, 0.5, tried, 2))).toEqual(["a", "b", "c", "d"]);
    expect(selectUntried([dc], none, 0.5, new Set(["a", "b", "c", "d"]), 2).nodes).toEqual([]);
  });

  it("never routes to an ejected node of a single-level service on a retry", () => {
    const ejected = (id: string) => id === "c";
    const selection = selectUntried([dc], ejected, 0.5, new Set(["a", "b"]), 2);
    expect(ids(selection)).toEqual(["a", "b", "d"]);
    expect(selection.panic).toBe(false);
  });
});

describe("selectNodes", () => {
  it("routes in the preferred level while it has a routable node", () => {
    expect(selectNodes([rack, dc], none, 0.5)).toMatchObject({ scope: rack.scope, panic: false });
  });

  it("falls back when every node of the preferred level is unhealthy or ejected", () => {
    const sick = { ...rack, nodes: [node("a", false), node("b", false)] };
    expect(selectNodes([sick, dc], none, 0.5).scope).toEqual(dc.scope);
    expect(selectNodes([rack, dc], (id) => id === "a" || id === "b", 0.5).scope).toEqual(dc.scope);
  });

  it("falls back when the preferred level lists nobody", () => {
    expect(selectNodes([{ ...rack, nodes: [] }, dc], none, 0.5).scope).toEqual(dc.scope);
  });

  it("leaves out unhealthy and ejected nodes above the panic threshold", () => {
    const result = selectNodes([dc], (id) => id === "d", 0.5);
    expect(result.nodes.map((n) => n.id)).toEqual(["a", "b", "c"]);
    expect(result.panic).toBe(false);
  });

  it("panics below the threshold: routes across every listed node", () => {
    const result = selectNodes([dc], (id) => id !== "a", 0.5);
    expect(result.panic).toBe(true);
    expect(result.nodes).toHaveLength(4);
    expect(selectNodes([dc], (id) => id !== "a", 0).panic).toBe(false);
  });

  it("panics over the nearest listed level when nothing is routable anywhere", () => {
    const result = selectNodes([rack, dc], () => true, 0.5);
    expect(result).toMatchObject({ scope: rack.scope, panic: true });
    expect(selectNodes([], none, 0.5)).toEqual({ scope: undefined, nodes: [], panic: false });
  });
});

describe("drains by source", () => {
  const drained = (id: string, by: "operator" | "peer"): MemberNode => ({
    ...node(id),
    draining: by,
  });
  const level = (nodes: MemberNode[]): MembershipLevel => ({ scope: { kind: "cluster" }, nodes });

  it("keeps a peer-drained node out as an ejected one is, while enough others are routable", () => {
    const selection = selectNodes([level([drained("a", "peer"), node("b"), node("c")])], none, 0.5);
    expect([ids(selection), selection.panic]).toEqual([["b", "c"], false]);
  });

  it("brings peer-drained nodes back in panic: a peer draining every node empties nothing", () => {
    const all = level(["a", "b", "c"].map((id) => drained(id, "peer")));
    const selection = selectNodes([all], none, 0.5);
    expect([ids(selection), selection.panic]).toEqual([["a", "b", "c"], true]);
    const most = level([drained("a", "peer"), drained("b", "peer"), node("c")]);
    expect(ids(selectNodes([most], none, 0.5))).toEqual(["a", "b", "c"]);
  });

  it("keeps an operator-drained node out even in panic, and every node drained so routes nowhere", () => {
    const mixed = level([drained("a", "operator"), drained("b", "peer"), node("c", false)]);
    expect(ids(selectNodes([mixed], none, 0.5))).toEqual(["b", "c"]);
    const all = level(["a", "b"].map((id) => drained(id, "operator")));
    expect(ids(selectNodes([all], none, 0.5))).toEqual([]);
  });
});
