import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { KEY_BYTES, keyId } from '../../layers/bytes/key-file.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { action } from './action.js';

/** `memostrata keygen <file>`: a new 256-bit key for the encrypt and sign layers. */
export function keygenCommand(program: Command): void {
  program
    .command('keygen')
    .description('write a new random 256-bit key (64 hex characters) to <file>, readable by its owner only, for the encrypt layer (keyFile) or the sign layer (secretFile); never overwrites a file')
    .argument('<file>', 'the key file to make')
    .action(action(keygen));
}

async function keygen(context: CommandContext, file: string): Promise<number> {
  const key = randomBytes(KEY_BYTES);
  try {
    // 'wx': a key file that exists may be the only copy of a store's key.
    writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliError(`${file} exists; keygen never overwrites a key file (it may be the only copy of a store's key). Choose another name.`);
    throw new CliError(`cannot write ${file}: ${(error as Error).message}`);
  }
  const id = Buffer.from(keyId(key)).toString('hex');
  if (context.json) context.printJson({ file, keyId: id });
  else context.print(`wrote a new key to ${file} (key id ${id}); keep a copy in a safe place: without it an encrypted store cannot be read`);
  return 0;
}
