import type { Command } from 'commander';
import { DEFAULT_FULL_READ_BYTES, DEFAULT_MAX_VALUE_BYTES, startInspector } from '../../inspector/server.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { parseSize } from '../format.js';
import { openCliStore } from '../open-store.js';
import { action } from './action.js';

interface ServeOptions {
  port: string;
  host: string;
  allowWrite?: boolean;
  maxValueBytes?: string;
  fullReadBytes?: string;
}

/** The port `serve` listens on unless told. */
export const DEFAULT_PORT = 8765;

/** `memostrata serve`: the web inspector, until interrupted. */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('start the web inspector on the store: prints one URL with an access token; runs until Ctrl-C')
    .option('--port <n>', 'port to listen on (0 picks a free one)', String(DEFAULT_PORT))
    .option('--host <address>', 'address to listen on; anything but loopback lets other machines reach it', '127.0.0.1')
    .option('--allow-write', 'enable the actions that change the store (delete an entry, clear a module, pin/unpin)')
    .option('--max-value-bytes <size>', 'values stored whole (not as blobs) larger than this are not loaded for a preview (e.g. 64M)')
    .option('--full-read-bytes <size>', 'arrays of large values larger than this are summarised from sampled windows unless a page asks for all (e.g. 1G)', '256M')
    .action(action(serve));
}

async function serve(context: CommandContext, options: ServeOptions): Promise<number> {
  const port = /^\d{1,5}$/.test(options.port) ? Number(options.port) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new CliError(`--port takes a port number from 0 to 65535; got '${options.port}'`);
  const maxValueBytes = options.maxValueBytes === undefined ? DEFAULT_MAX_VALUE_BYTES : parseSize(options.maxValueBytes, '--max-value-bytes');
  const fullReadBytes = options.fullReadBytes === undefined ? DEFAULT_FULL_READ_BYTES : parseSize(options.fullReadBytes, '--full-read-bytes');
  // Opened before the server starts: a missing, locked or damaged store fails here, as in every other command.
  const store = await openCliStore(context.store(), 'existing');
  let inspector;
  try {
    inspector = await startInspector(store, {
      host: options.host,
      port,
      allowWrite: options.allowWrite === true,
      maxValueBytes,
      fullReadBytes,
      onInternalError: (error) => process.stderr.write(`memostrata serve: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`),
    });
  } catch (error) {
    await store.proxy.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} on ${options.host} is in use; pass --port <another>, or --port 0 for a free one`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new CliError(`cannot listen on ${options.host}: no such local address`);
    throw error;
  }
  if (context.json) context.printJson({ url: inspector.url, origin: inspector.origin, store: store.location, allowWrite: options.allowWrite === true });
  else {
    context.print(`memostrata inspector for ${store.location}${options.allowWrite === true ? ' (writes enabled)' : ' (read-only)'}`);
    context.print(`open ${inspector.url}`);
    context.print('press Ctrl-C to stop');
  }
  await interrupted();
  await inspector.close();
  await store.proxy.close();
  return 0;
}

/** Resolves at the first SIGINT or SIGTERM. */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
