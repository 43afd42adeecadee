/**
 * The policy test runner: one `*.test.yaml` file in, one report out. Pure: every file it needs
 * (policies, catalogs, requests, snapshots named by path) comes through the injected `LoadText`.
 *
 * Per case: compile the catalog and policy (cached per file), build request facts, evaluate with
 * the case's snapshot, seed and clock, and compare with `expect`. Coverage counts, per policy,
 * how many cases matched each rule and how many exclusions each constraint caused.
 */
import { compileCatalog, type CatalogSource } from '../compile/compile-catalog.ts';
import { compilePolicy } from '../compile/compile-policy.ts';
import { evaluate } from '../evaluate/evaluate.ts';
import { requestFacts } from '../facts/request-facts.ts';
import type { CompiledCatalog, CompiledPolicy, Constraints, Diagnostic, Exclusion, ExclusionCode, Identity, RequestFacts, Result, Snapshot } from '../types.ts';
import { compareOutcome, describeDiagnostic, type CaseOutcome, type ExpectationFailure } from './expectations.ts';
import { expectationNames, parseTestFile, type CaseExpectation, type CaseInputs, type CatalogReference, type PolicyReference, type PolicyTestCase, type PolicyTestFile } from './test-file.ts';
import { parseYamlSource, positionAt, inlineText, type YamlSource } from './yaml-source.ts';

/** Reads a file relative to the test file; the caller does the I/O. Null when missing. */
export type LoadText = (path: string) => { text: string; file: string } | null;

export interface PolicyTestCaseResult {
  note: string;
  passed: boolean;
  /** Where the case starts in the test file. */
  line: number;
  /** Human-readable expected vs actual, when failed. */
  failures: ExpectationFailure[];
  /** What the engine produced (a plan, a no-route error, or diagnostics), for `--json` and explain. */
  outcome?: CaseOutcome;
}

/** Rules and constraints of one policy, with how often cases exercised them. */
export interface PolicyTestCoverage {
  /** Per rule: cases in which it matched. */
  rules: Array<{ policy: string; id: string; hits: number }>;
  /** Per constraint (`require.zdr`, `rules.<id>.require.max_price`): exclusions it caused. */
  constraints: Array<{ policy: string; name: string; hits: number }>;
}

export interface PolicyTestReport {
  file: string;
  /** Problems loading the test file, policy or catalog (then no case ran). */
  diagnostics: Diagnostic[];
  cases: PolicyTestCaseResult[];
  coverage: PolicyTestCoverage;
}

export interface RunPolicyTestOptions {
  /** Catalogs used when neither the file nor the case names one (the shipped catalogs). */
  defaultCatalogs?: readonly CatalogSource[];
  /** Fail cases that state other than exactly one expectation (the decision corpus's rule). */
  singleExpectation?: boolean;
  /** Run only cases whose note contains this text. */
  filter?: string;
}

/** Evaluation time when a case names none: fixed, so budget periods are reproducible. */
export const DEFAULT_NOW = Date.parse('2026-01-15T12:00:00Z');
export const DEFAULT_SEED = 0;

type Compiled<T> = { ok: true; value: T; warnings: Diagnostic[] } | { ok: false; diagnostics: Diagnostic[] };

/** Which constraint of `Constraints` an exclusion reason comes from. */
const CONSTRAINT_OF_REASON: Partial<Record<ExclusionCode, keyof Constraints>> = {
  data_collection: 'data_collection',
  zdr: 'zdr',
  region: 'regions',
  quantization: 'quantization_floor',
  max_price: 'max_price',
  max_request_cost: 'max_request_cost',
  provider_denied: 'providers',
  provider_not_allowed: 'providers',
  budget_exhausted: 'budgets',
  rate_limited: 'respect_rate_limits',
};

/** Neutral facts that `facts:` cases overlay. */
function neutralFacts(identity: Identity): RequestFacts {
  return {
    model: null,
    models: [],
    variants: [],
    tags: [],
    key: identity.key ?? null,
    user: identity.user ?? null,
    team: identity.team ?? null,
    headers: {},
    prompt_tokens: 0,
    max_tokens: null,
    tools: false,
    tool_choice: null,
    response_format: null,
    input_modalities: ['text'],
    stream: false,
    parameters: [],
    provider: {},
    session: null,
  };
}

