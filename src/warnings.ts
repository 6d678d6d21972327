/**
 * Process warnings, each said once per code and subject: a loop that meets
 * the same damaged store or unstorable result a million times warns once, and
 * `stats()` counts the rest.
 */
const warned = new Set<string>();

/** Emits `message` as a process warning with `code`, unless one with this code and `subject` was emitted already. */
export function warnOnce(message: string, code: string, subject = ''): void {
  const id = `${code}\u0000${subject}`;
  if (warned.has(id)) return;
  warned.add(id);
  process.emitWarning(message, { code });
}
