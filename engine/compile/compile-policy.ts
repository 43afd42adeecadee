import { ALWAYS, compileCondition } from '../conditions/compile-condition.ts';
import { sortDiagnostics } from '../errors/diagnostic.ts';
import { parseYaml } from '../parse/parse-yaml.ts';
import { diagnosticAt, type ProblemAt, type SourceMap } from '../parse/source-map.ts';
import type { CompiledCatalog, CompiledPolicy, CompiledRule, Diagnostic, PolicyDocument, Result } from '../types.ts';
import { validateSchema } from '../validate/validate-schema.ts';
import { lintPolicy } from './lint-policy.ts';
import { resolvePolicy, type ResolvedPolicy } from './resolve-policy.ts';
import { contentVersion } from './sha256.ts';

/** The named stages of policy compilation, in order. The sidecar reuses the names for spans. */
export type PolicyStageName = 'parse' | 'validate' | 'resolve' | 'conditions' | 'lint';

export interface CompilePolicyOptions {
  /** Stop after a named stage (tests): `parse`, `validate`, `resolve`, `conditions`, `lint`. */
  stopAfter?: PolicyStageName;
}

/** What the stages know so far; each stage reads earlier results and adds its own. */
export interface PolicyCompilationState {
  readonly text: string;
  readonly file: string;
  readonly catalog: CompiledCatalog;
  diagnostics: Diagnostic[];
  /** parse: plain data and positions. */
  data?: unknown;
  sourceMap?: SourceMap;
  /** validate: the data, known to match schemas/policy.v1.schema.json. */
  document?: PolicyDocument;
  /** resolve: defaults applied, references checked. */
  resolved?: ResolvedPolicy;
  /** conditions: rules with compiled `when`. */
  rules?: CompiledRule[];
  /** Assembled once resolve and conditions succeeded; lint reads it. */
  policy?: CompiledPolicy;
}

export interface PolicyStage {
  name: PolicyStageName;
  /** Whether what the stage needs exists. A stage that is not ready is skipped, later ones still run. */
  ready(state: PolicyCompilationState): boolean;
  run(state: PolicyCompilationState): void;
}

const hasErrors = (diagnostics: readonly Diagnostic[]): boolean => diagnostics.some((diagnostic) => diagnostic.severity === 'error');

function place(state: PolicyCompilationState, problems: readonly ProblemAt[]): void {
  const sourceMap = state.sourceMap;
  if (!sourceMap) return;
  for (const problem of problems) state.diagnostics.push(diagnosticAt(sourceMap, problem));
}

function readExposeHeaders(data: unknown): string[] {
  if (data === null || typeof data !== 'object') return [];
  const headers = (data as Record<string, unknown>)['expose_headers'];
  return Array.isArray(headers) ? headers.filter((header): header is string => typeof header === 'string') : [];
}

function readLooseEquality(data: unknown): boolean {
  if (data === null || typeof data !== 'object') return false;
  const options = (data as Record<string, unknown>)['options'];
  return options !== null && typeof options === 'object' && (options as Record<string, unknown>)['loose_equality'] === true;
}

/**
 * The stage table. `conditions` needs only parsed data, so a policy with schema errors still gets
 * its conditions checked and every problem is reported in one run.
 */
