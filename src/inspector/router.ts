import { HttpError, type RequestContext } from './http.js';

/*
 * A small router: a route is a method and a path pattern whose `:name`
 * segments capture one decoded path segment each. Segments are split before
 * they are decoded, so an encoded `/` (`%2F`) stays inside its segment (module
 * names may hold one) and can never climb out of a route.
 */

/** Handles a request that matched a route. */
export type Handler = (context: RequestContext) => Promise<void>;

/** The HTTP methods the inspector answers. */
export type Method = 'GET' | 'POST';

interface Route {
  method: Method;
  segments: string[];
  handler: Handler;
}

/** What {@link Router.match} found for a request. */
export type Match = { handler: Handler; params: Record<string, string> } | { allowed: Method[] } | undefined;

/** Routes requests by method and path. */
export class Router {
  readonly #routes: Route[] = [];

  /** Adds a route; `pattern` is like `/api/modules/:module`. */
  add(method: Method, pattern: string, handler: Handler): this {
    this.#routes.push({ method, segments: splitPath(pattern), handler });
    return this;
  }

  /**
   * The handler and parameters for `method` and `pathname`; the methods the
   * path allows when only the method is wrong; `undefined` when no route matches.
   *
   * @throws HttpError 400 for a path that does not decode.
   */
  match(method: string, pathname: string): Match {
    const segments = splitPath(pathname).map(decodeSegment);
    const allowed: Method[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, segments);
      if (params === undefined) continue;
      if (route.method === method) return { handler: route.handler, params };
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { allowed } : undefined;
  }
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', `The path segment ${JSON.stringify(segment)} is not valid percent-encoding.`);
  }
}

function matchSegments(pattern: readonly string[], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let index = 0; index < pattern.length; index += 1) {
    const expected = pattern[index]!;
    const actual = segments[index]!;
    if (expected.startsWith(':')) params[expected.slice(1)] = actual;
    else if (expected !== actual) return undefined;
  }
  return params;
}
