import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.js';

/*
 * Who may use the inspector: whoever holds the token printed at start (as
 * Jupyter does). The first page visit carries it in the URL; the server then
 * sets it as an HttpOnly, SameSite=Strict cookie and redirects to the same
 * page without it. Scripts send it in a header. A write needs more than the
 * cookie a browser attaches on its own: the token in a header (the page
 * reads it from a meta tag only a same-origin script can see) and a request
 * that says it comes from the inspector's own origin.
 */

/** The header that carries the token for scripts and for every write. */
export const TOKEN_HEADER = 'x-memostrata-token';

/** The query parameter that carries the token in the printed URL. */
export const TOKEN_PARAMETER = 'token';

/** How a request proved it holds the token, or `undefined` when it did not. */
export type Credential = 'header' | 'cookie' | 'query' | undefined;

/** A new random access token (192 bits, URL-safe). */
export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Checks requests against one server's token, port and bind address. */
export class Access {
  readonly #digest: Buffer;
  /** The cookie's name: cookies are shared by every port of a host, so each server names its own. */
  readonly cookieName: string;
  readonly #hosts: Set<string> | undefined;

  /**
   * @param token - The access token.
   * @param port - The port the server listens on.
   * @param loopbackHost - The loopback address the server listens on (`[::1]`
   *   for IPv6), or `undefined` when it listens on others too. On loopback the
   *   Host header must name it or `localhost`: a page that rebinds its own
   *   DNS name to 127.0.0.1 gets refused.
   */
  constructor(token: string, port: number, loopbackHost: string | undefined) {
    this.#digest = digest(token);
    this.cookieName = `memostrata-token-${port}`;
    this.#hosts = loopbackHost === undefined ? undefined : new Set([loopbackHost, '127.0.0.1', 'localhost', '[::1]'].map((host) => `${host}:${port}`));
  }

  /** The `Set-Cookie` value that keeps the token for later requests. */
  cookie(token: string): string {
    return `${this.cookieName}=${token}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /**
   * How `request` proves it holds the token.
   *
   * @throws HttpError 403 when a loopback server is reached under another host name.
   */
  authenticate(request: IncomingMessage, url: URL): Credential {
    if (this.#hosts !== undefined && !this.#hosts.has(request.headers.host ?? '')) {
      throw new HttpError(403, 'FORBIDDEN_HOST', `This inspector answers on 127.0.0.1 or localhost only, not on ${JSON.stringify(request.headers.host ?? '')}.`);
    }
    if (this.#matches(headerValue(request, TOKEN_HEADER))) return 'header';
    const bearer = headerValue(request, 'authorization');
    if (bearer?.startsWith('Bearer ') && this.#matches(bearer.slice('Bearer '.length))) return 'header';
    if (this.#matches(cookieValue(request, this.cookieName))) return 'cookie';
    if (this.#matches(url.searchParams.get(TOKEN_PARAMETER) ?? undefined)) return 'query';
    return undefined;
  }

  /**
   * Refuses a write that a page of another site could have sent: the token
   * must come in a header (a cross-site page cannot set one without a CORS
   * preflight, which this server never grants, and cannot read the token), and
   * a browser's `Origin` and `Sec-Fetch-Site` must say the request is same-origin.
   *
   * @throws HttpError 403.
   */
  checkWrite(request: IncomingMessage, credential: Credential): void {
    const origin = headerValue(request, 'origin');
    if (origin !== undefined && origin !== `http://${request.headers.host ?? ''}`) {
      throw new HttpError(403, 'CROSS_SITE', `A write must come from the inspector's own pages; this one comes from ${origin}.`);
    }
    const site = headerValue(request, 'sec-fetch-site');
    if (site !== undefined && site !== 'same-origin') {
      throw new HttpError(403, 'CROSS_SITE', `A write must come from the inspector's own pages; the browser says this one is ${site}.`);
    }
    if (credential !== 'header') {
      throw new HttpError(403, 'TOKEN_HEADER_REQUIRED', `A write needs the access token in the ${TOKEN_HEADER} header (or Authorization: Bearer <token>).`);
    }
  }

  #matches(candidate: string | undefined): boolean {
    return candidate !== undefined && candidate !== '' && timingSafeEqual(digest(candidate), this.#digest);
  }
}

// Equal-length digests let the comparison take the same time whatever the candidate.
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function cookieValue(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0 && part.slice(0, equals).trim() === name) return part.slice(equals + 1).trim();
  }
  return undefined;
}
