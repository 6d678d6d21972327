import type { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { isMemostrataError } from '../errors.js';
import { copyCommands } from './commands/copy.js';
import { diffCommand } from './commands/diff.js';
import { infoCommand } from './commands/info.js';
import { keygenCommand } from './commands/keygen.js';
import { leasesCommand } from './commands/leases.js';
import { lineageCommand } from './commands/lineage.js';
import { lsCommand } from './commands/ls.js';
import { mergeCommand } from './commands/merge.js';
import { migrateCommand } from './commands/migrate.js';
import { pinCommands } from './commands/pin.js';
import { pruneCommand } from './commands/prune.js';
import { rekeyCommand } from './commands/rekey.js';
import { removalCommands } from './commands/rm.js';
import { serveCommand } from './commands/serve.js';
import { showCommand } from './commands/show.js';
import { statsCommand } from './commands/stats.js';
import { transferCommands } from './commands/transfer.js';
import { verifyCommand } from './commands/verify.js';
import { CliError, ExitCode } from './errors.js';

/** The streams the command writes to. */
export interface ProgramIo {
  stdout: Writable;
  stderr: Writable;
}

/** Builds the `memostrata` command with every subcommand. */
export function buildProgram(version: string): Command {
  const program = new Command('memostrata')
    .description('Inspect, maintain and merge memostrata stores (LevelDB, LMDB, Redis).')
    .version(version, '-V, --version')
    .option('--store <path>', 'the store directory, LevelDB or LMDB (read from its files) (default: the config file named by $MEMOSTRATA_CONFIG, else ./.memostrata)')
    .option('--config <file>', 'a memostrata JSON config file naming the store: LevelDB, LMDB or Redis')
    .option('--json', 'machine-readable output on stdout')
    .option('--debug', 'show stack traces on errors')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .exitOverride();
  for (const add of [infoCommand, lsCommand, showCommand, statsCommand, leasesCommand, removalCommands, pinCommands, lineageCommand, pruneCommand, verifyCommand, copyCommands, diffCommand, transferCommands, mergeCommand, migrateCommand, keygenCommand, rekeyCommand, serveCommand]) add(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/**
 * Runs the command line `argv` (without `node` and the script) and returns
 * the exit code. Errors become one line `memostrata: <message>` on stderr
 * (with the stack under `--debug`), and with `--json` also a JSON document
 * `{ "error": { "code", "message", "exitCode" } }` on stdout.
 */
export async function run(argv: readonly string[], version: string, io: ProgramIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const program = buildProgram(version);
  // Commander's own messages ("error: unknown option") become ours.
  program.configureOutput({
    writeOut: (text) => io.stdout.write(text),
    writeErr: (text) => io.stderr.write(text),
    outputError: (text, write) => write(`memostrata: ${text.replace(/^error: /, '')}`),
  });
  for (const command of program.commands) command.configureOutput(program.configureOutput());
  process.exitCode = undefined;
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (error) {
    const json = argv.includes('--json');
    if (error instanceof CommanderError) {
      // Help and --version end through here too, with exit code 0.
      if (error.exitCode === 0) return ExitCode.ok;
      // Commander already wrote its message to stderr; a --json reader still needs its document.
      if (json) io.stdout.write(`${JSON.stringify({ error: { code: 'USAGE', message: error.message.replace(/^error: /, ''), exitCode: ExitCode.error } }, null, 2)}\n`);
      return ExitCode.error;
    }
    const debug = argv.includes('--debug');
    const exitCode = error instanceof CliError ? error.exitCode : ExitCode.error;
    const message = messageOf(error);
    io.stderr.write(`memostrata: ${message}\n`);
    if (debug) io.stderr.write(`${stackOf(error)}\n`);
    else if (!(error instanceof CliError) && !isMemostrataError(error)) io.stderr.write('memostrata: (unexpected error; run again with --debug for the stack trace)\n');
    if (json) {
      const code = isMemostrataError(error) ? error.code : error instanceof CliError ? 'USAGE' : 'INTERNAL';
      io.stdout.write(`${JSON.stringify({ error: { code, message, exitCode } }, null, 2)}\n`);
    }
    return exitCode;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The stack, followed by the stacks of the causes. */
function stackOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth += 1) {
    parts.push(current instanceof Error ? (current.stack ?? `${current.name}: ${current.message}`) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) parts.push('caused by:');
  }
  return parts.join('\n');
}
