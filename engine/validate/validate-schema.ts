import Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import catalogSchema from '../../schemas/catalog.v1.schema.json' with { type: 'json' };
import factsSchema from '../../schemas/facts.v1.schema.json' with { type: 'json' };
import policySchema from '../../schemas/policy.v1.schema.json' with { type: 'json' };
import { sortDiagnostics } from '../errors/diagnostic.ts';
import { didYouMean } from '../errors/suggest.ts';
import { escapePointerSegment, splitPointer } from '../parse/json-pointer.ts';
import { SourceMap, diagnosticAt, type ProblemAt } from '../parse/source-map.ts';
import type { Diagnostic } from '../types.ts';

/** The documents we have schemas for. */
export type SchemaKind = 'catalog' | 'policy' | 'facts';

const SCHEMAS: Readonly<Record<SchemaKind, object>> = { catalog: catalogSchema, policy: policySchema, facts: factsSchema };

// One private instance: no other code can add keywords or formats to it. `allErrors` so every
// problem is reported in one run; no logger because engine/ never writes to the console.
const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false, logger: false, verbose: true });
const validators = new Map<SchemaKind, ValidateFunction>();

function validatorFor(kind: SchemaKind): ValidateFunction {
  let validator = validators.get(kind);
  if (!validator) {
    validator = ajv.compile(SCHEMAS[kind]);
    validators.set(kind, validator);
  }
  return validator;
}

/** The raw JSON Schema of a kind (the facts schema drives `var` path checks). */
export function schemaOf(kind: SchemaKind): object {
  return SCHEMAS[kind];
}

/**
 * Validate plain data against `schemas/<kind>.v1.schema.json`. Every error becomes a Diagnostic
 * placed through the source map (a misspelt key points at the key), sorted by position.
 */
export function validateSchema(kind: SchemaKind, data: unknown, sourceMap: SourceMap = SourceMap.empty('<inline>')): Diagnostic[] {
  const validator = validatorFor(kind);
  if (validator(data)) return [];
  const seen = new Set<string>();
  const diagnostics: Diagnostic[] = [];
  for (const error of validator.errors ?? []) {
    const problem = problemFromAjvError(error, data);
    if (!problem) continue;
    const identity = `${problem.code}|${problem.pointer}|${problem.message}`;
    if (seen.has(identity)) continue;
    seen.add(identity);
    diagnostics.push(diagnosticAt(sourceMap, problem));
  }
  return sortDiagnostics(diagnostics);
}

function problemFromAjvError(error: ErrorObject, data: unknown): ProblemAt | undefined {
  // Errors inside `propertyNames` are reported once, by the propertyNames error itself.
  if (error.propertyName !== undefined) return undefined;
  const pointer = error.instancePath;
  const where = describePointer(pointer);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'if':
      // The `then` branch's own error says what is missing.
      return undefined;
    case 'additionalProperties': {
      const property = String(params['additionalProperty']);
      const allowed = Object.keys(propertiesOf(error.parentSchema));
      const hint = didYouMean(property, allowed) ?? (allowed.length > 0 ? `allowed here: ${allowed.join(', ')}` : undefined);
      return withHint(
        { code: 'schema_unknown_property', message: `unknown property \`${property}\` in ${where}`, pointer: `${pointer}/${escapePointerSegment(property)}`, target: 'key' },
        hint,
      );
    }
    case 'required': {
      const property = String(params['missingProperty']);
      return { code: 'schema_missing_property', message: `${where} is missing required property \`${property}\``, pointer };
    }
    case 'propertyNames': {
      const name = String(params['propertyName']);
      return { code: 'schema_invalid_value', message: `invalid name \`${name}\` in ${where}`, pointer: `${pointer}/${escapePointerSegment(name)}`, target: 'key' };
    }
    case 'type': {
      const expected = Array.isArray(params['type']) ? (params['type'] as unknown[]).join(' or ') : String(params['type']).replace(',', ' or ');
      return { code: 'schema_wrong_type', message: `${where} must be ${expected}, got ${typeName(valueAt(data, pointer))}`, pointer };
    }
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map((value) => JSON.stringify(value));
      const actual = valueAt(data, pointer);
      const hint = typeof actual === 'string' ? didYouMean(actual, (params['allowedValues'] as unknown[]).map(String)) : undefined;
      return withHint({ code: 'schema_invalid_value', message: `${where} must be one of ${allowed.join(', ')}`, pointer }, hint);
    }
    case 'const':
      return { code: 'schema_invalid_value', message: `${where} must be ${JSON.stringify(params['allowedValue'])}`, pointer };
    default:
      return { code: 'schema_invalid_value', message: `${where} ${error.message ?? 'is invalid'}`, pointer };
  }
}

function withHint(problem: ProblemAt, hint: string | undefined): ProblemAt {
  return hint === undefined ? problem : { ...problem, hint };
}

function propertiesOf(schema: unknown): Record<string, unknown> {
  if (schema && typeof schema === 'object' && 'properties' in schema) {
    const properties = (schema as { properties?: unknown }).properties;
    if (properties && typeof properties === 'object') return properties as Record<string, unknown>;
  }
  return {};
}

/** `/rules/2/require` -> `` `rules[2].require` ``; the root is "the document". */
export function describePointer(pointer: string): string {
  const segments = splitPointer(pointer);
  if (segments.length === 0) return 'the document';
  let text = '';
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) text += `[${segment}]`;
    else text += text === '' ? segment : `.${segment}`;
  }
  return `\`${text}\``;
}

/** The value at a JSON pointer (own properties only), or undefined. */
export function valueAt(data: unknown, pointer: string): unknown {
  let current = data;
  for (const segment of splitPointer(pointer)) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isInteger(value)) return `integer ${value}`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}
