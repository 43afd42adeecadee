/**
 * The ops wiring of the real server (`startServer`): the admin listener, hot reload of the policy
 * file while requests keep flowing, `/api/v1/policy`, `/metrics` after traffic.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../sidecar/logger.ts';
import type { PolicyStatus } from '../../sidecar/ops/index.ts';
import { startServer, type RunningGateway } from '../../sidecar/server.ts';
import { opsFixture, type OpsFixture } from './support/ops-fixture.ts';
import { until } from '../support/wait.ts';

const INSTANT = '{ latency_ms: 5, latency_jitter_ms: 0, tokens_per_second: 0 }';
let fixture: OpsFixture;
let gateway: RunningGateway;

beforeAll(async () => {
  fixture = opsFixture({ providerOptions: { 'sim-fast': INSTANT, 'sim-cheap': INSTANT, 'sim-eu': INSTANT } });
  const started = await startServer({ configPath: fixture.configPath, cwd: fixture.directory, env: { SWITCHYARD_ADMIN_PORT: '0', SWITCHYARD_ADMIN_HOST: '127.0.0.1' }, logger: silentLogger });
  if (!started.ok) throw new Error(started.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
  gateway = started.gateway;
});

afterAll(async () => {
  await gateway?.close();
  fixture?.remove();
});

async function chat(): Promise<number> {
  const reply = await fetch(`${gateway.url}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hello' }] }),
  });
  await reply.arrayBuffer();
  return reply.status;
}

async function policyStatus(): Promise<PolicyStatus> {
  return (await fetch(`${gateway.url}/api/v1/policy`)).json() as Promise<PolicyStatus>;
}

describe('ops in the real server', () => {
  it('serves probes and metrics on the admin listener, and only those', async () => {
    expect(gateway.adminPort).toBeGreaterThan(0);
    const admin = `http://127.0.0.1:${gateway.adminPort}`;
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${admin}/readyz`)).json()).toMatchObject({ status: 'ready', failing: [] });
    expect(await (await fetch(`${admin}/metrics`)).text()).toContain('switchyard_policy_info');
    expect((await fetch(`${admin}/api/v1/models`)).status).toBe(404);
  });

  it('hot-reloads the policy file: an invalid one is rejected with no failed request, a valid one takes effect', async () => {
    const original = readFileSync(fixture.policyPath, 'utf8');
    const before = await policyStatus();
    let stop = false;
    const statuses: number[] = [];
    const load = (async () => {
      while (!stop) statuses.push(await chat());
    })();

    writeFileSync(fixture.policyPath, original.replace('version: 1', 'version: 2'));
    await until(async () => (await policyStatus()).last_reload === 'rejected', 5000, 25);
    const rejected = await policyStatus();
    expect(rejected.policy.version).toBe(before.policy.version);
    expect(rejected.last_error?.diagnostics.length).toBeGreaterThan(0);

    writeFileSync(`${fixture.policyPath}.next`, original.replace(/^description: .*$/m, 'description: reloaded by the server test'));
    renameSync(`${fixture.policyPath}.next`, fixture.policyPath);
    await until(async () => (await policyStatus()).policy.version !== before.policy.version, 5000, 25);
    const countBefore = statuses.length;
    await until(async () => statuses.length > countBefore + 5, 5000, 25);
    stop = true;
    await load;

    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(await policyStatus()).toMatchObject({ last_reload: 'ok', last_error: null, reloads: { applied: 1, rejected: 1 } });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_policy_reloads_total\{kind="policy",result="failure"\} 1/);
    expect(metrics).toMatch(/switchyard_policy_reloads_total\{kind="policy",result="success"\} 1/);
    expect(metrics).toMatch(new RegExp(`switchyard_attempts_total\\{provider="sim-(fast|eu)",model="openai/gpt-4o",outcome="ok"\\} \\d+`));
  });
});
