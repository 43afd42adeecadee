/**
 * A gateway directory for accounting tests: the shipped catalogs (simulated providers made fast
 * and failure-free), a small policy, and a switchyard.yaml with the storage and accounting asked
 * for. Real providers are named with keys nobody sets, so they are never routed to.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));
export const SWITCHYARD_BIN = join(REPOSITORY, 'bin/switchyard.mjs');
const POLICIES = join(REPOSITORY, 'policies');
const REAL_PROVIDERS = ['openai', 'anthropic', 'google-ai-studio', 'groq', 'together', 'fireworks', 'deepinfra', 'mistral', 'deepseek'];

export interface AccountingFixture {
  directory: string;
  configPath: string;
  remove(): void;
}

export interface AccountingFixtureOptions {
  /** YAML of the `storage:` mapping; default SQLite in the directory. */
  storage?: string;
  /** YAML of the `accounting:` mapping. */
  accounting?: string;
  /** Extra top-level policy YAML (budgets, require). */
  policy?: string;
  /** Simulated providers' options (a YAML flow mapping). */
  providerOptions?: string;
  /** A gateway key read from this variable, named `config-key`. */
  gatewayKeyVariable?: string;
}

export function accountingFixture(options: AccountingFixtureOptions = {}): AccountingFixture {
  const directory = mkdtempSync(join(tmpdir(), 'switchyard-accounting-'));
  copyFileSync(join(POLICIES, 'catalog.yaml'), join(directory, 'catalog.yaml'));
  const flow = options.providerOptions ?? '{ latency_ms: 2, latency_jitter_ms: 0, tokens_per_second: 0, response_tokens: 32 }';
  const simulated = readFileSync(join(POLICIES, 'simulated.yaml'), 'utf8').replace(/^( {4}options: ).*$/gm, `$1${flow}`);
  writeFileSync(join(directory, 'simulated.yaml'), simulated);
  writeFileSync(
    join(directory, 'policy.yaml'),
    ['version: 1', 'id: accounting-test', 'defaults:', '  retries: { max: 0, backoff_ms: 10, multiplier: 2, max_backoff_ms: 100 }', options.policy ?? '', ''].join('\n'),
  );
  const configPath = join(directory, 'switchyard.yaml');
  writeFileSync(
    configPath,
    [
      'version: 1',
      'server: { host: 127.0.0.1, port: 0, watch: false, drain_timeout_ms: 5000 }',
      'catalog: [catalog.yaml, simulated.yaml]',
      'policy: policy.yaml',
      'credentials:',
      ...REAL_PROVIDERS.map((provider) => `  ${provider}: { env: SWITCHYARD_TEST_UNSET_${provider.replaceAll('-', '_').toUpperCase()}_KEY }`),
      ...(options.gatewayKeyVariable ? [`gateway_keys: [{ env: ${options.gatewayKeyVariable}, name: config-key }]`] : []),
      `storage: ${options.storage ?? '{ kind: sqlite, path: .data/switchyard.db }'}`,
      ...(options.accounting ? [`accounting: ${options.accounting}`] : []),
      'telemetry: { traces: off }',
      'logging: { level: warn }',
      '',
    ].join('\n'),
  );
  return { directory, configPath, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

/** Runs `switchyard <args>` as a process; resolves with its exit code and output. */
export function runCli(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SWITCHYARD_BIN, ...args], { cwd: options.cwd, env: { PATH: process.env.PATH ?? '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Creates a stored key through the CLI; returns the plaintext and its hash. */
export async function createKey(fixture: AccountingFixture, flags: string[], env: Record<string, string> = {}): Promise<{ key: string; hash: string }> {
  const result = await runCli(['keys', 'create', '--config', fixture.configPath, '--json', ...flags], { cwd: fixture.directory, env });
  if (result.code !== 0) throw new Error(`keys create failed (${result.code}): ${result.stderr}`);
  const created = JSON.parse(result.stdout) as { key: string; data: { hash: string } };
  return { key: created.key, hash: created.data.hash };
}
