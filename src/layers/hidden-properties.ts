import { inspect } from 'node:util';

/*
 * Own properties that the key and the stored form of a built-in container
 * would not see: `Object.assign([1, 2], { extra: 'A' })`, the `index`, `input`
 * and `groups` of a RegExp match array, a named property on a typed array,
 * Map, Set, Date, ... Memostrata keys and stores such a value by its elements
 * (or entries, bytes, time) only, so it refuses one that carries more:
 * ignoring data would serve one caller's result to another.
 *
 * The rule matches plain objects': own enumerable string keys count, and any
 * own symbol key is refused.
 *
 * Finding them must not cost a walk over the elements: `Object.keys` of a
 * 1M-element array takes ~200 ms (it makes a string per index), seven times
 * the digest itself. V8 lists only the non-index properties of an array or
 * typed array for `util.inspect` (and for `Object.getOwnPropertySymbols`), so
 * a long one is screened with `inspect` showing no elements (~1 µs whatever
 * its length): every own enumerable property then prints as `key: value`, so
 * output without a ':' proves there is none. Short ones are listed with
 * `Object.keys` (~0.1 µs for 3 elements, ~0.65 µs for 64; `Reflect.ownKeys`
 * takes twice as long). Measured on Node 20.
 */

/** How a kind of container holds its content, which decides what "extra" means. */
export type ContentShape =
  /** An Array: elements at indices, an own `length`. */
  | 'array'
  /** A typed array or Buffer: elements at indices, no own properties. */
  | 'indexed'
  /** Map, Set, Date, DataView, ArrayBuffer: no own properties at all. */
  | 'internal';

/** Containers up to this length are listed with `Reflect.ownKeys`; longer ones are screened with `inspect`. */
const LISTED_LENGTH = 64;

const SCREEN: Parameters<typeof inspect>[1] = {
  depth: 0,
  maxArrayLength: 0,
  maxStringLength: 0,
  customInspect: false,
  getters: false,
  showHidden: false,
  showProxy: false,
  breakLength: Infinity,
};

/** Whether this Node's `inspect` shows the named properties of arrays and typed arrays it does not show elements of; else every check lists keys. */
const SCREEN_WORKS = ((): boolean => {
  const shows = (value: object): boolean => inspect(value, SCREEN).includes(':');
  const array = new Array<number>(LISTED_LENGTH + 1).fill(1);
  const typed = new Float64Array(LISTED_LENGTH + 1);
  if (shows(array) || shows(typed)) return false;
  return shows(Object.assign(array, { x: 1 })) && shows(Object.assign(typed, { x: 1 }));
})();

const isIndexText = /^(?:0|[1-9]\d*)$/;
const propertyIsEnumerable = Object.prototype.propertyIsEnumerable;

/**
 * The first own property of `value` that its key and stored form would miss
 * (an enumerable non-index string key, or any symbol key), or `undefined`.
 */
export function hiddenProperty(value: object, shape: ContentShape): string | symbol | undefined {
  if (shape === 'internal') return Reflect.ownKeys(value).length === 0 ? undefined : firstHidden(value, shape);
  const length = (value as ArrayLike<unknown>).length;
  let clean: boolean;
  if (length <= LISTED_LENGTH || !SCREEN_WORKS) {
    // Keys list indices first, in order: a holey array with a named property can have as many keys as
    // elements, but then its last key is not the last index (and an own '3' would be an element).
    const keys = Object.keys(value);
    clean = keys.length === length && (length === 0 || keys[length - 1] === String(length - 1));
  } else {
    clean = !inspect(value, SCREEN).includes(':');
  }
  return clean && Object.getOwnPropertySymbols(value).length === 0 ? undefined : firstHidden(value, shape);
}

/** The exact answer: walks every own key (slow for long arrays; only when the screen found something). */
function firstHidden(value: object, shape: ContentShape): string | symbol | undefined {
  const length = shape === 'internal' ? 0 : (value as ArrayLike<unknown>).length;
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key === 'symbol') return key;
    if (shape === 'array' && key === 'length') continue;
    if (isIndexText.test(key) && Number(key) < length) continue;
    if (propertyIsEnumerable.call(value, key)) return key;
  }
  return undefined;
}
