import type { Store } from '../cache/store.js';
import { formatSize } from './format.js';

/** The store's size on disk before and after a command changed it (bytes); `null` for a store not in files. */
export type DiskChange = { before: number; after: number } | null;

/** What a command did, with the change of the store's size on disk. */
export interface Measured<T> {
  result: T;
  disk: DiskChange;
}

/** Runs `work` and measures the store's size on disk around it. */
export async function measuringDisk<T>(store: Store, work: () => Promise<T>): Promise<Measured<T>> {
  const before = await store.backend.sizeOnDisk();
  const result = await work();
  const after = await store.backend.sizeOnDisk();
  return { result, disk: before === undefined || after === undefined ? null : { before, after } };
}

/** `; on disk 15.2 MiB -> 1.1 MiB`, or nothing for a store not in files. */
export function diskChange(disk: DiskChange): string {
  return disk === null ? '' : `; on disk ${formatSize(disk.before)} -> ${formatSize(disk.after)}`;
}
