/**
 * `switchyard keys create|list|update|revoke` and `switchyard generations export`: work on the
 * storage the config names (SQLite by default, Postgres with DATABASE_URL), directly, so the first
 * management key can be made before any server runs. The plaintext of a created key is printed
 * once and never stored.
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { formatDiagnostic } from '../../engine/index.ts';
import { isLimitReset, type LimitReset } from '../accounting/periods.ts';
import { loadConfig } from '../config/load-config.ts';
import type { Storage } from '../server.ts';
import type { ApiKeyRecord, KeyRateLimit, KeyRateLimitPatch, UpdateKeyInput } from '../store/keys.ts';
import { UsageError } from './files.ts';
import { EXIT, type Output } from './output.ts';

export interface StorageOptions {
  config?: string;
}

/** Opens the configured storage (lazily imported: offline commands never load the server). */
async function withStorage<T>(options: StorageOptions, run: (storage: Storage) => Promise<T>): Promise<T> {
  const env = process.env;
  const cwd = process.cwd();
  const configPath = options.config ?? env.SWITCHYARD_CONFIG ?? 'switchyard.yaml';
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch {
    throw new UsageError(`config file ${configPath} cannot be read (--config)`);
  }
  const loaded = loadConfig({ file: configPath, text, env, cwd });
  if (!loaded.ok) throw new UsageError(`config ${configPath} is invalid:\n${loaded.diagnostics.map(formatDiagnostic).join('\n')}`);
  if (loaded.value.storage.kind === 'memory') throw new UsageError('storage.kind is memory: keys and generations live only inside a running server (use sqlite or postgres)');
  const { openStorage } = await import('../server.ts');
  const storage = await openStorage(loaded.value, env, cwd);
  try {
    return await run(storage);
  } finally {
    await storage.close();
  }
}

function parseReset(value: string | undefined): LimitReset | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  if (!isLimitReset(value)) throw new UsageError('--reset must be daily, weekly, monthly or none');
  return value;
}

function parseLimit(value: string | undefined): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError('--limit must be a USD amount such as 10 or 0.5, or none');
  return value;
}

/** `--rpm` / `--tpm`: a positive whole number, `none` (no limit) or `default` (the config's `accounting.rate_limits`). */
function parseRate(value: string | undefined, flag: string): number | null | 'default' | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return null;
  if (value === 'default') return 'default';
  const limit = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`${flag} must be a positive whole number, none or default`);
  return limit;
}

/** The rate-limit flags as a patch, or undefined when neither is given. */
function ratePatch(options: KeyCommandOptions): KeyRateLimitPatch | undefined {
  const requests = parseRate(options.rpm, '--rpm');
  const tokens = parseRate(options.tpm, '--tpm');
  if (requests === undefined && tokens === undefined) return undefined;
  return { ...(requests !== undefined ? { requests_per_minute: requests } : {}), ...(tokens !== undefined ? { tokens_per_minute: tokens } : {}) };
}

/** `rpm 2 tpm none` for the kinds the key sets itself; the others follow the config default. */
function describeRates(rates: KeyRateLimit | null | undefined): string {
  if (!rates) return '';
  const parts: string[] = [];
  if (rates.requests_per_minute !== undefined) parts.push(`rpm ${rates.requests_per_minute ?? 'none'}`);
  if (rates.tokens_per_minute !== undefined) parts.push(`tpm ${rates.tokens_per_minute ?? 'none'}`);
  return `  ${parts.join(' ')}`;
}

function describeKey(record: ApiKeyRecord): string {
  const state = record.revoked_at ? 'revoked' : record.disabled ? 'disabled' : 'active';
  const limit = record.limit === null ? 'no limit' : `limit $${record.limit}${record.limit_reset ? ` ${record.limit_reset}` : ' lifetime'}`;
  return `${record.hash}  ${record.label}  ${record.name}  ${limit}${describeRates(record.rate_limit)}  ${state}${record.is_management_key ? '  management' : ''}`;
}

