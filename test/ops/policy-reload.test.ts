/**
 * Hot reload under load: a stream of routed requests (POST /api/v1/plan through the real app and
 * engine) keeps running while the policy file is replaced by an invalid one, then by a valid one.
 * Also: a ConfigMap-style `..data` symlink swap, as the kubelet does it.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../sidecar/app.ts';
import { systemClock } from '../../sidecar/clock.ts';
import { createKeyVerifier } from '../../sidecar/http/auth.ts';
import type { Logger } from '../../sidecar/logger.ts';
import { GatewayMetrics } from '../../sidecar/ops/metrics.ts';
import { PolicyReloader, policyStatusHandler, type PolicyStatus } from '../../sidecar/ops/policy-reloader.ts';
import { createAdapterRegistry } from '../../sidecar/providers/index.ts';
import { until } from '../support/wait.ts';

const POLICIES = fileURLToPath(new URL('../../policies/', import.meta.url));
const DEFAULT_POLICY = readFileSync(join(POLICIES, 'default.yaml'), 'utf8');
const INVALID_POLICY = DEFAULT_POLICY.replace('rules:', 'rules:\n  - id: broken\n    route_to: nobody/no-such-model\n    sort: sideways');
const NEW_POLICY = DEFAULT_POLICY.replace('description: Cost-aware routing', 'description: Reloaded, cost-aware routing');

interface LogLine {
  level: string;
  fields: Record<string, unknown>;
  message: string | undefined;
}

function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (fields: object, message?: string) => void lines.push({ level, fields: fields as Record<string, unknown>, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('policy hot reload', () => {
  it('rejects an invalid policy during continuous routing with zero failed requests, then applies a valid one', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'switchyard-reload-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    for (const file of ['catalog.yaml', 'simulated.yaml', 'default.yaml']) copyFileSync(join(POLICIES, file), join(directory, file));
    const logger = recordingLogger();
    const metrics = new GatewayMetrics({ processMetrics: false });
    const started = await PolicyReloader.start({
      files: { catalogFiles: [join(directory, 'catalog.yaml'), join(directory, 'simulated.yaml')], policyFile: join(directory, 'default.yaml') },
      clock: systemClock,
      logger,
      metrics,
      debounceMs: 50,
    });
    if (!started.ok) throw new Error(started.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
    const reloader = started.reloader;
    cleanups.push(() => reloader.close());
    reloader.watch();
    const originalVersion = reloader.current().policy.version;

    // The status route in front of the gateway app (as the wiring mounts it).
    const outer = express();
    outer.get('/api/v1/policy', policyStatusHandler(reloader));
    outer.use(createApp({ routing: reloader, adapters: createAdapterRegistry(), credentials: () => undefined, keys: createKeyVerifier([]) }));
    const server = createServer(outer);
    const url = await listen(server);
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));

    // Continuous load: 4 concurrent loops of routed requests until told to stop.
    let stop = false;
    let succeeded = 0;
    const failures: string[] = [];
    const versionsSeen = new Set<string>();
    const loops = Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          const reply = await fetch(`${url}/api/v1/plan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
          const body = (await reply.json()) as { plan?: { policy: { version: string }; attempts: unknown[] } } & { policy?: { version: string }; attempts?: unknown[] };
          const plan = body.plan ?? body;
          if (reply.status !== 200 || !plan.attempts || plan.attempts.length === 0) failures.push(`${reply.status} ${JSON.stringify(body).slice(0, 200)}`);
          else {
            succeeded++;
            versionsSeen.add(plan.policy?.version ?? '?');
          }
        } catch (error) {
          failures.push(String(error));
        }
      }
    });
    const status = async (): Promise<PolicyStatus> => (await fetch(`${url}/api/v1/policy`)).json() as Promise<PolicyStatus>;

    await until(() => succeeded >= 20);
    // Invalid update, written in place (as `kubectl cp` or an editor without atomic rename would).
    writeFileSync(join(directory, 'default.yaml'), INVALID_POLICY);
    await until(() => reloader.status().last_error !== null);
    const afterInvalid = await status();
    expect(afterInvalid.policy.version).toBe(originalVersion);
    expect(afterInvalid.last_reload).toBe('rejected');
    expect(afterInvalid.last_error?.kind).toBe('policy');
    expect(afterInvalid.last_error?.diagnostics.join('\n')).toMatch(/default\.yaml:\d+:\d+: error/);
    expect(logger.lines.some((line) => line.level === 'error' && String(line.message).includes('policy update rejected'))).toBe(true);
    expect(await metrics.text()).toMatch(/switchyard_policy_reloads_total\{kind="policy",result="failure"\} 1/);
    const servedDuringInvalid = succeeded;
    await until(() => succeeded >= servedDuringInvalid + 20);

    // Valid update, by atomic rename.
    writeFileSync(join(directory, 'default.yaml.tmp'), NEW_POLICY);
    renameSync(join(directory, 'default.yaml.tmp'), join(directory, 'default.yaml'));
    await until(() => reloader.current().policy.version !== originalVersion);
    const newVersion = reloader.current().policy.version;
    const servedBeforeNew = succeeded;
    await until(() => succeeded >= servedBeforeNew + 20);
    stop = true;
    await Promise.all(loops);

    expect(failures).toEqual([]);
    expect(versionsSeen).toEqual(new Set([originalVersion, newVersion]));
    const afterValid = await status();
    expect(afterValid).toMatchObject({ policy: { id: 'default', version: newVersion }, last_reload: 'ok', last_error: null, reloads: { applied: 1, rejected: 1 }, watching: true });
    expect(await metrics.text()).toMatch(/switchyard_policy_last_reload_successful 1/);
  });

  it('follows a kubelet-style ..data symlink swap of a ConfigMap volume', async () => {
    const volume = mkdtempSync(join(tmpdir(), 'switchyard-configmap-'));
    cleanups.push(() => rmSync(volume, { recursive: true, force: true }));
    // The kubelet's layout: ..<timestamp>/ holds the files, ..data -> ..<timestamp>, file -> ..data/file.
    const writeVersion = (name: string, policyText: string): void => {
      mkdirSync(join(volume, name));
      copyFileSync(join(POLICIES, 'catalog.yaml'), join(volume, name, 'catalog.yaml'));
      copyFileSync(join(POLICIES, 'simulated.yaml'), join(volume, name, 'simulated.yaml'));
      writeFileSync(join(volume, name, 'policy.yaml'), policyText);
    };
    writeVersion('..2026_11_25_12_00_00.000000001', DEFAULT_POLICY);
    symlinkSync('..2026_11_25_12_00_00.000000001', join(volume, '..data'));
    for (const file of ['catalog.yaml', 'simulated.yaml', 'policy.yaml']) symlinkSync(join('..data', file), join(volume, file));

    const started = await PolicyReloader.start({
      files: { catalogFiles: [join(volume, 'catalog.yaml'), join(volume, 'simulated.yaml')], policyFile: join(volume, 'policy.yaml') },
      clock: systemClock,
      logger: recordingLogger(),
      debounceMs: 50,
    });
    if (!started.ok) throw new Error('initial load failed');
    const reloader = started.reloader;
    cleanups.push(() => reloader.close());
    reloader.watch();
    const before = reloader.current().policy.version;

    // The swap: new timestamped dir, ..data_tmp -> it, rename over ..data (atomic), remove the old dir.
    writeVersion('..2026_11_25_12_01_00.000000002', NEW_POLICY);
    symlinkSync('..2026_11_25_12_01_00.000000002', join(volume, '..data_tmp'));
    renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
    rmSync(join(volume, '..2026_11_25_12_00_00.000000001'), { recursive: true });

    await until(() => reloader.current().policy.version !== before);
    expect(reloader.current().policy.document.description).toMatch(/^Reloaded/);
    expect(reloader.status()).toMatchObject({ last_reload: 'ok', reloads: { applied: 1, rejected: 0 } });
  });

  it('keeps serving when a reload is requested with unchanged files, and reports unreadable files', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'switchyard-reload-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    for (const file of ['catalog.yaml', 'simulated.yaml', 'default.yaml']) copyFileSync(join(POLICIES, file), join(directory, file));
    const files = { catalogFiles: [join(directory, 'catalog.yaml'), join(directory, 'simulated.yaml')], policyFile: join(directory, 'default.yaml') };
    const started = await PolicyReloader.start({ files, clock: systemClock, logger: recordingLogger() });
    if (!started.ok) throw new Error('initial load failed');
    const reloader = started.reloader;
    expect(await reloader.reload()).toEqual({ status: 'unchanged' });
    rmSync(files.policyFile);
    const result = await reloader.reload();
    expect(result).toMatchObject({ status: 'rejected', error: { kind: 'policy', diagnostics: [expect.stringContaining('does not exist')] } });
    expect(reloader.current().policy.id).toBe('default');
    // Putting the same text back clears the rejection without a reload.
    copyFileSync(join(POLICIES, 'default.yaml'), files.policyFile);
    expect(await reloader.reload()).toEqual({ status: 'unchanged' });
    expect(reloader.status()).toMatchObject({ last_reload: 'ok', reloads: { applied: 0, rejected: 1 } });
  });
});
