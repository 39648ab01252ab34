// Copyright mb authors. MIT license.
// Finds the route of a request in the route table: literal segments,
// `{name}` for one segment, a greedy last parameter for the rest.

import type { HttpMethod, HttpRoute } from "./_http_routes.ts";

/** A route matched to a request, with its raw (still percent-encoded) path parameters. */
export interface RouteMatch {
  route: HttpRoute;
  params: Record<string, string>;
}

/** What a path resolves to: a route, or the methods its path allows, or nothing. */
export type RouteLookup =
  | { kind: "route"; match: RouteMatch }
  | { kind: "method"; allowed: HttpMethod[] }
  | { kind: "none" };

interface CompiledRoute {
  route: HttpRoute;
  /** A literal segment, or a parameter name in braces. */
  segments: string[];
}

/** Finds routes by method and path. */
export class RouteTable {
  #routes: CompiledRoute[];

  constructor(routes: readonly HttpRoute[]) {
    this.#routes = routes.map((route) => ({ route, segments: route.path.slice(1).split("/") }));
  }

  /** Looks up `method` and `pathname` (as in the URL, still percent-encoded). */
  lookup(method: string, pathname: string): RouteLookup {
    const segments = pathname.slice(1).split("/");
    const allowed: HttpMethod[] = [];
    for (const compiled of this.#routes) {
      const params = matchSegments(compiled, segments);
      if (params === undefined) continue;
      if (compiled.route.method === method) {
        return { kind: "route", match: { route: compiled.route, params } };
      }
      allowed.push(compiled.route.method);
    }
    return allowed.length > 0 ? { kind: "method", allowed } : { kind: "none" };
  }
}

function matchSegments(
  compiled: CompiledRoute,
  segments: string[],
): Record<string, string> | undefined {
  const template = compiled.segments;
  const greedy = compiled.route.greedy === true;
  if (greedy ? segments.length < template.length : segments.length !== template.length) {
    return undefined;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < template.length; i++) {
    const part = template[i];
    if (part.startsWith("{")) {
      const name = part.slice(1, -1);
      const last = greedy && i === template.length - 1;
      const value = last ? segments.slice(i).join("/") : segments[i];
      if (value === "") return undefined;
      params[name] = value;
    } else if (part !== segments[i]) return undefined;
  }
  return params;
}