export const POLICY_STAGES: readonly PolicyStage[] = [
  {
    name: 'parse',
    ready: () => true,
    run(state) {
      const parsed = parseYaml(state.text, state.file);
      if (!parsed.ok) {
        state.diagnostics.push(...parsed.diagnostics);
        return;
      }
      state.diagnostics.push(...(parsed.warnings ?? []));
      state.data = parsed.value.data;
      state.sourceMap = parsed.value.sourceMap;
    },
  },
  {
    name: 'validate',
    ready: (state) => state.sourceMap !== undefined,
    run(state) {
      const problems = validateSchema('policy', state.data, state.sourceMap);
      state.diagnostics.push(...problems);
      if (problems.length === 0) state.document = state.data as PolicyDocument;
    },
  },
  {
    name: 'resolve',
    ready: (state) => state.document !== undefined,
    run(state) {
      const document = state.document as PolicyDocument;
      const { resolved, problems } = resolvePolicy(document, state.catalog);
      place(state, problems);
      if (!problems.some((problem) => (problem.severity ?? 'error') === 'error')) state.resolved = resolved;
    },
  },
  {
    name: 'conditions',
    ready: (state) => state.sourceMap !== undefined && state.data !== null && typeof state.data === 'object',
    run(state) {
      const data = state.data as Record<string, unknown>;
      const rules = Array.isArray(data['rules']) ? (data['rules'] as unknown[]) : [];
      const options = { exposeHeaders: readExposeHeaders(data), looseEquality: readLooseEquality(data) };
      const compiled: CompiledRule[] = [];
      let failed = false;
      rules.forEach((rule, index) => {
        if (rule === null || typeof rule !== 'object' || !Object.hasOwn(rule, 'when')) {
          compiled.push({ rule: rule as CompiledRule['rule'], when: ALWAYS, location: locate(state, index) });
          return;
        }
        const result = compileCondition((rule as Record<string, unknown>)['when'], options, `/rules/${index}/when`);
        if (!result.ok) {
          failed = true;
          place(state, result.problems);
          return;
        }
        compiled.push({ rule: rule as CompiledRule['rule'], when: result.condition, location: locate(state, index) });
      });
      if (!failed && state.document) state.rules = compiled;
      assemble(state);
    },
  },
  {
    name: 'lint',
    ready: (state) => state.policy !== undefined,
    run(state) {
      place(state, lintPolicy(state.policy as CompiledPolicy, state.catalog, state.sourceMap as SourceMap));
    },
  },
];

function locate(state: PolicyCompilationState, index: number): CompiledRule['location'] {
  const { line, column } = (state.sourceMap as SourceMap).position(`/rules/${index}`);
  return { file: state.file, line, column };
}

function assemble(state: PolicyCompilationState): void {
  const { document, resolved, rules } = state;
  if (!document || !resolved || !rules || hasErrors(state.diagnostics)) return;
  state.policy = {
    id: document.id,
    version: contentVersion(state.text),
    file: state.file,
    document,
    rules,
    ...resolved,
  };
}

/** Everything a compilation found, stage by stage (for tools that want more than ok / not ok). */
export interface PolicyCompilation {
  /** Stages that ran, in order (a stage whose input failed is skipped). */
  stages: PolicyStageName[];
  /** Every problem, sorted by file:line:col. */
  diagnostics: Diagnostic[];
  document?: PolicyDocument;
  policy?: CompiledPolicy;
}

/** Run the stage table up to `stopAfter` (default: all of it). */
export function compilePolicyStages(text: string, file: string, catalog: CompiledCatalog, options: CompilePolicyOptions = {}): PolicyCompilation {
  const state: PolicyCompilationState = { text, file, catalog, diagnostics: [] };
  const stages: PolicyStageName[] = [];
  for (const stage of POLICY_STAGES) {
    if (stage.ready(state)) {
      stages.push(stage.name);
      try {
        stage.run(state);
      } catch (error) {
        // A bug in a stage must not take down the caller (hot reload keeps the last good policy).
        const message = error instanceof Error ? error.message : String(error);
        state.diagnostics.push({ code: 'internal_error', severity: 'error', message: `${stage.name} stage failed: ${message}`, file, line: 1, column: 1 });
        break;
      }
    }
    if (stage.name === options.stopAfter) break;
  }
  const compilation: PolicyCompilation = { stages, diagnostics: sortDiagnostics(state.diagnostics) };
  if (state.document) compilation.document = state.document;
  if (state.policy && !hasErrors(state.diagnostics)) compilation.policy = state.policy;
  return compilation;
}

/**
 * Parse, validate and compile a policy YAML text against a catalog. `ok` with the compiled policy
 * (and any warnings) when there is no error. A `stopAfter` before `conditions` never yields a
 * policy: the result is then `ok: false` with the problems found so far, possibly none.
 */
export function compilePolicy(text: string, file: string, catalog: CompiledCatalog, options: CompilePolicyOptions = {}): Result<CompiledPolicy> {
  const compilation = compilePolicyStages(text, file, catalog, options);
  if (!compilation.policy) return { ok: false, diagnostics: compilation.diagnostics };
  return compilation.diagnostics.length > 0
    ? { ok: true, value: compilation.policy, warnings: compilation.diagnostics }
    : { ok: true, value: compilation.policy };
}
