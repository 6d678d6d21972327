import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Store } from '../cache/store.js';
import { isMemostrataError } from '../errors.js';
import { Access, newToken, TOKEN_PARAMETER } from './access.js';
import { InspectorApi } from './api.js';
import { drainBody, HttpError, send, sendError, sendJson, type RequestContext } from './http.js';
import { pageHtml, UNAUTHORIZED_HTML, type PageName } from './pages.js';
import { parseBoundedQuery, parseCall, parseEntryQuery, parseListingQuery } from './query.js';
import { Router } from './router.js';
import { staticFile } from './static-files.js';

/** Options of {@link startInspector}. */
export interface InspectorOptions {
  /**
   * The address to listen on. Anything but a loopback address lets other
   * machines reach the inspector (the token still guards it).
   *
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * The port; `0` picks a free one.
   *
   * @default 0
   */
  port?: number;
  /**
   * Enables the actions that change the store (delete an entry, clear a module, pin and unpin).
   *
   * @default false
   */
  allowWrite?: boolean;
  /**
   * Encoded size above which an entry page does not load a value (bytes).
   *
   * @default 67108864 (64 MiB)
   */
  maxValueBytes?: number;
  /**
   * A large array (stored in a blob) of more bytes than this is previewed
   * from a sample of windows, one per bucket of its plot, so an entry page
   * never reads gigabytes; `?full=1` (the page's *Read it all* button)
   * reads it whole.
   *
   * @default 268435456 (256 MiB)
   */
  fullReadBytes?: number;
  /**
   * The access token. Tests pass one; otherwise a random one is made.
   *
   * @default a new random token
   */
  token?: string;
  /** Called with errors no request should see (their stacks go to the server's log, not the browser). */
  onInternalError?: (error: unknown) => void;
}

/** A running inspector. */
export interface Inspector {
  /** The URL to open, with the token: `http://127.0.0.1:<port>/?token=…`. */
  readonly url: string;
  /** `http://<host>:<port>`. */
  readonly origin: string;
  /** The access token. */
  readonly token: string;
  /** Stops listening and ends open connections (the store stays open: its opener closes it). */
  close(): Promise<void>;
}

/** The default of {@link InspectorOptions.maxValueBytes}. */
export const DEFAULT_MAX_VALUE_BYTES = 64 * 1024 * 1024;
/** The default of {@link InspectorOptions.fullReadBytes}. */
export const DEFAULT_FULL_READ_BYTES = 256 * 1024 * 1024;

/**
 * Starts the web inspector on an open store: pages and a JSON API under
 * `/api/` (docs/inspector.md), every request checked against the access token.
 */
export async function startInspector(store: Store, options: InspectorOptions = {}): Promise<Inspector> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? newToken();
  const allowWrite = options.allowWrite === true;
  const api = new InspectorApi(store, { allowWrite, maxValueBytes: options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES, fullReadBytes: options.fullReadBytes ?? DEFAULT_FULL_READ_BYTES });
  const router = routes(api, token, allowWrite);
  const onInternalError = options.onInternalError ?? ((error: unknown) => console.error(error));
  let access: Access | undefined;
  const server = createServer((request, response) => {
    void handle(request, response, router, access!, onInternalError);
  });
  await listen(server, options.port ?? 0, host);
  const { port } = server.address() as AddressInfo;
  const authority = host.includes(':') ? `[${host}]` : host;
  access = new Access(token, port, isLoopback(host) ? authority : undefined);
  const origin = `http://${authority}:${port}`;
  return {
    url: `${origin}/?${TOKEN_PARAMETER}=${token}`,
    origin,
    token,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}

// A lineage tree can fan out widely; a page shows a few levels and links on.
const DEFAULT_LINEAGE_DEPTH = 3;
const MAX_LINEAGE_DEPTH = 10;
const DEFAULT_NEIGHBOURS = 5;
const MAX_NEIGHBOURS = 20;

