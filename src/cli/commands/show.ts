import type { Command } from 'commander';
import { findRecord } from '../../maintenance/inventory.js';
import type { CommandContext } from '../context.js';
import { formatDuration, formatSize, formatTime } from '../format.js';
import { recordJson, savedMs } from '../record-json.js';
import { withStore } from '../open-store.js';
import { renderValue, summarizeValue } from '../summarize.js';
import { action } from './action.js';

/** `memostrata show <module> <digest-prefix>`: one call's metadata, inputs and result, summarised. */
export function showCommand(program: Command): void {
  program
    .command('show')
    .description('one call: metadata, decoded inputs and result (large arrays summarised)')
    .argument('<module>', 'module name')
    .argument('<digest-prefix>', 'the start of the call digest, as `ls` shows it')
    .action(action(show));
}

async function show(context: CommandContext, module: string, digestPrefix: string): Promise<number> {
  const { record, inputs, result } = await withStore(context.store(), 'existing', async (store) => {
    const found = await findRecord(store, module, digestPrefix);
    return { record: found, ...(await store.proxy.unproxy(found)) };
  });
  if (context.json) {
    context.printJson({
      ...recordJson(record),
      inputs: inputs.map((input) => summarizeValue(input)),
      result: record.error === undefined ? summarizeValue(result) : null,
    });
    return 0;
  }
  const lines = [
    `module    ${record.module}`,
    `version   ${record.version}`,
    ...(record.deps === '' ? [] : [`depends   ${record.deps}`]),
    `call      ${record.call}`,
    `created   ${formatTime(record.createdAt)}`,
    `last hit  ${formatTime(record.lastHitAt)}`,
    `hits      ${record.hits.toLocaleString('en-US')}`,
    `compute   ${formatDuration(record.computeMs)}`,
    `saved     ${formatDuration(savedMs(record))}`,
    `size      ${formatSize(record.size)}`,
    '',
    inputs.length === 0 ? 'inputs    (none)' : 'inputs',
    ...inputs.map((input, index) => renderValue(`[${index}] `, input, '  ')),
  ];
  if (record.error === undefined) lines.push(renderValue('result    ', result));
  else lines.push(`error     ${record.error.name}: ${record.error.message}${record.error.code === undefined ? '' : ` (code ${record.error.code})`}`);
  context.print(lines.join('\n'));
  return 0;
}
