import type { Command } from 'commander';
import { CommandContext, type GlobalOptions } from '../context.js';

/**
 * What a command does: it gets the context, then its positional arguments
 * and its own options as commander passes them, and returns the exit code.
 */
export type CommandHandler<A extends unknown[]> = (context: CommandContext, ...args: A) => Promise<number>;

/** Adapts a handler to commander: builds the context from the global options and sets the exit code. */
export function action<A extends unknown[]>(handler: CommandHandler<A>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const context = new CommandContext(command.optsWithGlobals<GlobalOptions>());
    process.exitCode = await handler(context, ...(args.slice(0, -1) as A));
  };
}