function routes(api: InspectorApi, token: string, allowWrite: boolean): Router {
  const page = (name: PageName) => async ({ response }: RequestContext) => send(response, 200, 'text/html; charset=utf-8', pageHtml(name, token, allowWrite));
  const json = (answer: (context: RequestContext) => Promise<unknown>) => async (context: RequestContext) => sendJson(context.response, 200, await answer(context));
  // One change at a time: two removals must not collect garbage over each other.
  let writes: Promise<unknown> = Promise.resolve();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const next = writes.then(work, work);
    writes = next.catch(() => undefined);
    return next;
  };
  return new Router()
    .add('GET', '/', page('overview'))
    .add('GET', '/leases', page('leases'))
    .add('GET', '/modules/:module', page('module'))
    .add('GET', '/modules/:module/entries/:call', async (context) => {
      parseCall(context.params.call!);
      await page('entry')(context);
    })
    // Browsers ask for it on their own; nothing to show.
    .add('GET', '/favicon.ico', async ({ response }) => {
      response.writeHead(204, { 'Cache-Control': 'no-store' }).end();
    })
    .add('GET', '/static/:name', async ({ response, params }) => {
      const file = staticFile(params.name!);
      if (file === undefined) throw new HttpError(404, 'NOT_FOUND', `No static file ${JSON.stringify(params.name)}.`);
      send(response, 200, file.contentType, file.body);
    })
    .add('GET', '/api/overview', json(() => api.overview()))
    .add('GET', '/api/verify', json(() => api.verify()))
    .add('GET', '/api/leases', json(() => api.leases()))
    .add('GET', '/api/modules/:module/entries', json(({ params, url }) => api.entries(params.module!, parseListingQuery(url.searchParams))))
    .add('GET', '/api/modules/:module/entries/:call', json(({ params, url }) => api.entry(params.module!, parseCall(params.call!), parseEntryQuery(url.searchParams))))
    .add('GET', '/api/modules/:module/entries/:call/lineage', json(({ params, url }) => api.lineage(params.module!, parseCall(params.call!), parseBoundedQuery(url.searchParams, 'depth', DEFAULT_LINEAGE_DEPTH, MAX_LINEAGE_DEPTH))))
    .add('GET', '/api/modules/:module/entries/:call/neighbours', json(({ params, url }) => api.neighbours(params.module!, parseCall(params.call!), parseBoundedQuery(url.searchParams, 'limit', DEFAULT_NEIGHBOURS, MAX_NEIGHBOURS))))
    .add('GET', '/api/modules/:module/entries/:call/cascade', json(({ params }) => api.cascadePlan(params.module!, parseCall(params.call!))))
    .add('POST', '/api/modules/:module/entries/:call/cascade', json(({ params }) => serialized(() => api.cascade(params.module!, parseCall(params.call!)))))
    .add('POST', '/api/modules/:module/entries/:call/delete', json(({ params }) => serialized(() => api.deleteEntry(params.module!, parseCall(params.call!)))))
    .add('POST', '/api/modules/:module/clear', json(({ params }) => serialized(() => api.clearModule(params.module!))))
    .add('POST', '/api/modules/:module/entries/:call/pin', json(({ params }) => serialized(() => api.pinEntry(params.module!, parseCall(params.call!), true))))
    .add('POST', '/api/modules/:module/entries/:call/unpin', json(({ params }) => serialized(() => api.pinEntry(params.module!, parseCall(params.call!), false))))
    .add('POST', '/api/modules/:module/pin', json(({ params }) => serialized(() => api.pinModule(params.module!, true))))
    .add('POST', '/api/modules/:module/unpin', json(({ params }) => serialized(() => api.pinModule(params.module!, false))));
}

async function handle(request: IncomingMessage, response: ServerResponse, router: Router, access: Access, onInternalError: (error: unknown) => void): Promise<void> {
  const isApi = (request.url ?? '').startsWith('/api/');
  try {
    const url = parseUrl(request.url);
    const credential = access.authenticate(request, url);
    if (credential === undefined) {
      if (isApi) throw new HttpError(401, 'UNAUTHORIZED', 'This request needs the access token: the cookie set by the URL that `memostrata serve` printed, or the x-memostrata-token header.');
      send(response, 401, 'text/html; charset=utf-8', UNAUTHORIZED_HTML);
      return;
    }
    // The token leaves the address bar (and the history) at once; the cookie keeps it.
    if (credential === 'query' && request.method === 'GET' && !isApi) {
      const given = url.searchParams.get(TOKEN_PARAMETER) ?? '';
      url.searchParams.delete(TOKEN_PARAMETER);
      response.writeHead(302, { Location: `${url.pathname}${url.search}`, 'Set-Cookie': access.cookie(given), 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
      response.end();
      return;
    }
    const match = router.match(request.method ?? '', url.pathname);
    if (match === undefined) throw new HttpError(404, 'NOT_FOUND', `Nothing at ${url.pathname.slice(0, 200)}.`);
    if (!('handler' in match)) {
      response.setHeader('Allow', match.allowed.join(', '));
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed here; use ${match.allowed.join(' or ')}.`);
    }
    if (request.method === 'POST') {
      access.checkWrite(request, credential);
      await drainBody(request);
    }
    await match.handler({ request, response, url, params: match.params });
  } catch (error) {
    const answer = httpErrorOf(error);
    if (answer.status >= 500) onInternalError(error);
    if (response.headersSent) response.destroy();
    else sendError(response, answer);
  }
}

function httpErrorOf(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (isMemostrataError(error, 'INVALID_ARGUMENT')) return new HttpError(400, 'BAD_REQUEST', error.message);
  // The store's own errors say what to do (verify --fix, …): worth showing, and they carry no stack.
  if (isMemostrataError(error)) return new HttpError(500, error.code, error.message);
  return new HttpError(500, 'INTERNAL', 'The inspector failed on this request; its output has the details.');
}

function parseUrl(target: string | undefined): URL {
  if (target === undefined || !target.startsWith('/') || target.length > 8192) throw new HttpError(400, 'BAD_REQUEST', 'The request target is not a path.');
  try {
    return new URL(target, 'http://inspector.invalid');
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'The request target is not a valid URL path.');
  }
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
