import type { IncomingMessage, ServerResponse } from 'node:http';

/*
 * The inspector's HTTP vocabulary: an error that carries its status and a
 * stable code, and the few ways a response is written. Every response gets
 * the same protective headers.
 */

/** An error a request handler throws to answer with `status` and a JSON error `{ error: { code, message } }`. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
  }
}

/** What a handler gets: the request, its parsed URL and the path parameters of its route. */
export interface RequestContext {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly url: URL;
  readonly params: Readonly<Record<string, string>>;
}

// The token travels in the first URL: no referrer may carry it elsewhere, and no page may frame ours.
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/** Writes `body` with `status`, the content type and the security headers. */
export function send(response: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string | string[]> = {}): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  response.end(body);
}

/** Writes `value` as JSON. */
export function sendJson(response: ServerResponse, status: number, value: unknown, headers: Record<string, string | string[]> = {}): void {
  send(response, status, 'application/json; charset=utf-8', JSON.stringify(value), headers);
}

/** Writes the JSON error document of `error`: `{ error: { code, message } }`, never a stack trace. */
export function sendError(response: ServerResponse, error: HttpError): void {
  sendJson(response, error.status, { error: { code: error.code, message: error.message } });
}

/** Largest request body accepted: the actions take their arguments in the path, so a body is at most a small JSON object. */
export const MAX_BODY_BYTES = 4096;

/** Reads and discards a request body, refusing one over {@link MAX_BODY_BYTES}. */
export async function drainBody(request: IncomingMessage): Promise<void> {
  let received = 0;
  for await (const chunk of request) {
    received += (chunk as Buffer).length;
    if (received > MAX_BODY_BYTES) throw new HttpError(413, 'TOO_LARGE', `A request body is at most ${MAX_BODY_BYTES} bytes.`);
  }
}
