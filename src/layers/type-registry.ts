import { MemostrataError } from '../errors.js';

/**
 * How to key and store instances of a user class. `encode` turns an instance
 * into a supported plain value (numbers, strings, arrays, objects, typed
 * arrays, …); `decode` rebuilds the instance from that value.
 *
 * @typeParam T - the class's instance type.
 * @typeParam P - the plain form.
 *
 * @category User types
 */
export interface TypeDefinition<T = unknown, P = unknown> {
  /** A stable name, written into the store; never reuse one for another type. */
  name: string;
  /** The class. Only instances whose constructor is exactly this class match. */
  type: abstract new (...args: never[]) => T;
  /** Instance to plain value. Must be deterministic: equal instances give equal plain values. */
  encode(value: T): P;
  /** Plain value back to an instance. */
  decode(plain: P): T;
}

/**
 * The types that memostrata can key and store beyond its built-in ones.
 *
 * @category User types
 */
export class TypeRegistry {
  readonly #byName = new Map<string, TypeDefinition>();
  readonly #byClass = new Map<Function, TypeDefinition>();

  /**
   * Registers a type. Registering the same name for the same class again is a
   * no-op; a name or class that is already taken by another registration throws `CONFIG`.
   */
  register<T, P>(definition: TypeDefinition<T, P>): void {
    const { name, type, encode, decode } = definition;
    if (typeof name !== 'string' || name.length === 0) throw new MemostrataError('CONFIG', 'registerType() needs a non-empty string `name`.');
    if (typeof type !== 'function') throw new MemostrataError('CONFIG', `registerType('${name}') needs \`type\`, the class.`);
    if (typeof encode !== 'function' || typeof decode !== 'function') {
      throw new MemostrataError('CONFIG', `registerType('${name}') needs \`encode\` and \`decode\` functions.`);
    }
    const sameName = this.#byName.get(name);
    const sameClass = this.#byClass.get(type);
    if (sameName !== undefined && sameName.type === type) return;
    if (sameName !== undefined) throw new MemostrataError('CONFIG', `The type name '${name}' is already registered for class ${sameName.type.name}.`);
    if (sameClass !== undefined) throw new MemostrataError('CONFIG', `Class ${type.name} is already registered as '${sameClass.name}'.`);
    const stored = definition as unknown as TypeDefinition;
    this.#byName.set(name, stored);
    this.#byClass.set(type, stored);
  }

  /** The registration for an instance's exact class, if any. */
  forInstance(value: object): TypeDefinition | undefined {
    return this.#byClass.get((value as { constructor?: Function }).constructor as Function);
  }

  /** The registration with this name, if any. */
  forName(name: string): TypeDefinition | undefined {
    return this.#byName.get(name);
  }

  /** Every registered name. */
  names(): string[] {
    return [...this.#byName.keys()];
  }
}

/**
 * The process-wide registry used unless a cache is given its own.
 *
 * @category User types
 */
export const defaultTypes = new TypeRegistry();

/**
 * Registers a user class so that its instances can be arguments and results
 * of memoized functions. Register it in every process that reads the store,
 * under the same name.
 *
 * @example
 * ```ts
 * registerType({
 *   name: 'chem.Molecule',
 *   type: Molecule,
 *   encode: (m) => ({ symbols: m.symbols, coords: m.coords }),
 *   decode: (p) => new Molecule(p.symbols, p.coords),
 * });
 * ```
 *
 * @category User types
 */
export function registerType<T, P>(definition: TypeDefinition<T, P>): void {
  defaultTypes.register(definition);
}
