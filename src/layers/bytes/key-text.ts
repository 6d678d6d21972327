/** Whether every byte of `key` is printable ASCII, so it can be shown as text. */
export function isPrintable(key: Uint8Array): boolean {
  return key.every((byte) => byte >= 0x20 && byte < 0x7f);
}

/** A store key as text: itself when printable, else `0x` and hex. */
export function keyAsText(key: Uint8Array): string {
  return isPrintable(key) ? Buffer.from(key).toString('latin1') : `0x${Buffer.from(key).toString('hex')}`;
}

/** A key for a message: quoted text when printable, hex otherwise; long keys are cut. */
export function describeKey(key: Uint8Array): string {
  const shown = key.subarray(0, 64);
  const more = key.length > shown.length ? `… (${key.length} bytes)` : '';
  return isPrintable(shown) ? `'${Buffer.from(shown).toString('latin1')}'${more}` : `${keyAsText(shown)}${more}`;
}
