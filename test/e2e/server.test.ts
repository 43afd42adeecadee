/**
 * The real start-up path: switchyard.yaml, the shipped catalogs and policy, simulated providers,
 * no provider keys. What `npm start` does, on port 0.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { silentLogger } from '../../sidecar/logger.ts';
import { startServer, type RunningGateway } from '../../sidecar/server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONFIG = join(ROOT, 'switchyard.yaml');
const messages = [{ role: 'user' as const, content: 'Say hello' }];

let running: RunningGateway | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(env: Record<string, string> = {}, host?: string): Promise<RunningGateway> {
  const started = await startServer({ configPath: CONFIG, port: 0, env, cwd: ROOT, logger: silentLogger, ...(host ? { host } : {}) });
  if (!started.ok) throw new Error(started.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
  running = started.gateway;
  return started.gateway;
}

describe('the default configuration', () => {
  it('answers at once with no provider keys, through simulated providers', async () => {
    const gateway = await start();
    const client = new OpenAI({ baseURL: `${gateway.url}/api/v1`, apiKey: 'unused', maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages });
    // The shipped policy moves 10% of gpt-4o-mini callers to gpt-4.1-mini (rule mini-rollout).
    expect(['openai/gpt-4o-mini', 'openai/gpt-4.1-mini']).toContain(completion.model);
    expect((completion as unknown as { provider: string }).provider).toMatch(/^Simulated/);
    expect(completion.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages, stream: true });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('lists the shipped models', async () => {
    const gateway = await start();
    const body = (await fetch(`${gateway.url}/api/v1/models`).then((reply) => reply.json())) as { data: Array<{ id: string; pricing: { prompt: string } }> };
    expect(body.data.length).toBeGreaterThan(5);
    expect(body.data.map((model) => model.id)).toContain('openai/gpt-4o-mini');
    expect(body.data.every((model) => typeof model.pricing.prompt === 'string')).toBe(true);
  });

  it('requires the gateway key once SWITCHYARD_API_KEY is set', async () => {
    const gateway = await start({ SWITCHYARD_API_KEY: 'sk-local-test' });
    const without = await fetch(`${gateway.url}/api/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages }) });
    expect(without.status).toBe(401);
    const client = new OpenAI({ baseURL: `${gateway.url}/api/v1`, apiKey: 'sk-local-test', maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages });
    expect(completion.choices[0]?.finish_reason).toBe('stop');
  });
});

describe('operations', () => {
  it('serves probes and metrics on the admin port, and readiness on the API port', async () => {
    const gateway = await start({ SWITCHYARD_ADMIN_PORT: '0' });
    expect(gateway.adminPort).toBeGreaterThan(0);
    const admin = `http://127.0.0.1:${gateway.adminPort ?? 0}`;
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    const ready = await fetch(`${admin}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.stringify(await ready.json())).toContain('storage');
    const client = new OpenAI({ baseURL: `${gateway.url}/api/v1`, apiKey: 'unused', maxRetries: 0 });
    await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages });
    const metrics = await fetch(`${admin}/metrics`).then((reply) => reply.text());
    expect(metrics).toMatch(/switchyard_http_requests_total\{route="\/api\/v1\/chat\/completions",method="POST",status="200"\} 1/);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    // The admin port never serves the API.
    expect((await fetch(`${admin}/api/v1/models`)).status).toBe(404);
  });
});

describe('refusing to start', () => {
  it('refuses to listen beyond loopback without gateway keys', async () => {
    const started = await startServer({ configPath: CONFIG, port: 0, host: '0.0.0.0', env: {}, cwd: ROOT, logger: silentLogger });
    expect(started.ok).toBe(false);
    if (started.ok) return;
    expect(started.diagnostics.map((diagnostic) => diagnostic.code)).toEqual(['config_keys_required']);
  });

  it('reports an invalid config with file:line:col', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'switchyard-config-'));
    const file = join(directory, 'switchyard.yaml');
    writeFileSync(file, ['version: 1', `catalog: [${join(ROOT, 'policies/catalog.yaml')}]`, `policy: ${join(ROOT, 'policies/default.yaml')}`, 'credentials:', '  openai: sk-abc123', ''].join('\n'));
    const started = await startServer({ configPath: file, port: 0, env: {}, cwd: directory, logger: silentLogger });
    expect(started.ok).toBe(false);
    if (started.ok) return;
    expect(started.diagnostics[0]).toMatchObject({ code: 'config_literal_secret', file, line: 5, column: 11 });
  });

  it('reports a missing policy file', async () => {
    const started = await startServer({ configPath: CONFIG, port: 0, env: { SWITCHYARD_POLICY: 'policies/missing.yaml' }, cwd: ROOT, logger: silentLogger });
    expect(started.ok).toBe(false);
    if (started.ok) return;
    expect(started.diagnostics[0]?.code).toBe('config_file_missing');
  });
});
