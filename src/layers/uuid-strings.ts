/** UUID strings kept between clears: enough for the values a workload passes again and again, bounded whatever it does. */
const TABLE_LIMIT = 4096;
const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Compact, shared copies of the UUID strings that entries held in memory
 * keep. A UUID built by concatenation is a tree of string pieces in V8 (about
 * 88 bytes once flattened, against 56 for a flat copy), and every record of an
 * equal argument (an options object, a basis name) holds its own copy: a
 * million entries held about 350 bytes of UUID text each. Equal UUIDs seen
 * recently share one flat string; the table is cleared when it fills, so
 * values seen once cost nothing lasting.
 */
export class UuidStrings {
  readonly #table = new Map<string, string>();

  /** A flat string equal to `uuid`, shared with earlier equal ones; anything not a UUID comes back as it is. */
  intern(uuid: string): string {
    const known = this.#table.get(uuid);
    if (known !== undefined) return known;
    if (!UUID_TEXT.test(uuid)) return uuid;
    // A round trip through bytes makes a new sequential string (hex and '-' only, so latin1 is exact).
    const flat = Buffer.from(uuid, 'latin1').toString('latin1');
    if (this.#table.size >= TABLE_LIMIT) this.#table.clear();
    this.#table.set(flat, flat);
    return flat;
  }
}
