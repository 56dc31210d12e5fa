/** One level of routing scope: a rack, a datacenter, or the whole cluster. */
export type ScopeLevel =
  | { readonly kind: "rack"; readonly dc: string; readonly rack: string }
  | { readonly kind: "dc"; readonly dc: string }
  | { readonly kind: "cluster" };

/** The datacenter and rack a dispatch would rather use. */
export interface PreferredScope {
  readonly dc?: string;
  readonly rack?: string;
}

/** What the platform says about where the caller is (from `request.cf`). */
export interface CallerLocation {
  readonly continent?: string;
  readonly colo?: string;
}

/** Scope settings of a service, as far as choosing a scope needs them. */
export interface ScopePolicy extends PreferredScope {
  readonly fallback: readonly ("rack" | "dc" | "cluster")[];
  readonly allowHeader: boolean;
  readonly dcByContinent: Readonly<Record<string, string>>;
  readonly dcByColo: Readonly<Record<string, string>>;
}

/**
 * The levels to try in order for a preferred scope. A level the preference cannot fill (a rack
 * level without a rack) is left out; the cluster always remains as the last resort even if the
 * fallback list omits it, since routing nowhere is never better than routing far.
 */
export function scopeChain(
  preferred: PreferredScope,
  fallback: ScopePolicy["fallback"],
): ScopeLevel[] {
  const chain: ScopeLevel[] = [];
  for (const kind of fallback) {
    if (kind === "rack" && preferred.dc && preferred.rack) {
      chain.push({ kind, dc: preferred.dc, rack: preferred.rack });
    } else if (kind === "dc" && preferred.dc) {
      chain.push({ kind, dc: preferred.dc });
    } else if (kind === "cluster") {
      chain.push({ kind });
    }
  }
  return chain.length > 0 ? chain : [{ kind: "cluster" }];
}

/** A stable name of a level, for maps and logs. */
export function scopeKey(level: ScopeLevel): string {
  if (level.kind === "rack") return `rack:${level.dc}/${level.rack}`;
  if (level.kind === "dc") return `dc:${level.dc}`;
  return "cluster";
}

/** The `/localnodes` query string that asks for a level ("" for the contacted node's own view). */
export function scopeQuery(level: ScopeLevel): string {
  if (level.kind === "rack") {
    return `?dc=${encodeURIComponent(level.dc)}&rack=${encodeURIComponent(level.rack)}`;
  }
  if (level.kind === "dc") return `?dc=${encodeURIComponent(level.dc)}`;
  return "";
}

/** Whether a node labelled with a dc and rack belongs to a level. */
export function inScope(node: PreferredScope, level: ScopeLevel): boolean {
  if (level.kind === "cluster") return true;
  if (node.dc !== level.dc) return false;
  return level.kind === "dc" || node.rack === level.rack;
}

const SCOPE_TOKEN = /^[A-Za-z0-9._-]{1,64}$/;

/** Parses `x-roundhouse-scope: dc=NAME;rack=NAME`; undefined with a reason when it is malformed. */
export function parseScopeHeader(
  value: string,
): { ok: true; scope: PreferredScope } | { ok: false; reason: string } {
  const scope: { dc?: string; rack?: string } = {};
  for (const part of value.split(";")) {
    const [key, name, extra] = part.trim().split("=");
    if (
      extra !== undefined ||
      !name ||
      !SCOPE_TOKEN.test(name) ||
      (key !== "dc" && key !== "rack")
    ) {
      return { ok: false, reason: `"${part.trim()}" is not dc=NAME or rack=NAME` };
    }
    if (scope[key] !== undefined) return { ok: false, reason: `${key} given twice` };
    scope[key] = name;
  }
  if (scope.rack && !scope.dc) return { ok: false, reason: "a rack needs its dc" };
  return { ok: true, scope };
}

/**
 * The scope one dispatch prefers: a request's own header when the service allows it, else the
 * datacenter mapped from the Cloudflare colo or continent that took the request, else the
 * service's configured preference. A rack is kept only with the datacenter it belongs to.
 */
export function preferredScope(
  policy: ScopePolicy,
  caller: CallerLocation | undefined,
  requested: PreferredScope | undefined,
): PreferredScope {
  if (requested?.dc) return requested;
  const mapped =
    (caller?.colo && policy.dcByColo[caller.colo]) ||
    (caller?.continent && policy.dcByContinent[caller.continent]);
  if (mapped && mapped !== policy.dc) return { dc: mapped };
  return { dc: policy.dc, rack: policy.rack };
}

/** A stable name of a scope chain, the same in the isolate's cache and the live-node object. */
export function chainKey(chain: readonly ScopeLevel[]): string {
  return chain.map(scopeKey).join(">");
}
