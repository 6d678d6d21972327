import { refId, storedUsers } from '../cache/lineage.js';
import type { Store } from '../cache/store.js';
import { isMemostrataError } from '../errors.js';
import type { CallRef, MemoRecord } from '../layers/memo-record.js';
import { findRecords } from './inventory.js';

/** One call in a lineage tree. */
export interface LineageNode {
  /** The module name. */
  module: string;
  /** The call digest (hex). */
  call: string;
  /** What the store holds of it: its record, a record that is damaged, or nothing (removed since, or never stored). */
  state: 'stored' | 'damaged' | 'missing';
  /** The module version it was computed with (stored calls only). */
  version?: string;
  /** When it was stored (ms since the epoch; stored calls only). */
  createdAt?: number;
  /**
   * Why it has no children although it may have some: `'repeated'` when it is
   * shown with them elsewhere in the same tree (a call used along two paths),
   * `'cycle'` when it is one of its own ancestors (a damaged or foreign store),
   * `'depth'` when the tree stops at the depth limit.
   */
  cut?: 'repeated' | 'cycle' | 'depth';
  /** The calls it used (in the `uses` tree) or that used it (in the `usedBy` tree). */
  children: LineageNode[];
}

/** The lineage of one stored call. */
export interface Lineage {
  /** The call itself (its `children` are empty: see the two trees). */
  call: LineageNode;
  /** The calls it was computed from, recursively. */
  uses: LineageNode[];
  /** The calls computed from it, recursively. */
  usedBy: LineageNode[];
}

/** Options of {@link lineageOf}. */
export interface LineageOptions {
  /**
   * How many levels each tree shows at most.
   * @default Infinity
   */
  depth?: number;
}

/**
 * The lineage of each stored call of `module` whose digest starts with
 * `digestPrefix`: the tree of calls it used (from its record's `uses`) and
 * the tree of calls that used it (from the `u!` keys, each checked against
 * the user's record). A call met again in the same tree is shown once with
 * its children and marked `repeated` after that; a call that is its own
 * ancestor is marked `cycle`: both guard the walk, so it ends on any store.
 *
 * @throws MemostrataError `INVALID_ARGUMENT` for a bad module name or digest prefix; `CORRUPT` for a matching record that does not decode.
 */
export async function lineageOf(store: Store, module: string, digestPrefix: string, options: LineageOptions = {}): Promise<Lineage[]> {
  const depth = options.depth ?? Infinity;
  const lineages: Lineage[] = [];
  for (const record of await findRecords(store, module, digestPrefix)) {
    const call = nodeOf({ module: record.module, call: record.call }, record);
    const uses = await tree(store, record.uses ?? [], (_ref, found) => Promise.resolve(found?.uses ?? []), depth, refId(call));
    const usedBy = await tree(store, (await storedUsers(store.proxy, call)).users, async (ref) => (await storedUsers(store.proxy, ref)).users, depth, refId(call));
    lineages.push({ call, uses, usedBy });
  }
  return lineages;
}

/**
 * The stored calls computed from any of `records`, transitively (the records
 * themselves not included), each once, in the order found.
 */
export async function dependentsOf(store: Store, records: readonly MemoRecord[]): Promise<MemoRecord[]> {
  const seen = new Set(records.map(refId));
  const queue: CallRef[] = records.map(({ module, call }) => ({ module, call }));
  const found: MemoRecord[] = [];
  for (let next = 0; next < queue.length; next += 1) {
    for (const user of (await storedUsers(store.proxy, queue[next]!)).users) {
      const id = refId(user);
      if (seen.has(id)) continue;
      seen.add(id);
      queue.push(user);
      let record: MemoRecord | undefined;
      try {
        record = await readRecord(store, user);
      } catch (error) {
        if (!isMemostrataError(error, 'CORRUPT')) throw error;
      }
      // A damaged user record still goes: it may have used the call. It is named by its key alone.
      found.push(record ?? { module: user.module, call: user.call, version: '', deps: '', inputs: [], createdAt: 0, computeMs: 0, size: 0, hits: 0, lastHitAt: 0 });
    }
  }
  return found;
}

type Children = (ref: CallRef, record: MemoRecord | undefined) => Promise<CallRef[]>;

/** The trees under `roots`, children from `childrenOf`; `rootId` counts as the first ancestor. */
async function tree(store: Store, roots: readonly CallRef[], childrenOf: Children, depth: number, rootId: string): Promise<LineageNode[]> {
  const shown = new Set<string>([rootId]);
  const build = async (ref: CallRef, ancestors: ReadonlySet<string>, level: number): Promise<LineageNode> => {
    const id = refId(ref);
    let record: MemoRecord | undefined;
    let damaged = false;
    try {
      record = await readRecord(store, ref);
    } catch (error) {
      if (!isMemostrataError(error, 'CORRUPT')) throw error;
      damaged = true;
    }
    const node = nodeOf(ref, record, damaged);
    if (ancestors.has(id)) return { ...node, cut: 'cycle' };
    if (shown.has(id)) return { ...node, cut: 'repeated' };
    shown.add(id);
    const children = await childrenOf(ref, record);
    if (children.length === 0) return node;
    if (level >= depth) return { ...node, cut: 'depth' };
    const inner = new Set(ancestors).add(id);
    for (const child of children) node.children.push(await build(child, inner, level + 1));
    return node;
  };
  const nodes: LineageNode[] = [];
  for (const root of roots) nodes.push(await build(root, new Set([rootId]), 1));
  return nodes;
}

function nodeOf(ref: CallRef, record: MemoRecord | undefined, damaged = false): LineageNode {
  if (record === undefined) return { module: ref.module, call: ref.call, state: damaged ? 'damaged' : 'missing', children: [] };
  return { module: ref.module, call: ref.call, state: 'stored', version: record.version, createdAt: record.createdAt, children: [] };
}

/** The stored record of `ref`, or `undefined`. @throws MemostrataError `CORRUPT` for a damaged one. */
function readRecord(store: Store, ref: CallRef): Promise<MemoRecord | undefined> {
  return store.proxy.lookup(ref.module, ref.call);
}
