/**
 * File I/O for the CLI: finding files, reading them, the shipped defaults, and the `LoadText`
 * the pure test runner uses to reach files next to a test file.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { compileCatalog, compilePolicy, type CatalogSource, type CompiledCatalog, type CompiledPolicy, type Diagnostic, type LoadText } from '../../engine/index.ts';

/** The package root (where `policies/` and `schemas/` live). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Catalogs used when a command names none. */
export const DEFAULT_CATALOG_PATHS = [join(PACKAGE_ROOT, 'policies', 'catalog.yaml'), join(PACKAGE_ROOT, 'policies', 'simulated.yaml')];
export const DEFAULT_POLICY_PATH = join(PACKAGE_ROOT, 'policies', 'default.yaml');

/** A problem with the command line or its inputs: exit code 2. */
export class UsageError extends Error {
  /** Problems found in an input file, printed one per line. */
  readonly diagnostics: Diagnostic[];

  constructor(message: string, diagnostics: Diagnostic[] = []) {
    super(message);
    this.diagnostics = diagnostics;
  }
}

/** How a path is shown in messages: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  const shown = relative(process.cwd(), path);
  return shown === '' || shown.startsWith('..') ? path : shown;
}

export function readText(path: string): CatalogSource {
  try {
    return { text: readFileSync(path, 'utf8'), file: displayPath(path) };
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

export function readCatalogs(paths: readonly string[] | undefined): CatalogSource[] {
  const chosen = paths && paths.length > 0 ? paths.map((path) => resolve(path)) : DEFAULT_CATALOG_PATHS;
  return chosen.map(readText);
}

/** A JSON or YAML data file (request, snapshot) as plain data; `-` reads standard input. */
export function readData(path: string, what: string): unknown {
  const source = path === '-' ? { text: readFileSync(0, 'utf8'), file: '<stdin>' } : readText(resolve(path));
  const document = parseDocument(source.text, { prettyErrors: false });
  const error = document.errors[0];
  if (error) throw new UsageError(`${what} ${source.file} does not parse: ${error.message.split('\n')[0] ?? ''}`);
  return document.toJS();
}

/** Files relative to a file's folder; null when missing (the runner reports where it was named). */
export function loaderFor(file: string): LoadText {
  const folder = dirname(resolve(file));
  return (path) => {
    const target = resolve(folder, path);
    if (!existsSync(target) || !statSync(target).isFile()) return null;
    return { text: readFileSync(target, 'utf8'), file: displayPath(target) };
  };
}

/** Every file under the given paths (folders walked recursively) that `accept` keeps, sorted. */
export function findFiles(paths: readonly string[], accept: (name: string) => boolean): string[] {
  const found = new Set<string>();
  const walk = (path: string, named: boolean): void => {
    let stats;
    try {
      stats = statSync(path);
    } catch {
      if (named) throw new UsageError(`no such file or folder: ${path}`);
      return;
    }
    if (stats.isDirectory()) {
      for (const entry of readdirSync(path)) {
        if (entry === 'node_modules' || entry.startsWith('.')) continue;
        walk(join(path, entry), false);
      }
    } else if (named || accept(path)) {
      found.add(resolve(path));
    }
  };
  for (const path of paths) walk(path, true);
  return [...found].sort();
}

export const isYamlFile = (name: string): boolean => /\.ya?ml$/.test(name);
export const isTestFile = (name: string): boolean => /\.test\.ya?ml$/.test(name);

/** What a YAML file holds, by name first and then by its top-level keys. */
export type FileKind = 'test' | 'catalog' | 'policy';

export function fileKind(path: string, text: string): FileKind {
  if (isTestFile(path)) return 'test';
  const document = parseDocument(text, { prettyErrors: false });
  const value: unknown = document.errors.length === 0 ? document.toJS() : null;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    if ('cases' in value) return 'test';
    if (('providers' in value || 'models' in value) && !('rules' in value) && !('version' in value)) return 'catalog';
  }
  return 'policy';
}

export function loadCatalog(catalogPaths: readonly string[] | undefined): CompiledCatalog {
  const catalog = compileCatalog(readCatalogs(catalogPaths));
  if (!catalog.ok) throw new UsageError('the catalog does not compile', catalog.diagnostics);
  return catalog.value;
}

/** A policy compiled against a catalog, or a UsageError carrying the diagnostics. */
export function loadPolicy(policyPath: string | undefined, catalog: CompiledCatalog): CompiledPolicy {
  const source = readText(resolve(policyPath ?? DEFAULT_POLICY_PATH));
  const policy = compilePolicy(source.text, source.file, catalog);
  if (!policy.ok) throw new UsageError(`policy ${source.file} does not compile`, policy.diagnostics);
  return policy.value;
}
