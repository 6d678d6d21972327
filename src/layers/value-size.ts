/**
 * Whether `value` holds more than `limit` bytes of binary or text, counting
 * until it knows: a cheap test, before any encoding, of whether a value is
 * large (its typed arrays and strings, and 8 bytes for anything else).
 */
export function isLarger(value: unknown, limit: number): boolean {
  let budget = limit;
  const visit = (item: unknown, depth: number): boolean => {
    if (typeof item === 'string') budget -= item.length;
    else if (ArrayBuffer.isView(item) || item instanceof ArrayBuffer) budget -= item.byteLength;
    else if (item !== null && typeof item === 'object' && depth < 64) {
      const children = item instanceof Map ? [...item.keys(), ...item.values()] : item instanceof Set ? [...item] : Object.values(item);
      budget -= 8 * children.length;
      for (const child of children) if (visit(child, depth + 1)) return true;
    } else budget -= 8;
    return budget < 0;
  };
  return visit(value, 0);
}
