import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import { silentLogger } from '../logger.ts';
import { Drainer, healthzHandler, readyzHandler, type ReadinessCheck } from './drain.ts';
import { until } from '../../test/support/wait.ts';

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function listen(app: express.Express): Promise<{ server: Server; url: string }> {
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** An app whose /stream sends `chunks` SSE events `intervalMs` apart, then [DONE] (never, with chunks < 0). */
function streamingApp(drainer: Drainer, chunks: number, intervalMs: number): express.Express {
  const app = express();
  app.use(drainer.track);
  app.get('/stream', (_request, response) => {
    response.setHeader('Content-Type', 'text/event-stream');
    response.flushHeaders();
    let sent = 0;
    const timer = setInterval(() => {
      if (chunks >= 0 && sent === chunks) {
        clearInterval(timer);
        response.end('data: [DONE]\n\n');
        return;
      }
      response.write(`data: ${sent++}\n\n`);
    }, intervalMs);
    response.on('close', () => clearInterval(timer));
  });
  return app;
}

describe('drain', () => {
  it('lets streams in flight finish, refuses new connections, flushes, and turns readiness off', async () => {
    let flushes = 0;
    const drainer = new Drainer({ clock: systemClock, logger: silentLogger, deadlineMs: 5_000, flush: async () => void flushes++ });
    const { server, url } = await listen(streamingApp(drainer, 6, 40));
    drainer.attach(server);
    const probes = express();
    probes.get('/healthz', healthzHandler());
    probes.get('/readyz', readyzHandler([{ name: 'policy', check: () => ({ ok: true }) }], drainer));
    const probe = await listen(probes);
    expect((await fetch(`${probe.url}/readyz`)).status).toBe(200);

    const streams = Array.from({ length: 10 }, () => fetch(`${url}/stream`).then((reply) => reply.text()));
    await until(() => drainer.inFlight === 10, 5000, 5);
    const report = drainer.drain();
    expect(drainer.draining).toBe(true);
    const readiness = await fetch(`${probe.url}/readyz`);
    expect(readiness.status).toBe(503);
    expect(await readiness.json()).toMatchObject({ status: 'draining' });
    expect((await fetch(`${probe.url}/healthz`)).status).toBe(200);
    await expect(fetch(`${url}/stream`)).rejects.toThrow();

    const bodies = await Promise.all(streams);
    expect(bodies.every((body) => body.endsWith('data: [DONE]\n\n') && body.includes('data: 5\n\n'))).toBe(true);
    expect(await report).toMatchObject({ inFlightAtStart: 10, cut: 0, flushError: null });
    expect(flushes).toBe(1);
    // A second SIGTERM gets the same drain.
    expect(await drainer.drain()).toBe(await report);
    expect(flushes).toBe(1);
  });

  it('cuts what is still open at the deadline and still flushes', async () => {
    let flushed = false;
    const drainer = new Drainer({ clock: systemClock, logger: silentLogger, deadlineMs: 150, flush: async () => void (flushed = true) });
    const { server, url } = await listen(streamingApp(drainer, -1, 20));
    drainer.attach(server);
    const stream = fetch(`${url}/stream`).then((reply) => reply.text()).catch((error: unknown) => `cut: ${String(error)}`);
    await until(() => drainer.inFlight === 1, 5000, 5);
    const report = await drainer.drain();
    expect(report.cut).toBe(1);
    expect(report.durationMs).toBeGreaterThanOrEqual(140);
    expect(flushed).toBe(true);
    expect(await stream).not.toContain('[DONE]');
  });

  it('reports failing dependencies in the readiness body', async () => {
    const checks: ReadinessCheck[] = [
      { name: 'policy', check: () => ({ ok: true, detail: 'default@abc' }) },
      { name: 'storage', check: async () => ({ ok: false, detail: 'database is locked' }) },
      { name: 'redis', check: () => Promise.reject(new Error('ECONNREFUSED')) },
    ];
    const app = express();
    app.get('/readyz', readyzHandler(checks, { draining: false }));
    const { url } = await listen(app);
    const reply = await fetch(`${url}/readyz`);
    expect(reply.status).toBe(503);
    expect(await reply.json()).toEqual({
      status: 'not_ready',
      failing: ['storage', 'redis'],
      checks: [
        { name: 'policy', ok: true, detail: 'default@abc' },
        { name: 'storage', ok: false, detail: 'database is locked' },
        { name: 'redis', ok: false, detail: 'ECONNREFUSED' },
      ],
    });
  });
});
