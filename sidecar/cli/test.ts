/**
 * `switchyard test [paths]`: run `*.test.yaml` policy test files. Prints each failing case with
 * expected vs actual, optional coverage, and a closing line `N passed, N failed`.
 *
 * Exit codes: 0 every case passed; 1 a case failed; 2 usage error, no test file found, or a test
 * file (or the policy/catalog it names) that does not load or compile.
 */
import { existsSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { runPolicyTestFile, type CatalogSource, type PolicyTestReport } from '../../engine/index.ts';
import { DEFAULT_CATALOG_PATHS, displayPath, findFiles, isTestFile, loaderFor, readCatalogs, UsageError } from './files.ts';
import { formatDiagnostics, formatFailure, formatNoRoute } from './format.ts';
import { junitXml } from './junit.ts';
import { EXIT, type Output } from './output.ts';

export interface TestCommandOptions {
  json?: boolean;
  coverage?: boolean;
  watch?: boolean;
  /** Only cases whose note contains this text. */
  filter?: string;
  /** List passing cases too. */
  verbose?: boolean;
  /** Catalogs for files that name none (default: the shipped ones). */
  catalog?: string[];
  /** Also write a JUnit XML report to this file. */
  junit?: string;
}

export interface TestRunSummary {
  reports: PolicyTestReport[];
  passed: number;
  failed: number;
  /** Files that did not load or compile. */
  broken: number;
}

function defaultCatalogs(paths: string[] | undefined): CatalogSource[] | undefined {
  if (paths && paths.length > 0) return readCatalogs(paths);
  return DEFAULT_CATALOG_PATHS.every((path) => existsSync(path)) ? readCatalogs(undefined) : undefined;
}

/** No paths: `policies/` when there is one (the shipped tests), else the working directory. */
function defaultPaths(paths: readonly string[]): readonly string[] {
  if (paths.length > 0) return paths;
  return existsSync('policies') ? ['policies'] : ['.'];
}

/** Run every test file under `paths`; no printing. */
export function runTestFiles(paths: readonly string[], options: TestCommandOptions): TestRunSummary {
  const chosen = defaultPaths(paths);
  const files = findFiles(chosen, isTestFile);
  if (files.length === 0) throw new UsageError(`no *.test.yaml files under ${chosen.join(', ')}`);
  const catalogs = defaultCatalogs(options.catalog);
  const summary: TestRunSummary = { reports: [], passed: 0, failed: 0, broken: 0 };
  for (const path of files) {
    const report = runPolicyTestFile(readFileSync(path, 'utf8'), displayPath(path), loaderFor(path), {
      defaultCatalogs: catalogs,
      filter: options.filter,
    });
    summary.reports.push(report);
    if (report.diagnostics.length > 0) summary.broken += 1;
    for (const result of report.cases) {
      if (result.passed) summary.passed += 1;
      else summary.failed += 1;
    }
  }
  return summary;
}

function printHuman(summary: TestRunSummary, options: TestCommandOptions, output: Output): void {
  for (const report of summary.reports) {
    if (report.diagnostics.length > 0) {
      output.out(`ERROR ${report.file}: did not load; no case ran`);
      for (const line of formatDiagnostics(report.diagnostics)) output.out(`    ${line}`);
      continue;
    }
    for (const result of report.cases) {
      if (result.passed) {
        if (options.verbose) output.out(`PASS ${result.note}`);
        continue;
      }
      output.out(`FAIL ${result.note} (${report.file}:${result.line})`);
      for (const failure of result.failures) for (const line of formatFailure(failure, '    ')) output.out(line);
      const outcome = result.outcome;
      if (outcome?.kind === 'plan') output.out(`    actual plan: ${outcome.plan.attempts.map((attempt) => attempt.endpoint).join(' -> ') || '(no attempts)'}`);
      if (outcome?.kind === 'error') output.out(`    actual: ${formatNoRoute(outcome.error)[0] ?? ''}`);
    }
  }
  if (options.coverage) {
    const rules = summary.reports.flatMap((report) => report.coverage.rules);
    const constraints = summary.reports.flatMap((report) => report.coverage.constraints);
    const name = (policy: string, id: string): string => `${policy}: ${id}`;
    const unmatched = rules.filter((rule) => rule.hits === 0).map((rule) => name(rule.policy, rule.id));
    const unused = constraints.filter((constraint) => constraint.hits === 0).map((constraint) => name(constraint.policy, constraint.name));
    output.out('');
    output.out(`coverage: ${rules.length - unmatched.length}/${rules.length} rules matched in some case, ${constraints.length - unused.length}/${constraints.length} constraints excluded something`);
    if (unmatched.length > 0) output.out(`  rules no case matched: ${unmatched.join(', ')}`);
    if (unused.length > 0) output.out(`  constraints that never excluded a candidate: ${unused.join(', ')}`);
  }
  const failed = summary.failed + summary.broken;
  output.out(`${summary.passed} passed, ${failed} failed`);
}

function exitCode(summary: TestRunSummary): number {
  if (summary.broken > 0) return EXIT.usage;
  return summary.failed > 0 ? EXIT.failures : EXIT.ok;
}

function runOnce(paths: readonly string[], options: TestCommandOptions, output: Output): number {
  const summary = runTestFiles(paths, options);
  if (options.junit) {
    try {
      writeFileSync(options.junit, junitXml(summary.reports));
    } catch (error) {
      throw new UsageError(`cannot write ${options.junit}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  if (options.json) {
    output.out(
      JSON.stringify(
        {
          passed: summary.passed,
          failed: summary.failed + summary.broken,
          files: summary.reports.map((report) => ({
            file: report.file,
            diagnostics: report.diagnostics,
            cases: report.cases.map((result) => ({
              note: result.note,
              line: result.line,
              passed: result.passed,
              failures: result.failures,
              ...(result.passed ? {} : { outcome: result.outcome }),
            })),
            ...(options.coverage ? { coverage: report.coverage } : {}),
          })),
        },
        null,
        2,
      ),
    );
  } else {
    printHuman(summary, options, output);
  }
  return exitCode(summary);
}

export async function testCommand(paths: readonly string[], options: TestCommandOptions, output: Output): Promise<number> {
  let code = runOnce(paths, options, output);
  if (!options.watch) return code;
  // Re-run on any change under the paths; a burst of saves becomes one run.
  output.out('watching for changes (Ctrl-C to stop)');
  let timer: NodeJS.Timeout | undefined;
  const watchers = defaultPaths(paths).map((path) =>
    watch(path, { recursive: true }, (_event, name) => {
      // Only inputs count: a report written next to the tests must not trigger another run.
      if (name !== null && !/\.(ya?ml|json|jsonl)$/.test(String(name))) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        output.out(`\n--- ${new Date().toISOString()} ---`);
        try {
          code = runOnce(paths, options, output);
        } catch (error) {
          output.error(error instanceof Error ? error.message : String(error));
        }
      }, 150);
    }),
  );
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  for (const watcher of watchers) watcher.close();
  clearTimeout(timer);
  return code;
}
