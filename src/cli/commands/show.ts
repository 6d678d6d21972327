import type { Command } from 'commander';
import { CodeVersionTally } from '../../maintenance/code-versions.js';
import { rawRecords } from '../../maintenance/common.js';
import { findRecord } from '../../maintenance/inventory.js';
import type { CommandContext } from '../context.js';
import { formatDuration, formatSize, formatTime } from '../format.js';
import { recordJson, savedMs } from '../record-json.js';
import { withStore } from '../open-store.js';
import { showableValue } from '../stored-outline.js';
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

/** Whether the call's code is the module's current code, in words. */
function versionNote(version: string, currentVersion: string, stale: boolean): string {
  if (!stale) return ' (current)';
  const why = version === currentVersion ? 'older dependencies' : `the module's current version is ${currentVersion}`;
  return ` (older code: ${why}; prune --stale-versions removes this call)`;
}

async function show(context: CommandContext, module: string, digestPrefix: string): Promise<number> {
  const { record, inputs, result, currentVersion, stale } = await withStore(context.store(), 'existing', async (store) => {
    const found = await findRecord(store, module, digestPrefix);
    // The module's records' metadata (no results): is this call's code the module's current code?
    const tally = new CodeVersionTally();
    for await (const other of rawRecords(store, found.module)) tally.add(other);
    const current = (await tally.current(store)).get(found.module) ?? { version: found.version, deps: found.deps };
    // Large values are summarised a window at a time where they are stored, never loaded whole.
    const inputs = await Promise.all(found.inputs.map((uuid) => showableValue(store, uuid)));
    const result = found.result === undefined ? undefined : await showableValue(store, found.result);
    return { record: found, currentVersion: current.version, stale: current.version !== found.version || current.deps !== found.deps, inputs, result };
  });
  if (context.json) {
    context.printJson({
      ...recordJson(record),
      currentVersion,
      stale,
      inputs: inputs.map((input) => summarizeValue(input)),
      result: record.error === undefined ? summarizeValue(result) : null,
    });
    return 0;
  }
  const lines = [
    `module    ${record.module}`,
    `version   ${record.version}${versionNote(record.version, currentVersion, stale)}`,
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
