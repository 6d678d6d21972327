import { createInterface } from 'node:readline/promises';
import { CliError } from './errors.js';

/**
 * Asks `question` on the terminal and resolves true for `y` or `yes`. With
 * `yes` it asks nothing. Without a terminal to ask on it refuses (exit 2), so
 * a script never deletes by accident and never hangs on a prompt.
 */
export async function confirm(question: string, yes: boolean | undefined, action: string): Promise<boolean> {
  if (yes === true) return true;
  if (process.stdin.isTTY !== true) {
    throw new CliError(`refusing to ${action} without confirmation: there is no terminal to ask on; pass --yes to ${action}`);
  }
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await terminal.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    terminal.close();
  }
}
