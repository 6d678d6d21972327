import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { MemostrataError } from '../errors.js';
import type { RedisEndpoint, ResolvedRedisOptions, ResolvedRedisTls } from './redis-options.js';
import { indexScript, initializeFormatScript, serverChunkScript, slotScript } from './redis-scripts.js';

/** An argument of a script command. */
export type Argument = Buffer | string | number;

/** The scripts, as ioredis defines them on a connection (see redis-scripts.ts). */
export interface ScriptCommands {
  /** `numkeys, keys…, args…` of {@link serverChunkScript}. */
  memostrataServerChunk(...args: Argument[]): Promise<number>;
  /** `numkeys, keys…, args…` of {@link slotScript}. */
  memostrataSlot(...args: Argument[]): Promise<number>;
  memostrataIndex(index: Buffer, formatEntry: Buffer, ...args: Argument[]): Promise<number>;
  memostrataInitializeFormatBuffer(index: Buffer, formatEntry: Buffer, key: Buffer, value: Buffer): Promise<Buffer | null>;
}

/** A connection to a single server or to a cluster, with the scripts defined. */
export type Client = (Redis | Cluster) & ScriptCommands;

/** What the connection reports about itself, shared with the backend. */
export interface ConnectionState {
  /** The last failure of the connection, for messages; cleared when it is ready again. */
  lastError: Error | undefined;
}

/**
 * Creates the connection (not yet connected) the options name: a `Redis`
 * for a server, a `Cluster` for a `redis+cluster://` URL. Either one fails
 * rather than waits: a command issued while disconnected rejects at once,
 * and one in flight when the connection drops rejects then.
 */
export function createClient(options: ResolvedRedisOptions, state: ConnectionState): Client {
  const { endpoint, connectTimeoutMs, reconnectForMs } = options;
  let everReady = false;
  let lostAt = 0;
  // Opening never retries; a lost connection is retried for a while, then
  // only when an operation asks for it (see RedisBackend's #call).
  const retry = (attempt: number): number | null => {
    if (!everReady) return null;
    if (attempt === 1) lostAt = Date.now();
    if (Date.now() - lostAt >= reconnectForMs) return null;
    return Math.min(50 * 2 ** attempt, 1000);
  };
  const common: RedisOptions = {
    ...credentials(endpoint, options.tls),
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  };
  const client = (
    options.clusterNodes === undefined
      ? new Redis({ ...common, host: endpoint.host, port: endpoint.port, db: endpoint.db, enableOfflineQueue: false, retryStrategy: retry })
      : new Cluster(
          options.clusterNodes.map(({ host, port }) => ({ host, port })),
          {
            lazyConnect: true,
            enableOfflineQueue: false,
            // Commands to different nodes go out together: a chunk's slot groups are one round trip.
            enableAutoPipelining: true,
            // ioredis groups an auto-pipelined command by its first argument, which for these scripts is the key count, not a key.
            autoPipeliningIgnoredCommands: ['memostrataServerChunk', 'memostrataSlot'],
            slotsRefreshTimeout: connectTimeoutMs,
            clusterRetryStrategy: retry,
            redisOptions: common,
          },
        )
  ) as Client;
  // Every failure of the connection is an 'error' event: without this
  // listener one would be thrown as an uncaught exception.
  client.on('error', (error: Error) => {
    state.lastError = error;
  });
  if (client instanceof Cluster) {
    // A cluster that cannot open says only that no node answered (its nodes
    // keep a refused certificate to themselves): ask one node alone why.
    const connect = client.connect.bind(client);
    client.connect = async () => {
      try {
        await connect();
      } catch (error) {
        state.lastError = (await whyNodeFails(common, endpoint)) ?? state.lastError ?? (error as Error);
        throw error;
      }
    };
  }
  client.on('ready', () => {
    everReady = true;
    // A message names what went wrong now, not an error from before a reconnect.
    state.lastError = undefined;
  });
  client.defineCommand('memostrataServerChunk', { lua: serverChunkScript });
  client.defineCommand('memostrataSlot', { lua: slotScript });
  client.defineCommand('memostrataIndex', { lua: indexScript, numberOfKeys: 2 });
  client.defineCommand('memostrataInitializeFormat', { lua: initializeFormatScript, numberOfKeys: 2 });
  return client;
}

/** The error one connection to `node` fails with, or `undefined` if it opens. */
async function whyNodeFails(common: RedisOptions, node: RedisEndpoint): Promise<Error | undefined> {
  const probe = new Redis({ ...common, host: node.host, port: node.port, enableOfflineQueue: false, retryStrategy: () => null });
  let failure: Error | undefined;
  probe.on('error', (error: Error) => (failure ??= error));
  try {
    await probe.connect();
    return undefined;
  } catch (error) {
    return failure ?? (error as Error);
  } finally {
    probe.disconnect();
  }
}

/**
 * A plain connection for SUBSCRIBE: to the server, or to one node of the
 * cluster (Redis Cluster delivers a PUBLISH to subscribers on every node).
 * It retries forever, gently: waiters bound their own waits.
 */
export function createSubscriber(options: ResolvedRedisOptions, node: RedisEndpoint): Redis {
  return new Redis({
    ...credentials(node, options.tls),
    host: node.host,
    port: node.port,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
  });
}

