import { TypeRegistry, type TypeDefinition } from '../layers/type-registry.js';

/**
 * An instance of a registered user type, as the CLI sees it: the CLI does not
 * have the user's classes, so it keeps the type's name and its stored plain
 * form. Encoding it again writes exactly what was read, and its digest is the
 * original's (a registered value keys on its name and plain form).
 */
export class OpaqueValue {
  constructor(
    readonly typeName: string,
    readonly plain: unknown,
  ) {}
}

/**
 * A type registry that knows every name: each registered type met in a store
 * decodes to an {@link OpaqueValue}, so the CLI can show, verify, copy and
 * export stores whose values use types only the user's program registers.
 */
export class OpaqueTypes extends TypeRegistry {
  readonly #definitions = new Map<string, TypeDefinition>();

  override forName(name: string): TypeDefinition {
    return super.forName(name) ?? this.#definitionOf(name);
  }

  override forInstance(value: object): TypeDefinition | undefined {
    return value instanceof OpaqueValue ? this.#definitionOf(value.typeName) : super.forInstance(value);
  }

  #definitionOf(name: string): TypeDefinition {
    let definition = this.#definitions.get(name);
    if (definition === undefined) {
      definition = {
        name,
        type: OpaqueValue,
        encode: (value) => (value as OpaqueValue).plain,
        decode: (plain) => new OpaqueValue(name, plain),
      };
      this.#definitions.set(name, definition);
    }
    return definition;
  }
}
