import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLoopback, loadConfig, resolveSecret } from './load-config.ts';

const minimal = ['version: 1', 'catalog: [catalog.yaml]', 'policy: policy.yaml', ''].join('\n');

function load(text: string, env: Record<string, string | undefined> = {}) {
  return loadConfig({ file: 'conf/switchyard.yaml', text, env, cwd: '/srv' });
}

describe('loadConfig', () => {
  it('loads the shipped switchyard.yaml with loopback defaults', () => {
    const text = readFileSync(new URL('../../switchyard.yaml', import.meta.url), 'utf8');
    const result = loadConfig({ file: 'switchyard.yaml', text, env: {}, cwd: '/repo' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.server).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(result.value.catalogFiles).toEqual(['/repo/policies/catalog.yaml', '/repo/policies/simulated.yaml']);
    expect(result.value.credentials.openai).toEqual({ env: 'OPENAI_API_KEY' });
  });

  it('resolves paths against the config file and applies defaults', () => {
    const result = load(minimal);
    expect(result.ok && result.value).toMatchObject({
      catalogFiles: ['/srv/conf/catalog.yaml'],
      policyFile: '/srv/conf/policy.yaml',
      server: { host: '127.0.0.1', port: 8080, bodyLimitBytes: 4 * 1024 * 1024 },
      storage: { kind: 'sqlite' },
      accounting: { state: 'memory', fail: 'closed', alertThresholds: [0.5, 0.8, 1] },
    });
  });

  it('uses Postgres and Redis when their URLs are in the environment, and refuses redis without one', () => {
    const result = load(minimal, { DATABASE_URL: 'postgres://db/x', REDIS_URL: 'redis://r:6379' });
    expect(result.ok && result.value).toMatchObject({
      storage: { kind: 'postgres', url: { env: 'DATABASE_URL' } },
      accounting: { state: 'redis', redisUrl: { env: 'REDIS_URL' } },
    });
    const text = `${minimal}accounting: { state: redis, fail: open, rate_limits: { requests_per_minute: 5 } }\n`;
    expect(load(text).ok).toBe(false);
    const configured = load(text, { REDIS_URL: 'redis://r' });
    expect(configured.ok && configured.value.accounting).toMatchObject({ fail: 'open', rateLimits: { requestsPerMinute: 5, tokensPerMinute: undefined } });
    expect(load(`${minimal}accounting: { redis_url: redis://literal }\n`).ok).toBe(false);
  });

  it('reads the Redis call spacing, and refuses one that is not a whole number of ms at its line and column', () => {
    expect(load(minimal, { REDIS_URL: 'redis://r' })).toMatchObject({ ok: true, value: { accounting: { redisCallSpacingMs: undefined } } });
    const spaced = load(`${minimal}accounting: { state: redis, redis_call_spacing_ms: 0 }\n`, { REDIS_URL: 'redis://r' });
    expect(spaced).toMatchObject({ ok: true, value: { accounting: { redisCallSpacingMs: 0 } } });
    const result = load(`${minimal}accounting:\n  redis_call_spacing_ms: -1\n`, { REDIS_URL: 'redis://r' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics[0]).toMatchObject({ file: 'conf/switchyard.yaml', line: 5, column: 26 });
    expect(result.diagnostics[0]?.message).toContain('redis_call_spacing_ms');
  });

  it('lets the environment and the command line override the file', () => {
    const text = `${minimal}server: { port: 9000, host: 0.0.0.0 }\n`;
    const fromEnvironment = load(text, { PORT: '7000', SWITCHYARD_POLICY: 'other.yaml', SWITCHYARD_CATALOG: 'a.yaml, b.yaml' });
    expect(fromEnvironment.ok && fromEnvironment.value).toMatchObject({
      server: { port: 7000, host: '0.0.0.0' },
      policyFile: '/srv/other.yaml',
      catalogFiles: ['/srv/a.yaml', '/srv/b.yaml'],
    });
    const fromCommandLine = loadConfig({ file: 'c.yaml', text, env: { PORT: '7000' }, cwd: '/srv', overrides: { port: 6000 } });
    expect(fromCommandLine.ok && fromCommandLine.value.server.port).toBe(6000);
  });

  it('rejects a malformed PORT', () => {
    const result = load(minimal, { PORT: 'eighty' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics[0]).toMatchObject({ code: 'config_env_invalid' });
    expect(result.diagnostics[0]?.message).toContain('PORT');
  });

  it('refuses a literal key, pointing at its line and column', () => {
    const text = `${minimal}credentials:\n  openai: sk-live-1234567890\n  groq: { env: GROQ_API_KEY }\n`;
    const result = load(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics).toHaveLength(1);
    expect(result.diagnostics[0]).toMatchObject({ code: 'config_literal_secret', file: 'conf/switchyard.yaml', line: 5, column: 11 });
  });

  it('reports an unknown property at the key, and every problem at once', () => {
    const text = `${minimal}server:\n  prot: 8080\nstorage: { kind: redis }\n`;
    const result = load(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics.map((diagnostic) => [diagnostic.code, diagnostic.line, diagnostic.column])).toEqual([
      ['config_unknown_property', 5, 3],
      ['config_invalid_value', 6, 18],
    ]);
  });

  it('requires exactly one source per gateway key', () => {
    const result = load(`${minimal}gateway_keys:\n  - { name: ops }\n`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics[0]?.message).toContain('exactly one of');
  });

  it('reports YAML syntax errors with a position', () => {
    const result = load('version: 1\ncatalog: [a.yaml\n');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics[0]?.line).toBeGreaterThanOrEqual(2);
  });
});

describe('secrets and hosts', () => {
  it('reads secrets from variables and files, empty meaning absent', () => {
    expect(resolveSecret({ env: 'KEY' }, { KEY: ' abc \n' }, () => '')).toBe('abc');
    expect(resolveSecret({ env: 'KEY' }, {}, () => '')).toBeUndefined();
    expect(resolveSecret({ file: '/run/secret' }, {}, (path) => (path === '/run/secret' ? 'xyz\n' : ''))).toBe('xyz');
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', 'localhost', '::1', '127.0.0.2'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1'].some(isLoopback)).toBe(false);
  });
});
