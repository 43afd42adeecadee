/**
 * Hot reload of the policy and catalog files.
 *
 * The directories holding the files are watched (not the files: a Kubernetes ConfigMap volume
 * swaps its `..data` symlink to a new timestamped directory, and editors replace files by rename;
 * neither shows up on a watch of the old file). Events are debounced, the files re-read and
 * fingerprinted (no change, no reload), then parsed, validated and compiled with the engine's
 * `compileCatalog`/`compilePolicy` in the watcher's callback, never on a request. Only a fully
 * compiled pair replaces the one in force, by swapping one reference in `RoutingHolder`, so a
 * request sees the old pair or the new one, never a mix. An invalid update is rejected: its
 * diagnostics are logged, counted in `switchyard_policy_reloads_total{result="failure"}` and shown
 * by `GET /api/v1/policy`, and the last good version keeps serving.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Request, Response } from 'express';
import { compileCatalog, compilePolicy, formatDiagnostic, type CatalogSource, type CompiledCatalog, type CompiledPolicy, type Diagnostic } from '../../engine/index.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from './metrics.ts';

/** The compiled policy and catalog in force (the shape `createApp`'s `routing.current()` returns). */
export interface LoadedRouting {
  policy: CompiledPolicy;
  catalog: CompiledCatalog;
}

/** Holds the routing state in force; `current()` is what request handlers call. */
export class RoutingHolder {
  #state: LoadedRouting;

  constructor(initial: LoadedRouting) {
    this.#state = initial;
  }

  current(): LoadedRouting {
    return this.#state;
  }

  /** One reference assignment: readers see the old state or the new one. */
  swap(next: LoadedRouting): void {
    this.#state = next;
  }
}

export interface RoutingFiles {
  /** Catalog files, merged in order. */
  catalogFiles: readonly string[];
  policyFile: string;
}

export type ReadText = (path: string) => Promise<string>;

/** What one load produced: a compiled pair, or the stage that failed and why. */
export type LoadOutcome =
  | { ok: true; state: LoadedRouting; warnings: Diagnostic[]; fingerprint: string; catalogFingerprint: string }
  | { ok: false; kind: 'catalog' | 'policy'; diagnostics: Diagnostic[]; fingerprint: string; catalogFingerprint: string };

