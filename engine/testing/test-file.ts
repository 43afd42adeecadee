/**
 * The policy test file (`*.test.yaml`, schemas/policy-test.v1.schema.json): its types, and parse +
 * validate with positions.
 */
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Diagnostic, Identity } from '../types.ts';
import testFileSchema from '../../schemas/policy-test.v1.schema.json' with { type: 'json' };
import { parseYamlSource, pointerPath, positionAt, type YamlSource } from './yaml-source.ts';

/** A path relative to the test file, or an inline document. */
export type PolicyReference = string | Record<string, unknown>;
export type CatalogReference = string | string[] | Record<string, unknown>;

/** Attempt order: a list is exact; `prefix` is how the plan starts; `contains` is a relative order. */
export type AttemptsExpectation = string[] | { exact: string[] } | { prefix: string[] } | { contains: string[] };

export interface ExcludedExpectation {
  provider?: string;
  endpoint?: string;
  reason: string;
  source?: string;
}

export interface DiagnosticExpectation {
  code: string;
  line?: number;
  column?: number;
  severity?: 'error' | 'warning';
}

/** Everything a case can assert. */
export interface CaseExpectation {
  first_provider?: string;
  first_model?: string;
  attempts?: AttemptsExpectation;
  excluded?: ExcludedExpectation[];
  error?: { code: string; status?: number; message?: string };
  matched_rules?: string[];
  ordering?: string;
  strategy?: string;
  diagnostics?: DiagnosticExpectation[];
}

export interface CaseInputs {
  headers?: Record<string, string>;
  identity?: Identity;
  snapshot?: string | Record<string, unknown>;
  seed?: number;
  now?: string | number;
}

export interface PolicyTestCase extends CaseInputs {
  note: string;
  policy?: PolicyReference;
  catalog?: CatalogReference;
  request?: string | Record<string, unknown>;
  facts?: Record<string, unknown>;
  expect?: CaseExpectation;
}

export interface PolicyTestFile {
  policy?: PolicyReference;
  catalog?: CatalogReference;
  defaults?: CaseInputs;
  cases: PolicyTestCase[];
}

export interface ParsedTestFile {
  source: YamlSource;
  /** Null when the file did not parse or validate; see `diagnostics`. */
  value: PolicyTestFile | null;
  diagnostics: Diagnostic[];
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const validateTestFile = addFormats(new Ajv({ allErrors: true, strict: false })).compile<PolicyTestFile>(testFileSchema);

/** Parse and validate a test file; every problem reported with its line and column. */
export function parseTestFile(text: string, file: string): ParsedTestFile {
  const source = parseYamlSource(text, file, 'test_parse_error');
  if (source.diagnostics.length > 0) return { source, value: null, diagnostics: source.diagnostics };
  if (validateTestFile(source.value)) return { source, value: source.value, diagnostics: [] };
  const seen = new Set<string>();
  const diagnostics: Diagnostic[] = [];
  for (const error of validateTestFile.errors ?? []) {
    // oneOf branches repeat the same complaint; report the most specific once per place.
    if (error.keyword === 'oneOf' || error.keyword === 'if') continue;
    const extra = error.keyword === 'additionalProperties' ? ` \`${String(error.params['additionalProperty'])}\`` : '';
    const pointer = error.keyword === 'additionalProperties' ? `${error.instancePath}/${String(error.params['additionalProperty'])}` : error.instancePath;
    const key = `${pointer}|${error.message ?? ''}${extra}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const position = positionAt(source, pointerPath(pointer), error.keyword === 'additionalProperties' ? 'key' : 'value');
    diagnostics.push({
      code: 'test_schema_error',
      severity: 'error',
      message: `${error.instancePath || '/'} ${error.message ?? 'is invalid'}${extra}`,
      hint: error.keyword === 'additionalProperties' ? 'check the spelling; see schemas/policy-test.v1.schema.json' : undefined,
      file,
      line: position.line,
      column: position.column,
      pointer,
    });
  }
  return { source, value: null, diagnostics };
}

/** Names of the expectations a case states (keys of `expect` with a value). */
export function expectationNames(expectation: CaseExpectation | undefined): Array<keyof CaseExpectation> {
  if (!expectation) return [];
  return (Object.keys(expectation) as Array<keyof CaseExpectation>).filter((name) => expectation[name] !== undefined);
}