export interface KeyCommandOptions extends StorageOptions {
  name?: string;
  limit?: string;
  reset?: string;
  management?: boolean;
  user?: string;
  team?: string;
  expires?: string;
  /** Requests per minute: a number, none, or default (update only). */
  rpm?: string;
  /** Tokens per minute: a number, none, or default (update only). */
  tpm?: string;
  disable?: boolean;
  enable?: boolean;
  all?: boolean;
  json?: boolean;
}

export async function keysCommand(action: 'create' | 'list' | 'update' | 'revoke', hash: string | undefined, options: KeyCommandOptions, output: Output): Promise<number> {
  return withStorage(options, async ({ keys }) => {
    const now = new Date();
    switch (action) {
      case 'create': {
        if (!options.name) throw new UsageError('keys create needs --name');
        const rates = ratePatch(options);
        if (rates?.requests_per_minute === 'default' || rates?.tokens_per_minute === 'default') throw new UsageError('keys create: leave --rpm/--tpm out for the config default');
        const created = await keys.create(
          {
            name: options.name,
            limit: parseLimit(options.limit) ?? null,
            limit_reset: parseReset(options.reset) ?? null,
            is_management_key: options.management === true,
            user: options.user ?? null,
            team: options.team ?? null,
            expires_at: options.expires ?? null,
            rate_limit: (rates as KeyRateLimit | undefined) ?? null,
          },
          now,
        );
        if (options.json) output.out(JSON.stringify({ key: created.key, data: created.record }));
        else {
          output.out(created.key);
          output.error(`created ${describeKey(created.record)}\nThe key above is shown once; it is stored only as its sha256.`);
        }
        return EXIT.ok;
      }
      case 'list': {
        const all = await keys.list({ includeRevoked: options.all === true });
        if (options.json) output.out(JSON.stringify({ data: all }));
        else for (const record of all) output.out(describeKey(record));
        return EXIT.ok;
      }
      case 'update': {
        if (!hash) throw new UsageError('keys update needs the key hash');
        const patch: UpdateKeyInput = {};
        if (options.name !== undefined) patch.name = options.name;
        const limit = parseLimit(options.limit);
        if (limit !== undefined) patch.limit = limit;
        const reset = parseReset(options.reset);
        if (reset !== undefined) patch.limit_reset = reset;
        if (options.disable) patch.disabled = true;
        if (options.enable) patch.disabled = false;
        if (options.expires !== undefined) patch.expires_at = options.expires === 'none' ? null : options.expires;
        const rates = ratePatch(options);
        if (rates !== undefined) patch.rate_limit = rates;
        const record = await keys.update(hash, patch, now);
        if (!record) {
          output.error(`switchyard: no key ${hash}`);
          return EXIT.failures;
        }
        output.out(options.json ? JSON.stringify({ data: record }) : describeKey(record));
        return EXIT.ok;
      }
      case 'revoke': {
        if (!hash) throw new UsageError('keys revoke needs the key hash');
        const revoked = await keys.revoke(hash, now);
        if (!revoked) {
          output.error(`switchyard: no active key ${hash}`);
          return EXIT.failures;
        }
        output.out(options.json ? JSON.stringify({ deleted: true }) : `revoked ${hash}`);
        return EXIT.ok;
      }
    }
  });
}

export interface ExportOptions extends StorageOptions {
  since?: string;
  until?: string;
}

function isoTime(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new UsageError(`${name} must be an ISO 8601 time, e.g. 2026-11-25 or 2026-11-25T12:00:00Z`);
  return new Date(time).toISOString();
}

/** Writes the generation records of `[since, until)` as JSONL (the input of `switchyard diff`). */
export async function exportGenerationsCommand(options: ExportOptions, stream: Writable, output: Output): Promise<number> {
  const since = isoTime(options.since, '--since');
  const until = isoTime(options.until, '--until');
  return withStorage(options, async ({ generations }) => {
    if (!('exportJsonl' in generations)) throw new UsageError('this storage cannot export');
    const exporter = generations as { exportJsonl(stream: Writable, range: { since?: string; until?: string }): Promise<number> };
    const count = await exporter.exportJsonl(stream, { ...(since ? { since } : {}), ...(until ? { until } : {}) });
    output.error(`exported ${count} generation record${count === 1 ? '' : 's'}`);
    return EXIT.ok;
  });
}