function factsFromOverlay(overlay: Record<string, unknown>, identity: Identity): RequestFacts {
  const facts = { ...neutralFacts(identity), ...overlay } as RequestFacts;
  if (facts.model !== null && !('models' in overlay)) facts.models = [facts.model];
  if (!('variants' in overlay)) facts.variants = facts.models.map(() => null);
  if (facts.model === null && facts.models.length > 0) facts.model = facts.models[0] ?? null;
  return facts;
}

function toEpoch(now: string | number | undefined): number {
  if (now === undefined) return DEFAULT_NOW;
  return typeof now === 'number' ? now : Date.parse(now);
}

function loadDiagnostic(file: string, position: { line: number; column: number }, message: string, hint?: string): Diagnostic {
  return { code: 'test_load_error', severity: 'error', message, hint, file, line: position.line, column: position.column };
}

/** A compile stage's result; a stage that throws (it never should) becomes a diagnostic, not a crash. */
function asCompiled<T>(stage: () => Result<T>, file: string): Compiled<T> {
  try {
    const result = stage();
    return result.ok ? { ok: true, value: result.value, warnings: result.warnings ?? [] } : { ok: false, diagnostics: result.diagnostics };
  } catch (error) {
    const message = `the engine threw: ${error instanceof Error ? error.message : String(error)}`;
    return { ok: false, diagnostics: [{ code: 'test_engine_error', severity: 'error', message, file, line: 1, column: 1 }] };
  }
}

/** Compiles and caches the catalogs and policies one test file refers to. */
class FileContext {
  readonly #catalogs = new Map<string, Compiled<CompiledCatalog>>();
  readonly #policies = new Map<string, Compiled<CompiledPolicy>>();
  readonly #source: YamlSource;
  readonly #load: LoadText;
  readonly #defaultCatalogs: readonly CatalogSource[] | undefined;

  constructor(source: YamlSource, load: LoadText, defaultCatalogs: readonly CatalogSource[] | undefined) {
    this.#source = source;
    this.#load = load;
    this.#defaultCatalogs = defaultCatalogs;
  }

