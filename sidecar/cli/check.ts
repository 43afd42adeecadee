/**
 * `switchyard check [paths]`: validate catalogs, policies and policy test files without running
 * anything. Every diagnostic is printed as `file:line:col: severity code: message (hint: ...)`.
 *
 * Exit codes: 0 no errors (warnings allowed unless `--strict`); 1 errors found: an invalid
 * policy, catalog or test file is what `check` exists to find, so it is a failure, not a usage
 * error; 2 usage errors (unknown option, a path that does not exist).
 */
import { existsSync, readFileSync } from 'node:fs';
import { checkPolicyTestFile, compileCatalog, compilePolicy, sortDiagnostics, type CatalogSource, type Diagnostic } from '../../engine/index.ts';
import { DEFAULT_CATALOG_PATHS, displayPath, fileKind, findFiles, isYamlFile, loaderFor, readCatalogs } from './files.ts';
import { formatDiagnostics } from './format.ts';
import { EXIT, type Output } from './output.ts';

export interface CheckCommandOptions {
  json?: boolean;
  /** Warnings fail the check too. */
  strict?: boolean;
  /** Catalogs to check policies against when the paths contain none. */
  catalog?: string[];
}

export interface CheckResult {
  files: Array<{ file: string; kind: 'catalog' | 'policy' | 'test' }>;
  diagnostics: Diagnostic[];
}

/** Check every YAML file under `paths` (default `policies/`, or `.` when there is none). */
export function checkPaths(paths: readonly string[], options: CheckCommandOptions): CheckResult {
  const chosen = paths.length > 0 ? paths : existsSync('policies') ? ['policies'] : ['.'];
  const files = findFiles(chosen, isYamlFile);
  const sources = files.map((path) => {
    const text = readFileSync(path, 'utf8');
    return { path, source: { text, file: displayPath(path) } satisfies CatalogSource, kind: fileKind(path, text) };
  });
  const diagnostics: Diagnostic[] = [];

  // Catalog files named (or found) are checked together, as the gateway merges them.
  const catalogSources = sources.filter((entry) => entry.kind === 'catalog').map((entry) => entry.source);
  const fallbackCatalogs = options.catalog && options.catalog.length > 0 ? readCatalogs(options.catalog) : DEFAULT_CATALOG_PATHS.every((path) => existsSync(path)) ? readCatalogs(undefined) : [];
  const catalogResult = compileCatalog(catalogSources.length > 0 ? catalogSources : fallbackCatalogs);
  if (catalogResult.ok) diagnostics.push(...(catalogResult.warnings ?? []));
  else if (catalogSources.length > 0 || fallbackCatalogs.length > 0) diagnostics.push(...catalogResult.diagnostics);

  for (const entry of sources.filter((candidate) => candidate.kind === 'policy')) {
    if (!catalogResult.ok) {
      diagnostics.push({
        code: 'check_catalog_invalid',
        severity: 'error',
        message: 'policy not checked: the catalog it is checked against has errors',
        hint: 'fix the catalog diagnostics first, or pass --catalog',
        file: entry.source.file,
        line: 1,
        column: 1,
      });
      continue;
    }
    const result = compilePolicy(entry.source.text, entry.source.file, catalogResult.value);
    diagnostics.push(...(result.ok ? (result.warnings ?? []) : result.diagnostics));
  }

  const defaultCatalogs = catalogSources.length > 0 ? catalogSources : fallbackCatalogs.length > 0 ? fallbackCatalogs : undefined;
  for (const entry of sources.filter((candidate) => candidate.kind === 'test')) {
    diagnostics.push(...checkPolicyTestFile(entry.source.text, entry.source.file, loaderFor(entry.path), { defaultCatalogs }));
  }

  return { files: sources.map((entry) => ({ file: entry.source.file, kind: entry.kind })), diagnostics: sortDiagnostics(diagnostics) };
}

export async function checkCommand(paths: readonly string[], options: CheckCommandOptions, output: Output): Promise<number> {
  const result = checkPaths(paths, options);
  const errors = result.diagnostics.filter((diagnostic) => diagnostic.severity === 'error').length;
  const warnings = result.diagnostics.length - errors;
  const failed = errors > 0 || (options.strict === true && warnings > 0);
  if (options.json) {
    output.out(JSON.stringify({ ok: !failed, errors, warnings, files: result.files, diagnostics: result.diagnostics }, null, 2));
  } else {
    for (const line of formatDiagnostics(result.diagnostics)) output.out(line);
    const kinds = (kind: string): number => result.files.filter((file) => file.kind === kind).length;
    output.out(
      `checked ${result.files.length} files (${kinds('catalog')} catalogs, ${kinds('policy')} policies, ${kinds('test')} test files): ${errors} errors, ${warnings} warnings`,
    );
  }
  return failed ? EXIT.failures : EXIT.ok;
}