function hashOf(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}:${part}`);
  return hash.digest('hex');
}

function unreadable(file: string, error: unknown): Diagnostic {
  const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
  return { code: 'policy_file_unreadable', severity: 'error', message: `${file} ${reason}`, file, line: 1, column: 1 };
}

/** Read and compile the catalog files and the policy. Pure apart from `readText`. */
export async function loadRouting(files: RoutingFiles, readText: ReadText = (path) => readFile(path, 'utf8')): Promise<LoadOutcome> {
  const texts = await Promise.all(
    [...files.catalogFiles, files.policyFile].map(async (file) => {
      try {
        return { file, text: await readText(file) };
      } catch (error) {
        return { file, error: unreadable(file, error) };
      }
    }),
  );
  const catalogTexts = texts.slice(0, files.catalogFiles.length);
  const policyText = texts[texts.length - 1]!;
  const catalogFingerprint = hashOf(catalogTexts.flatMap((entry) => [entry.file, entry.text ?? '<unreadable>']));
  const fingerprint = hashOf([catalogFingerprint, policyText.file, policyText.text ?? '<unreadable>']);
  const catalogProblems = catalogTexts.flatMap((entry) => (entry.error ? [entry.error] : []));
  if (catalogProblems.length > 0) return { ok: false, kind: 'catalog', diagnostics: catalogProblems, fingerprint, catalogFingerprint };
  const sources: CatalogSource[] = catalogTexts.map((entry) => ({ file: entry.file, text: entry.text ?? '' }));
  const catalog = compileCatalog(sources);
  if (!catalog.ok) return { ok: false, kind: 'catalog', diagnostics: catalog.diagnostics, fingerprint, catalogFingerprint };
  if (policyText.error) return { ok: false, kind: 'policy', diagnostics: [policyText.error], fingerprint, catalogFingerprint };
  const policy = compilePolicy(policyText.text ?? '', files.policyFile, catalog.value);
  if (!policy.ok) return { ok: false, kind: 'policy', diagnostics: policy.diagnostics, fingerprint, catalogFingerprint };
  return {
    ok: true,
    state: { policy: policy.value, catalog: catalog.value },
    warnings: [...(catalog.warnings ?? []), ...(policy.warnings ?? [])],
    fingerprint,
    catalogFingerprint,
  };
}

/** A rejected reload, as `GET /api/v1/policy` shows it. */
export interface ReloadError {
  at: string;
  kind: 'catalog' | 'policy';
  message: string;
  /** Every problem, `file:line:col: severity code: message`. */
  diagnostics: string[];
}

/** What `GET /api/v1/policy` returns. */
export interface PolicyStatus {
  policy: { id: string; version: string; file: string };
  catalog: { version: string; files: string[]; models: number; providers: number };
  /** When the version in force was loaded (ISO 8601). */
  loaded_at: string;
  /** `ok` when the last reload attempt was applied (or nothing changed), `rejected` otherwise. */
  last_reload: 'ok' | 'rejected';
  last_reload_at: string | null;
  /** The last rejected update; kept (for the record) until a later update is applied. */
  last_error: ReloadError | null;
  reloads: { applied: number; rejected: number };
  watching: boolean;
}

export type ReloadResult = { status: 'applied'; kind: 'catalog' | 'policy' } | { status: 'unchanged' } | { status: 'rejected'; error: ReloadError };

export interface PolicyReloaderOptions {
  files: RoutingFiles;
  clock: Clock;
  logger: Logger;
  metrics?: GatewayMetrics;
  /** Quiet time after the last file event before reloading. Default 200 ms. */
  debounceMs?: number;
  readText?: ReadText;
  /** Called after each applied reload (e.g. to recompute provider credentials for a new catalog). */
  onApplied?: (state: LoadedRouting) => void;
}

export const DEFAULT_RELOAD_DEBOUNCE_MS = 200;

export class PolicyReloader {
  readonly holder: RoutingHolder;
  readonly #options: PolicyReloaderOptions;
  readonly #readText: ReadText;
  #fingerprint: string;
  #catalogFingerprint: string;
  #loadedAt: number;
  #lastReloadAt: number | null = null;
  #lastError: ReloadError | null = null;
  #lastResult: 'ok' | 'rejected' = 'ok';
  /** Fingerprint of the last rejected files, so the same broken text is not rejected again on every event. */
  #rejectedFingerprint: string | null = null;
  #applied = 0;
  #rejected = 0;
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Serialises reloads: a reload requested while one runs runs again after it. */
  #running: Promise<ReloadResult> | null = null;
  #again = false;

  private constructor(options: PolicyReloaderOptions, initial: Extract<LoadOutcome, { ok: true }>) {
    this.#options = options;
    this.#readText = options.readText ?? ((path) => readFile(path, 'utf8'));
    this.holder = new RoutingHolder(initial.state);
    this.#fingerprint = initial.fingerprint;
    this.#catalogFingerprint = initial.catalogFingerprint;
    this.#loadedAt = options.clock.now();
    options.metrics?.observeInitialLoad(this.#loadedAt, this.#info());
  }

  /** First load; it must succeed (a gateway with no valid policy does not start). */
  static async start(options: PolicyReloaderOptions): Promise<{ ok: true; reloader: PolicyReloader; warnings: Diagnostic[] } | { ok: false; diagnostics: Diagnostic[] }> {
    const outcome = await loadRouting(options.files, options.readText);
    if (!outcome.ok) return { ok: false, diagnostics: outcome.diagnostics };
    return { ok: true, reloader: new PolicyReloader(options, outcome), warnings: outcome.warnings };
  }

  /** The current routing state (what `createApp({ routing })` reads). */
  current(): LoadedRouting {
    return this.holder.current();
  }

  /** Watch the files' directories; events are debounced into `reload()`. */
  watch(): void {
    if (this.#watchers.length > 0) return;
    const { files } = this.#options;
    const directories = new Set([...files.catalogFiles, files.policyFile].map((file) => dirname(resolvePath(file))));
    for (const directory of directories) {
      const watcher = watch(directory, { persistent: false }, () => this.#schedule());
      watcher.on('error', (error) => this.#options.logger.warn({ err: error, directory }, 'policy directory watch failed; hot reload is off for it'));
      this.#watchers.push(watcher);
    }
  }

  /** Re-read and, if anything changed and everything compiles, swap. Safe to call any time. */
  async reload(): Promise<ReloadResult> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#reloadOnce();
    try {
      let result = await this.#running;
      while (this.#again) {
        this.#again = false;
        this.#running = this.#reloadOnce();
        result = await this.#running;
      }
      return result;
    } finally {
      this.#running = null;
    }
  }

  status(): PolicyStatus {
    const { policy, catalog } = this.holder.current();
    return {
      policy: { id: policy.id, version: policy.version, file: policy.file },
      catalog: { version: catalog.version, files: [...this.#options.files.catalogFiles], models: catalog.models.size, providers: catalog.providers.size },
      loaded_at: new Date(this.#loadedAt).toISOString(),
      last_reload: this.#lastResult,
      last_reload_at: this.#lastReloadAt === null ? null : new Date(this.#lastReloadAt).toISOString(),
      last_error: this.#lastError,
      reloads: { applied: this.#applied, rejected: this.#rejected },
      watching: this.#watchers.length > 0,
    };
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers.splice(0)) watcher.close();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.reload().catch((error: unknown) => this.#options.logger.error({ err: error }, 'policy reload crashed; the previous version keeps serving'));
    }, this.#options.debounceMs ?? DEFAULT_RELOAD_DEBOUNCE_MS);
    this.#timer.unref();
  }

  async #reloadOnce(): Promise<ReloadResult> {
    const { clock, logger, metrics } = this.#options;
    const outcome = await loadRouting(this.#options.files, this.#readText);
    const now = clock.now();
    if (outcome.fingerprint === this.#fingerprint) {
      // Reverted to the text in force: nothing to load, and the rejected update is gone.
      if (this.#lastResult === 'rejected') {
        this.#lastResult = 'ok';
        this.#lastReloadAt = now;
        this.#rejectedFingerprint = null;
      }
      return { status: 'unchanged' };
    }
    if (outcome.fingerprint === this.#rejectedFingerprint) return { status: 'unchanged' };
    this.#lastReloadAt = now;
    const previous = this.holder.current();
    if (!outcome.ok) {
      this.#rejected++;
      const diagnostics = outcome.diagnostics.map(formatDiagnostic);
      const error: ReloadError = {
        at: new Date(now).toISOString(),
        kind: outcome.kind,
        message: `${outcome.kind} update rejected (${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'}); still serving policy ${previous.policy.id}@${previous.policy.version}`,
        diagnostics,
      };
      this.#lastError = error;
      this.#lastResult = 'rejected';
      this.#rejectedFingerprint = outcome.fingerprint;
      metrics?.observeReload(outcome.kind, false, now, this.#info());
      logger.error({ kind: outcome.kind, diagnostics, policy: previous.policy.id, version: previous.policy.version }, error.message);
      return { status: 'rejected', error };
    }
    const kind = outcome.catalogFingerprint === this.#catalogFingerprint ? 'policy' : 'catalog';
    this.holder.swap(outcome.state);
    this.#fingerprint = outcome.fingerprint;
    this.#catalogFingerprint = outcome.catalogFingerprint;
    this.#loadedAt = now;
    this.#lastError = null;
    this.#lastResult = 'ok';
    this.#rejectedFingerprint = null;
    this.#applied++;
    metrics?.observeReload(kind, true, now, this.#info());
    for (const warning of outcome.warnings) logger.warn({ diagnostic: formatDiagnostic(warning) }, warning.message);
    logger.info(
      { kind, policy: outcome.state.policy.id, version: outcome.state.policy.version, previous_version: previous.policy.version, catalog: outcome.state.catalog.version },
      `${kind} reloaded: policy ${outcome.state.policy.id}@${outcome.state.policy.version}`,
    );
    this.#options.onApplied?.(outcome.state);
    return { status: 'applied', kind };
  }

  #info(): { policyId: string; policyVersion: string; catalogVersion: string } {
    const { policy, catalog } = this.holder.current();
    return { policyId: policy.id, policyVersion: policy.version, catalogVersion: catalog.version };
  }
}

/** `GET /api/v1/policy`. */
export function policyStatusHandler(reloader: Pick<PolicyReloader, 'status'>): (request: Request, response: Response) => void {
  return (_request, response) => {
    response.setHeader('Cache-Control', 'no-store');
    response.json(reloader.status());
  };
}