/** TLS options as Node's `tls.connect` takes them: PEM contents as Buffers. */
type TlsOptions = { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string };

function credentials(endpoint: RedisEndpoint, tls: ResolvedRedisTls | undefined): { username?: string; password?: string; tls?: TlsOptions } {
  const asBuffer = (bytes: Uint8Array | undefined): Buffer | undefined => (bytes === undefined ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const connect: TlsOptions = {};
  if (tls?.ca !== undefined) connect.ca = asBuffer(tls.ca);
  if (tls?.cert !== undefined) connect.cert = asBuffer(tls.cert);
  if (tls?.key !== undefined) connect.key = asBuffer(tls.key);
  if (tls?.servername !== undefined) connect.servername = tls.servername;
  return {
    ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
    ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
    ...(endpoint.tls ? { tls: connect } : {}),
  };
}

/** The sockets of a connection (every node's, for a cluster), for ref/unref. */
export function clientSockets(client: Redis | Cluster): { pending?: boolean; ref?: () => void; unref?: () => void }[] {
  const nodes = client instanceof Cluster ? client.nodes() : [client];
  return nodes.flatMap((node) => (node.stream === undefined ? [] : [node.stream as { pending?: boolean; ref?: () => void; unref?: () => void }]));
}

/** Whether `error` says the server (or cluster) could not be reached or did not answer. */
export function isConnectionError(error: Error): boolean {
  const name = error.name;
  return (
    name === 'MaxRetriesPerRequestError' ||
    name === 'AbortError' ||
    /Connection is closed|Stream isn't writeable|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Cluster isn't ready|None of startup nodes|Failed to refresh slots|CLUSTERDOWN|TRYAGAIN/.test(error.message)
  );
}

/** Why opening failed, in words that say what to do. */
export function connectError(shownUrl: string, reason: Error): MemostrataError {
  // A cluster reports that no node answered; the node's own failure says why.
  const nodeError = (reason as { lastNodeError?: unknown }).lastNodeError;
  const cause = nodeError instanceof Error ? nodeError : reason;
  const message = cause.message;
  const code = (cause as NodeJS.ErrnoException).code ?? '';
  const fail = (kind: 'CONFIG' | 'BACKEND', text: string): MemostrataError => new MemostrataError(kind, `The Redis server at ${shownUrl} ${text}`, { cause });
  if (/WRONGPASS|NOAUTH/.test(message)) {
    return fail('CONFIG', `refused the credentials (${message}); check backend.username and backend.password (or the user and password in backend.url).`);
  }
  if (/NOPERM/.test(message)) return aclError(shownUrl, '<prefix>', cause);
  if (/DB index is out of range|invalid DB index/i.test(message)) {
    return fail('CONFIG', `has no such database (${message}); check the number at the end of backend.url.`);
  }
  if (UNTRUSTED_CERTIFICATE.has(code)) {
    return fail('CONFIG', `presented a certificate this client does not trust (${code}: ${message}); set backend.tls.caFile to the PEM file of the CA that signed the server's certificate.`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return fail('CONFIG', `presented a certificate for another name (${message}); connect by a name the certificate carries, or set backend.tls.servername to one of them.`);
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return fail('CONFIG', `presented a certificate that is not valid now (${code}: ${message}); renew the server's certificate (or check this machine's clock).`);
  }
  if (/certificate required|CERTIFICATE_REQUIRED|alert bad certificate|ALERT_BAD_CERTIFICATE|unknown ca|ALERT_UNKNOWN_CA/i.test(message + code)) {
    return fail('CONFIG', `refused this client's certificate (${message}); set backend.tls.certFile and backend.tls.keyFile to a certificate signed by a CA the server trusts (its tls-ca-cert-file).`);
  }
  const tls = /^rediss/.test(shownUrl);
  const reset = /ECONNRESET|Connection is closed|EPIPE/.test(`${message} ${code}`);
  // A TLS port resets a plain client at once, and a plain port never answers
  // a TLS hello. Under TLS 1.3 a server checks the client's certificate only
  // after the handshake: a missing or refused one shows as a reset too.
  const hint = !tls
    ? reset
      ? ' If the server speaks only TLS (its tls-port), use a rediss:// URL.'
      : ''
    : reset
      ? ' If the server asks for client certificates (tls-auth-clients yes), set backend.tls.certFile and backend.tls.keyFile to a certificate signed by a CA it trusts.'
      : ' If the server does not speak TLS, use a redis:// URL.';
  return fail('BACKEND', `is unreachable or not answering (${message}). Start it, or point backend.url at a running server.${hint}`);
}

/** A command the server refused to the ACL user: what to grant, for the store's prefix. */
export function aclError(shownUrl: string, prefix: string, reason: Error): MemostrataError {
  return new MemostrataError(
    'CONFIG',
    `The Redis server at ${shownUrl} refused a command to this ACL user (${reason.message}); grant the user the keys and channel of the prefix ${prefix} and the commands memostrata runs: ACL SETUSER <user> ~${prefix}* &${prefix}* +@all.`,
    { cause: reason },
  );
}

/** Node's codes for a server certificate that no trusted CA vouches for. */
const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
