import type { Command } from 'commander';
import { lineageOf, type Lineage, type LineageNode } from '../../maintenance/lineage.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { isoTime } from '../format.js';
import { withStore } from '../open-store.js';
import { action } from './action.js';
import { SHORT_DIGEST } from './ls.js';

interface LineageCliOptions {
  depth?: string;
}

/** `memostrata lineage <module> <digest-prefix>`: the calls a result was computed from, and those computed from it. */
export function lineageCommand(program: Command): void {
  program
    .command('lineage')
    .description('the tree of calls a stored result was computed from, and of the calls computed from it')
    .argument('<module>', 'module name')
    .argument('<digest-prefix>', 'the start of the call digest, as `ls` shows it (every matching call is shown)')
    .option('--depth <levels>', 'show at most this many levels of each tree (default: all)')
    .action(action(lineage));
}

async function lineage(context: CommandContext, module: string, digestPrefix: string, options: LineageCliOptions): Promise<number> {
  const depth = parseDepth(options.depth);
  const lineages = await withStore(context.store(), 'existing', (store) => lineageOf(store, module, digestPrefix, depth === undefined ? {} : { depth }));
  if (lineages.length === 0) throw new CliError(`no calls of module ${module} with a digest starting with ${digestPrefix}; \`memostrata ls ${module}\` lists them`);
  if (context.json) {
    context.printJson(lineages.map(lineageJson));
    return 0;
  }
  context.print(lineages.map(render).join('\n\n'));
  return 0;
}

function parseDepth(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const depth = Number(text);
  if (!Number.isSafeInteger(depth) || depth < 1) throw new CliError(`--depth takes a whole number of levels, 1 or more; got ${JSON.stringify(text)}`);
  return depth;
}

function render({ call, uses, usedBy }: Lineage): string {
  return [
    label(call),
    'computed from:',
    ...(uses.length === 0 ? ['  (no memoized calls recorded)'] : branches(uses, '  ')),
    'used by:',
    ...(usedBy.length === 0 ? ['  (no stored calls)'] : branches(usedBy, '  ')),
  ].join('\n');
}

function branches(nodes: readonly LineageNode[], indent: string): string[] {
  return nodes.flatMap((node, index) => {
    const last = index === nodes.length - 1;
    return [`${indent}${last ? '└─ ' : '├─ '}${label(node)}`, ...branches(node.children, `${indent}${last ? '   ' : '│  '}`)];
  });
}

const CUT_NOTE = { repeated: ' (shown above)', cycle: ' (cycle: one of its own ancestors)', depth: ' (…: deeper than --depth)' } as const;

function label(node: LineageNode): string {
  const version = node.version === undefined ? '' : ` v${node.version}`;
  const state = node.state === 'stored' ? '' : node.state === 'missing' ? ' [not stored]' : ' [damaged record]';
  return `${node.module}${version} ${node.call.slice(0, SHORT_DIGEST)}${state}${node.cut === undefined ? '' : CUT_NOTE[node.cut]}`;
}

/** The JSON form of a tree node: times as ISO text, absent fields omitted. */
function nodeJson(node: LineageNode): Record<string, unknown> {
  return {
    module: node.module,
    call: node.call,
    state: node.state,
    ...(node.version === undefined ? {} : { version: node.version }),
    ...(node.createdAt === undefined ? {} : { createdAt: isoTime(node.createdAt) }),
    ...(node.cut === undefined ? {} : { cut: node.cut }),
    children: node.children.map(nodeJson),
  };
}

function lineageJson({ call, uses, usedBy }: Lineage): Record<string, unknown> {
  const { children: _, ...self } = nodeJson(call);
  return { ...self, uses: uses.map(nodeJson), usedBy: usedBy.map(nodeJson) };
}
