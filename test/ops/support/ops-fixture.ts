/**
 * A gateway configuration for ops tests: the shipped catalogs and policy copied to a temporary
 * directory, with the simulated providers tuned (a flaky provider for fallbacks, slow streams for
 * drains), and a switchyard.yaml pointing at them.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));
const POLICIES = join(REPOSITORY, 'policies');

export interface FixtureOptions {
  /** Replace a simulated provider's `options: {...}` line (provider id -> YAML flow mapping). */
  providerOptions?: Record<string, string>;
  /** Extra top-level YAML appended to switchyard.yaml. */
  extraConfig?: string;
}

export interface OpsFixture {
  directory: string;
  configPath: string;
  policyPath: string;
  remove(): void;
}

export function opsFixture(options: FixtureOptions = {}): OpsFixture {
  const directory = mkdtempSync(join(tmpdir(), 'switchyard-ops-'));
  copyFileSync(join(POLICIES, 'catalog.yaml'), join(directory, 'catalog.yaml'));
  copyFileSync(join(POLICIES, 'default.yaml'), join(directory, 'default.yaml'));
  let simulated = readFileSync(join(POLICIES, 'simulated.yaml'), 'utf8');
  for (const [provider, flow] of Object.entries(options.providerOptions ?? {})) {
    const pattern = new RegExp(`(- id: ${provider}\\n(?:    .*\\n)*?    options: ).*`);
    if (!pattern.test(simulated)) throw new Error(`simulated.yaml has no options line for ${provider}`);
    simulated = simulated.replace(pattern, `$1${flow}`);
  }
  writeFileSync(join(directory, 'simulated.yaml'), simulated);
  const configPath = join(directory, 'switchyard.yaml');
  writeFileSync(
    configPath,
    [
      'version: 1',
      'server: { host: 127.0.0.1, port: 0, keep_alive_interval_ms: 1000 }',
      'catalog: [catalog.yaml, simulated.yaml]',
      'policy: default.yaml',
      // Real providers are named with keys nobody sets: they are never called (no network in tests).
      'credentials:',
      ...['openai', 'anthropic', 'google-ai-studio', 'groq', 'together', 'fireworks', 'deepinfra', 'mistral', 'deepseek'].map((provider) => `  ${provider}: { env: SWITCHYARD_TEST_UNSET_${provider.replaceAll('-', '_').toUpperCase()}_KEY }`),
      'storage: { kind: memory }',
      'telemetry: { traces: off }',
      'logging: { level: warn }',
      options.extraConfig ?? '',
    ].join('\n'),
  );
  return { directory, configPath, policyPath: join(directory, 'default.yaml'), remove: () => rmSync(directory, { recursive: true, force: true }) };
}
