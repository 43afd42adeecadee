import { didYouMean } from '../errors/suggest.ts';
import { schemaOf } from '../validate/validate-schema.ts';

/** A node of the facts JSON Schema (schemas/facts.v1.schema.json). */
export type FactSchema = Readonly<Record<string, unknown>>;

/** Path segments that reach an object's prototype; refused everywhere a path is read. */
export const FORBIDDEN_PATH_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export type FactPathCheck =
  | { ok: true; schema: FactSchema }
  | { ok: false; code: 'condition_forbidden_path' | 'condition_unknown_fact' | 'condition_header_not_exposed'; message: string; hint?: string };

const factsRoot = schemaOf('facts') as FactSchema;

/** The root of the facts schema: the scope of a condition's top-level `var` paths. */
export function factsSchemaRoot(): FactSchema {
  return factsRoot;
}

function resolveReference(schema: FactSchema): FactSchema {
  const reference = schema['$ref'];
  if (typeof reference !== 'string' || !reference.startsWith('#/definitions/')) return schema;
  const definitions = factsRoot['definitions'] as Record<string, FactSchema> | undefined;
  return definitions?.[reference.slice('#/definitions/'.length)] ?? schema;
}

function typesOf(schema: FactSchema): string[] {
  const type = schema['type'];
  if (typeof type === 'string') return [type];
  if (Array.isArray(type)) return type.map(String);
  const values = schema['enum'];
  if (Array.isArray(values)) return [...new Set(values.map((value) => (value === null ? 'null' : typeof value)))];
  return [];
}

/** True when the schema node describes a value a sticky key or comparison can use directly. */
export function isScalarFact(schema: FactSchema): boolean {
  const types = typesOf(schema);
  return types.length > 0 && types.every((type) => type === 'string' || type === 'number' || type === 'integer' || type === 'boolean' || type === 'null');
}

/** Every dot path of the facts schema, for "did you mean" hints. */
function allFactPaths(): string[] {
  const paths: string[] = [];
  const visit = (schema: FactSchema, prefix: string): void => {
    const properties = resolveReference(schema)['properties'] as Record<string, FactSchema> | undefined;
    for (const [name, child] of Object.entries(properties ?? {})) {
      const path = prefix === '' ? name : `${prefix}.${name}`;
      paths.push(path);
      visit(child, path);
    }
  };
  visit(factsRoot, '');
  return paths;
}
const knownPaths = allFactPaths();

/**
 * Check a `var` path against the facts schema. `scope` is the schema the path is relative to:
 * the facts root at the top level, an array's item schema inside `some`/`all`/`none`.
 * `headers.<name>` is a fact only for names the policy lists in `expose_headers`.
 */
export function checkFactPath(path: string, scope: FactSchema, exposeHeaders: ReadonlySet<string>): FactPathCheck {
  if (path === '') return { ok: true, schema: scope };
  const segments = path.split('.');
  const forbidden = segments.find((segment) => FORBIDDEN_PATH_SEGMENTS.has(segment));
  if (forbidden !== undefined) {
    return { ok: false, code: 'condition_forbidden_path', message: `path segment \`${forbidden}\` is not allowed in \`${path}\`` };
  }
  const atRoot = scope === factsRoot;
  let current = resolveReference(scope);
  for (let index = 0; index < segments.length; index += 1) {
    const segment = segments[index] ?? '';
    const types = typesOf(current);
    const properties = current['properties'] as Record<string, FactSchema> | undefined;
    const additional = current['additionalProperties'];
    if (atRoot && index === 1 && segments[0] === 'headers') {
      if (!exposeHeaders.has(segment)) {
        const hint = segment === segment.toLowerCase() ? `add \`${segment}\` to \`expose_headers\`` : `header names are lowercase: \`headers.${segment.toLowerCase()}\``;
        return { ok: false, code: 'condition_header_not_exposed', message: `header \`${segment}\` is not exposed to conditions`, hint };
      }
    }
    if (properties && Object.hasOwn(properties, segment)) {
      current = resolveReference(properties[segment] ?? {});
    } else if (additional && typeof additional === 'object' && !properties) {
      current = resolveReference(additional as FactSchema);
    } else if (types.includes('array') && /^\d+$/.test(segment)) {
      current = resolveReference((current['items'] as FactSchema | undefined) ?? {});
    } else if ((types.includes('array') || types.includes('string')) && segment === 'length') {
      current = { type: 'integer' };
    } else {
      const hint = atRoot
        ? didYouMean(path, knownPaths)
        : 'inside `some` / `all` / `none`, `var` reads the current element: `{var: ""}` is the element itself';
      const result: FactPathCheck = { ok: false, code: 'condition_unknown_fact', message: `\`${path}\` is not a request fact (schemas/facts.v1.schema.json)` };
      if (hint !== undefined) result.hint = hint;
      return result;
    }
  }
  return { ok: true, schema: current };
}

/** The item schema when `schema` is an array, for `some`/`all`/`none` scopes. */
export function itemSchemaOf(schema: FactSchema): FactSchema | undefined {
  const resolved = resolveReference(schema);
  if (!typesOf(resolved).includes('array')) return undefined;
  const items = resolved['items'];
  return items && typeof items === 'object' ? resolveReference(items as FactSchema) : undefined;
}

/**
 * Could a fact described by `schema` ever be strictly equal to `literal`? False means a `===`
 * against it is always false (e.g. `tools === "true"`, `response_format === "json"`).
 */
export function literalFitsSchema(literal: unknown, schema: FactSchema): boolean {
  const resolved = resolveReference(schema);
  const values = resolved['enum'];
  if (Array.isArray(values)) return values.includes(literal);
  const types = typesOf(resolved);
  if (types.length === 0) return true;
  if (literal === null) return types.includes('null');
  if (typeof literal === 'number') return types.includes('number') || (types.includes('integer') && Number.isInteger(literal));
  if (typeof literal === 'string' || typeof literal === 'boolean') return types.includes(typeof literal);
  return true;
}
