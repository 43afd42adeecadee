/**
 * `switchyard generations export` writes what a SQLite-backed gateway logged as JSONL, for a time
 * range, and `switchyard diff` replays that file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSample } from '../../sidecar/cli/diff-report.ts';
import { silentLogger } from '../../sidecar/logger.ts';
import { startServer } from '../../sidecar/server.ts';
import { accountingFixture, runCli, type AccountingFixture } from './support/accounting-fixture.ts';

describe('generations export', () => {
  let fixture: AccountingFixture;
  const ids: string[] = [];
  let startedAt = '';

  beforeAll(async () => {
    fixture = accountingFixture({ accounting: '{ state: memory }' });
    startedAt = new Date(Date.now() - 1000).toISOString();
    const started = await startServer({ configPath: fixture.configPath, cwd: fixture.directory, env: {}, logger: silentLogger });
    if (!started.ok) throw new Error(JSON.stringify(started.diagnostics));
    for (const [index, model] of ['openai/gpt-4o', 'openai/gpt-4o-mini', 'openai/gpt-4o'].entries()) {
      const reply = await fetch(`${started.gateway.url}/api/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: `Export me ${index}` }], max_tokens: 16, stream: index === 1 }),
      });
      expect(reply.status).toBe(200);
      ids.push(reply.headers.get('x-generation-id') ?? '');
      await reply.arrayBuffer();
    }
    // SIGTERM path: drain, flush to SQLite.
    await started.gateway.close();
  }, 60_000);

  afterAll(() => fixture.remove());

  it('exports the records of a time range as JSONL that switchyard diff accepts', async () => {
    const exported = await runCli(['generations', 'export', '--config', fixture.configPath, '--since', startedAt], { cwd: fixture.directory });
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(ids);
    expect(exported.stderr).toContain('exported 3 generation records');

    const sample = parseSample(exported.stdout);
    expect(sample.errors).toEqual([]);
    expect(sample.requests.map((request) => (request.body as { model: string }).model)).toEqual(['openai/gpt-4o', 'openai/gpt-4o-mini', 'openai/gpt-4o']);

    const file = join(fixture.directory, 'sample.jsonl');
    writeFileSync(file, exported.stdout);
    const policy = join(fixture.directory, 'policy.yaml');
    const diff = await runCli(['diff', '--old', policy, '--new', policy, '--requests', file, '--catalog', join(fixture.directory, 'catalog.yaml'), '--catalog', join(fixture.directory, 'simulated.yaml')], {
      cwd: fixture.directory,
    });
    expect(diff.stdout).toContain('replayed 3 requests');
    expect(diff.code).toBe(0);

    const none = await runCli(['generations', 'export', '--config', fixture.configPath, '--until', startedAt], { cwd: fixture.directory });
    expect(none.stdout).toBe('');
  }, 60_000);
});