  /** `path` is where the reference sits in the test file (for inline text and positions). */
  catalog(reference: CatalogReference | undefined, path: Array<string | number>): { key: string; compiled: Compiled<CompiledCatalog> } {
    const key = reference === undefined ? 'default' : typeof reference === 'object' && !Array.isArray(reference) ? `inline:${this.#nodeStart(path)}` : JSON.stringify(reference);
    const cached = this.#catalogs.get(key);
    if (cached) return { key, compiled: cached };
    let compiled: Compiled<CompiledCatalog>;
    if (reference === undefined) {
      compiled = this.#defaultCatalogs
        ? asCompiled(() => compileCatalog(this.#defaultCatalogs ?? []), this.#source.file)
        : { ok: false, diagnostics: [loadDiagnostic(this.#source.file, { line: 1, column: 1 }, 'no catalog: the file names none and no default catalog was given', 'add `catalog: <path>`')] };
    } else if (typeof reference === 'object' && !Array.isArray(reference)) {
      compiled = asCompiled(() => compileCatalog([{ text: inlineText(this.#source, path) ?? '', file: this.#source.file }]), this.#source.file);
    } else {
      const sources: CatalogSource[] = [];
      const missing: Diagnostic[] = [];
      (Array.isArray(reference) ? reference : [reference]).forEach((catalogPath, index) => {
        const loaded = this.#load(catalogPath);
        if (loaded) sources.push(loaded);
        else missing.push(loadDiagnostic(this.#source.file, positionAt(this.#source, Array.isArray(reference) ? [...path, index] : path), `catalog file not found: ${catalogPath}`));
      });
      compiled = missing.length > 0 ? { ok: false, diagnostics: missing } : asCompiled(() => compileCatalog(sources), this.#source.file);
    }
    this.#catalogs.set(key, compiled);
    return { key, compiled };
  }

  policy(reference: PolicyReference | undefined, path: Array<string | number>, catalogKey: string, catalog: CompiledCatalog): Compiled<CompiledPolicy> {
    if (reference === undefined) {
      return { ok: false, diagnostics: [loadDiagnostic(this.#source.file, positionAt(this.#source, path.slice(0, -1)), 'no policy: neither the case nor the file names one', 'add `policy: <path>` at the top of the file')] };
    }
    const inline = typeof reference === 'object';
    const key = `${catalogKey}|${inline ? `inline:${this.#nodeStart(path)}` : reference}`;
    const cached = this.#policies.get(key);
    if (cached) return cached;
    let compiled: Compiled<CompiledPolicy>;
    if (inline) {
      compiled = asCompiled(() => compilePolicy(inlineText(this.#source, path) ?? '', this.#source.file, catalog), this.#source.file);
    } else {
      const loaded = this.#load(reference);
      compiled = loaded
        ? asCompiled(() => compilePolicy(loaded.text, loaded.file, catalog), loaded.file)
        : { ok: false, diagnostics: [loadDiagnostic(this.#source.file, positionAt(this.#source, path), `policy file not found: ${reference}`)] };
    }
    this.#policies.set(key, compiled);
    return compiled;
  }

  /** A request or snapshot: inline, or a YAML/JSON file. */
  data(reference: string | Record<string, unknown>, path: Array<string | number>, what: string): { ok: true; value: unknown } | { ok: false; diagnostics: Diagnostic[] } {
    if (typeof reference !== 'string') return { ok: true, value: reference };
    const loaded = this.#load(reference);
    if (!loaded) return { ok: false, diagnostics: [loadDiagnostic(this.#source.file, positionAt(this.#source, path), `${what} file not found: ${reference}`)] };
    const parsed = parseYamlSource(loaded.text, loaded.file, 'test_parse_error');
    return parsed.diagnostics.length > 0 ? { ok: false, diagnostics: parsed.diagnostics } : { ok: true, value: parsed.value };
  }

  #nodeStart(path: Array<string | number>): string {
    const position = positionAt(this.#source, path);
    return `${position.line}:${position.column}`;
  }
}

/** Counts for coverage, per compiled policy. */
class CoverageCounter {
  readonly #policies = new Map<CompiledPolicy, { rules: Map<string, number>; constraints: Map<string, number> }>();

  #entry(policy: CompiledPolicy): { rules: Map<string, number>; constraints: Map<string, number> } {
    let entry = this.#policies.get(policy);
    if (!entry) {
      const rules = new Map<string, number>();
      const constraints = new Map<string, number>();
      const addConstraints = (prefix: string, require: Constraints | undefined): void => {
        for (const name of Object.keys(require ?? {})) constraints.set(`${prefix}.${name}`, 0);
      };
      addConstraints('require', policy.document.require);
      for (const compiledRule of policy.rules) {
        rules.set(compiledRule.rule.id, 0);
        addConstraints(`rules.${compiledRule.rule.id}.require`, compiledRule.rule.require);
      }
      entry = { rules, constraints };
      this.#policies.set(policy, entry);
    }
    return entry;
  }

  register(policy: CompiledPolicy): void {
    this.#entry(policy);
  }

  record(policy: CompiledPolicy, matchedRules: readonly string[], excluded: readonly Exclusion[]): void {
    const entry = this.#entry(policy);
    for (const rule of new Set(matchedRules)) entry.rules.set(rule, (entry.rules.get(rule) ?? 0) + 1);
    for (const exclusion of excluded) {
      const constraint = CONSTRAINT_OF_REASON[exclusion.reason];
      if (!constraint || exclusion.source === 'request') continue;
      const name = exclusion.source === 'policy' ? `require.${constraint}` : `rules.${exclusion.source}.require.${constraint}`;
      if (entry.constraints.has(name)) entry.constraints.set(name, (entry.constraints.get(name) ?? 0) + 1);
    }
  }

  /** Entries of policies with the same id (a policy inlined in several cases) are added together. */
  report(): PolicyTestCoverage {
    const rules = new Map<string, { policy: string; id: string; hits: number }>();
    const constraints = new Map<string, { policy: string; name: string; hits: number }>();
    for (const [policy, entry] of this.#policies) {
      for (const [id, hits] of entry.rules) {
        const key = `${policy.id}\u0000${id}`;
        const known = rules.get(key);
        if (known) known.hits += hits;
        else rules.set(key, { policy: policy.id, id, hits });
      }
      for (const [name, hits] of entry.constraints) {
        const key = `${policy.id}\u0000${name}`;
        const known = constraints.get(key);
        if (known) known.hits += hits;
        else constraints.set(key, { policy: policy.id, name, hits });
      }
    }
    return { rules: [...rules.values()], constraints: [...constraints.values()] };
  }
}

function failed(note: string, line: number, failures: ExpectationFailure[], outcome?: CaseOutcome): PolicyTestCaseResult {
  return { note, line, passed: false, failures, outcome };
}

function diagnosticsFailure(what: string, diagnostics: Diagnostic[]): ExpectationFailure {
  return { what, expected: 'inputs that load and compile', actual: diagnostics.map(describeDiagnostic) };
}

/** One case's inputs, loaded and compiled: what the engine (or the sidecar's dry-run route) evaluates. */
export interface PreparedCaseInputs {
  policy: CompiledPolicy;
  catalog: CompiledCatalog;
  identity: Identity;
  headers: Record<string, string>;
  snapshot: Snapshot;
  /** Evaluation time, epoch ms. */
  now: number;
  seed: number;
  /** What facts come from: a request body (as a client would send it), or a `facts:` overlay that no body produces. */
  source: { kind: 'request'; body: unknown } | { kind: 'facts'; facts: RequestFacts };
}

/** A case ready to evaluate, or settled without evaluating (compile diagnostics, a load failure). */
export type PreparedPolicyTestCase = { note: string; line: number; expectation: CaseExpectation } & (
  | { inputs: PreparedCaseInputs }
  | { settled: PolicyTestCaseResult }
);

export interface PreparedPolicyTestFile {
  file: string;
  /** Problems loading the test file, policy or catalog (then no case is prepared). */
  diagnostics: Diagnostic[];
  cases: PreparedPolicyTestCase[];
}

/** Facts (from `request` or `facts`) evaluated against the policy: the case's outcome. May throw if the engine does. */
export function evaluatePreparedCase(inputs: PreparedCaseInputs): CaseOutcome {
  let facts: RequestFacts;
  if (inputs.source.kind === 'facts') facts = inputs.source.facts;
  else {
    const result = requestFacts(inputs.source.body, inputs.headers, inputs.identity, { exposeHeaders: inputs.policy.exposeHeaders });
    if (!result.ok) return { kind: 'error', error: { code: result.error.code, status: result.error.status, message: result.error.message } };
    facts = result.facts;
  }
  const result = evaluate(inputs.policy, inputs.catalog, facts, inputs.snapshot, { now: inputs.now, seed: inputs.seed });
  return result.ok ? { kind: 'plan', plan: result.plan } : { kind: 'error', error: result.error };
}

/** Everything before evaluation: expectation count, compile, identity, headers, snapshot, request. */
function prepareCase(
  testCase: PolicyTestCase,
  index: number,
  fileDefaults: { policy?: PolicyReference; catalog?: CatalogReference; defaults: CaseInputs },
  context: FileContext,
  source: YamlSource,
  coverage: CoverageCounter | undefined,
  options: RunPolicyTestOptions,
): PreparedPolicyTestCase {
  const casePath = ['cases', index];
  const line = positionAt(source, casePath).line;
  const note = testCase.note;
  const expectation: CaseExpectation = testCase.expect ?? {};
  const settle = (settled: PolicyTestCaseResult): PreparedPolicyTestCase => ({ note, line, expectation, settled });
  const names = expectationNames(testCase.expect);
  if (names.length === 0) return settle(failed(note, line, [{ what: 'expect', expected: 'at least one expectation', actual: 'none: a case with no expectation proves nothing' }]));
  if (options.singleExpectation && names.length !== 1) {
    return settle(failed(note, line, [{ what: 'expect', expected: 'exactly one expectation', actual: names }]));
  }

  const catalogPath = testCase.catalog !== undefined ? [...casePath, 'catalog'] : ['catalog'];
  const catalog = context.catalog(testCase.catalog ?? fileDefaults.catalog, catalogPath);
  if (!catalog.compiled.ok) {
    const outcome: CaseOutcome = { kind: 'diagnostics', diagnostics: catalog.compiled.diagnostics, compiled: false };
    const failures = names.includes('diagnostics') ? compareOutcome(expectation, outcome) : [diagnosticsFailure('catalog', catalog.compiled.diagnostics)];
    return settle({ note, line, passed: failures.length === 0, failures, outcome });
  }
  const policyPath = testCase.policy !== undefined ? [...casePath, 'policy'] : ['policy'];
  const policy = context.policy(testCase.policy ?? fileDefaults.policy, policyPath, catalog.key, catalog.compiled.value);
  if (!policy.ok || names.includes('diagnostics')) {
    const diagnostics = policy.ok ? policy.warnings : policy.diagnostics;
    const outcome: CaseOutcome = { kind: 'diagnostics', diagnostics, compiled: policy.ok };
    const failures = names.includes('diagnostics') ? compareOutcome(expectation, outcome) : [diagnosticsFailure('policy', diagnostics)];
    return settle({ note, line, passed: failures.length === 0, failures, outcome });
  }
  coverage?.register(policy.value);

  const defaults = fileDefaults.defaults;
  const identity = testCase.identity ?? defaults.identity ?? {};
  const headers = testCase.headers ?? defaults.headers ?? {};
  const snapshotReference = testCase.snapshot ?? defaults.snapshot;
  let snapshot: Snapshot = {};
  if (snapshotReference !== undefined) {
    const loaded = context.data(snapshotReference, testCase.snapshot !== undefined ? [...casePath, 'snapshot'] : ['defaults', 'snapshot'], 'snapshot');
    if (!loaded.ok) return settle(failed(note, line, [diagnosticsFailure('snapshot', loaded.diagnostics)]));
    snapshot = loaded.value as Snapshot;
  }

  let factsSource: PreparedCaseInputs['source'];
  if (testCase.facts !== undefined) factsSource = { kind: 'facts', facts: factsFromOverlay(testCase.facts, identity) };
  else if (testCase.request !== undefined) {
    const body = context.data(testCase.request, [...casePath, 'request'], 'request');
    if (!body.ok) return settle(failed(note, line, [diagnosticsFailure('request', body.diagnostics)]));
    factsSource = { kind: 'request', body: body.value };
  } else {
    return settle(failed(note, line, [{ what: 'request', expected: 'a `request` (or `facts`) to evaluate', actual: 'none' }]));
  }
  const inputs: PreparedCaseInputs = {
    policy: policy.value,
    catalog: catalog.compiled.value,
    identity,
    headers,
    snapshot,
    now: toEpoch(testCase.now ?? defaults.now),
    seed: testCase.seed ?? defaults.seed ?? DEFAULT_SEED,
    source: factsSource,
  };
  return { note, line, expectation, inputs };
}

function runCase(
  testCase: PolicyTestCase,
  index: number,
  fileDefaults: { policy?: PolicyReference; catalog?: CatalogReference; defaults: CaseInputs },
  context: FileContext,
  source: YamlSource,
  coverage: CoverageCounter,
  options: RunPolicyTestOptions,
): PolicyTestCaseResult {
  const prepared = prepareCase(testCase, index, fileDefaults, context, source, coverage, options);
  if ('settled' in prepared) return prepared.settled;
  const { note, line, expectation, inputs } = prepared;
  let produced: CaseOutcome;
  try {
    produced = evaluatePreparedCase(inputs);
  } catch (error) {
    // The engine promises never to throw; when it does, the case fails and says so.
    return failed(note, line, [{ what: 'engine', expected: 'a plan or a typed error', actual: `threw: ${error instanceof Error ? error.message : String(error)}` }]);
  }
  if (produced.kind === 'plan') coverage.record(inputs.policy, produced.plan.matched_rules, produced.plan.excluded);
  if (produced.kind === 'error') coverage.record(inputs.policy, produced.error.matched_rules ?? [], produced.error.excluded ?? []);
  const failures = compareOutcome(expectation, produced);
  return { note, line, passed: failures.length === 0, failures, outcome: produced };
}

type OpenedTestFile =
  | { ok: true; testFile: PolicyTestFile; source: YamlSource; context: FileContext; fileDefaults: { policy?: PolicyReference; catalog?: CatalogReference; defaults: CaseInputs } }
  | { ok: false; diagnostics: Diagnostic[] };

/** Parse a test file; a file-level policy that does not compile stops it, unless cases are about its diagnostics. */
function openTestFile(text: string, file: string, load: LoadText, options: RunPolicyTestOptions): OpenedTestFile {
  const parsed = parseTestFile(text, file);
  if (!parsed.value) return { ok: false, diagnostics: parsed.diagnostics };
  const testFile = parsed.value;
  const context = new FileContext(parsed.source, load, options.defaultCatalogs);
  const fileDefaults = { policy: testFile.policy, catalog: testFile.catalog, defaults: testFile.defaults ?? {} };

  const usesFilePolicy = testFile.cases.filter((testCase) => testCase.policy === undefined);
  if (testFile.policy !== undefined && usesFilePolicy.length > 0 && usesFilePolicy.every((testCase) => testCase.expect?.diagnostics === undefined)) {
    const catalog = context.catalog(testFile.catalog, ['catalog']);
    const diagnostics = catalog.compiled.ok ? undefined : catalog.compiled.diagnostics;
    const policy = catalog.compiled.ok ? context.policy(testFile.policy, ['policy'], catalog.key, catalog.compiled.value) : null;
    const problems = diagnostics ?? (policy && !policy.ok ? policy.diagnostics : undefined);
    if (problems) return { ok: false, diagnostics: problems };
  }
  return { ok: true, testFile, source: parsed.source, context, fileDefaults };
}

/** Run one `*.test.yaml` file. */
export function runPolicyTestFile(text: string, file: string, load: LoadText, options: RunPolicyTestOptions = {}): PolicyTestReport {
  const coverage = new CoverageCounter();
  const opened = openTestFile(text, file, load, options);
  if (!opened.ok) return { file, diagnostics: opened.diagnostics, cases: [], coverage: coverage.report() };
  const cases: PolicyTestCaseResult[] = [];
  opened.testFile.cases.forEach((testCase, index) => {
    if (options.filter !== undefined && !testCase.note.includes(options.filter)) return;
    cases.push(runCase(testCase, index, opened.fileDefaults, opened.context, opened.source, coverage, options));
  });
  return { file, diagnostics: [], cases, coverage: coverage.report() };
}

/**
 * Load and compile every case of a test file without evaluating it: the inputs `runPolicyTestFile`
 * would evaluate, for running the same cases another way (the sidecar's dry-run route over HTTP).
 */
export function preparePolicyTestFile(text: string, file: string, load: LoadText, options: RunPolicyTestOptions = {}): PreparedPolicyTestFile {
  const opened = openTestFile(text, file, load, options);
  if (!opened.ok) return { file, diagnostics: opened.diagnostics, cases: [] };
  const cases: PreparedPolicyTestCase[] = [];
  opened.testFile.cases.forEach((testCase, index) => {
    if (options.filter !== undefined && !testCase.note.includes(options.filter)) return;
    cases.push(prepareCase(testCase, index, opened.fileDefaults, opened.context, opened.source, undefined, options));
  });
  return { file, diagnostics: [], cases };
}

/**
 * Check a test file without running it (`switchyard check`): schema, and that every policy and
 * catalog it names loads and compiles. Policies that cases expect to fail are not errors.
 */
export function checkPolicyTestFile(text: string, file: string, load: LoadText, options: RunPolicyTestOptions = {}): Diagnostic[] {
  const parsed = parseTestFile(text, file);
  if (!parsed.value) return parsed.diagnostics;
  const testFile = parsed.value;
  const context = new FileContext(parsed.source, load, options.defaultCatalogs);
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<Diagnostic>();
  const add = (found: Diagnostic[]): void => {
    for (const diagnostic of found) {
      if (!seen.has(diagnostic)) diagnostics.push(diagnostic);
      seen.add(diagnostic);
    }
  };
  testFile.cases.forEach((testCase, index) => {
    const catalog = context.catalog(testCase.catalog ?? testFile.catalog, testCase.catalog !== undefined ? ['cases', index, 'catalog'] : ['catalog']);
    if (!catalog.compiled.ok) {
      if (testCase.expect?.diagnostics === undefined) add(catalog.compiled.diagnostics);
      return;
    }
    const policy = context.policy(testCase.policy ?? testFile.policy, testCase.policy !== undefined ? ['cases', index, 'policy'] : ['policy'], catalog.key, catalog.compiled.value);
    if (!policy.ok && testCase.expect?.diagnostics === undefined) add(policy.diagnostics);
    if (testCase.expect === undefined || expectationNames(testCase.expect).length === 0) {
      const position = positionAt(parsed.source, ['cases', index]);
      add([{ code: 'test_no_expectation', severity: 'error', message: `case "${testCase.note}" states no expectation`, hint: 'add `expect:`', file, line: position.line, column: position.column }]);
    }
  });
  return diagnostics;
}
