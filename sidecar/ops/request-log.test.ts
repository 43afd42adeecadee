import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import { generationRecord } from './__test-helpers__/records.ts';
import { createPinoLogger, RequestLog } from './request-log.ts';

const SECRET = 'sk-live-THIS-MUST-NOT-APPEAR';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw += chunk.toString();
      callback();
    },
  });
  return { stream, raw: () => raw, lines: () => raw.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function start(logPrompts: boolean): Promise<{ url: string; output: ReturnType<typeof capture> }> {
  const output = capture();
  const logger = createPinoLogger({ level: 'info', destination: output.stream });
  const log = new RequestLog({ logger, clock: systemClock, logPrompts, recordWaitMs: 200 });
  const app = express();
  app.use(log.middleware);
  app.post('/api/v1/chat/completions', express.json(), (request, response) => {
    const id = `gen-${String((request.body as { id: string }).id)}`;
    response.setHeader('X-Generation-Id', id);
    const record = generationRecord({ id, createdAt: new Date().toISOString(), failedProvider: 'sim-cheap', cost: '0.0042' });
    // Half the records arrive before the response ends, half after (as a batching store may).
    if (id.endsWith('early')) log.onRecord(record);
    response.json({ ok: true });
    if (!id.endsWith('early')) setTimeout(() => log.onRecord(record), 20);
  });
  app.get('/api/v1/models', (_request, response) => void response.json({ data: [] }));
  app.get('/healthz', (_request, response) => void response.json({ status: 'ok' }));
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, output };
}

async function settle(output: ReturnType<typeof capture>, count: number): Promise<void> {
  const deadline = Date.now() + 3000;
  while (output.lines().length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('request log', () => {
  it('writes one JSON line per request with the generation summary and no secrets or prompt', async () => {
    const { url, output } = await start(false);
    const headers = { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' };
    const messages = [{ role: 'user', content: 'my confidential prompt' }];
    await fetch(`${url}/api/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ id: 'early', messages }) });
    await fetch(`${url}/api/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ id: 'late', messages }) });
    await fetch(`${url}/api/v1/models`, { headers });
    await fetch(`${url}/healthz`);
    await settle(output, 3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = output.lines();
    expect(lines).toHaveLength(3);
    for (const id of ['gen-early', 'gen-late']) {
      expect(lines.find((line) => line.generation_id === id)).toMatchObject({
        msg: 'request',
        method: 'POST',
        route: '/api/v1/chat/completions',
        model: 'openai/gpt-4o-mini',
        provider: 'sim-fast',
        status: 200,
        attempts: '1:sim-cheap 503 retryable 40ms > 2:sim-fast 200 ok 400ms',
        attempt_count: 2,
        fallback: true,
        cost: '0.0042',
        policy: 'default@abc123',
      });
    }
    expect(lines.find((line) => line.path === '/api/v1/models')).toMatchObject({ method: 'GET', status: 200, route: '/api/v1/models' });
    expect(output.raw()).not.toContain(SECRET);
    expect(output.raw()).not.toContain('confidential prompt');
  });

  it('puts every generation field on the line, in order, with the HTTP status of the response', async () => {
    const { url, output } = await start(false);
    await fetch(`${url}/api/v1/chat/completions?stream=false`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'early' }) });
    await settle(output, 1);
    const line = output.lines()[0]!;
    expect(Object.keys(line)).toEqual([
      'level', 'time', 'service', 'method', 'path', 'route', 'status', 'duration_ms', 'generation_id', 'model', 'requested_models', 'provider', 'latency_ms', 'streamed', 'cancelled', 'finish_reason',
      'attempts', 'attempt_count', 'fallback', 'prompt_tokens', 'completion_tokens', 'cost', 'policy', 'key', 'user', 'http_status', 'msg',
    ]);
    expect(line).toMatchObject({
      level: 30,
      service: 'switchyard',
      method: 'POST',
      path: '/api/v1/chat/completions',
      route: '/api/v1/chat/completions',
      status: 200,
      generation_id: 'gen-early',
      model: 'openai/gpt-4o-mini',
      requested_models: ['openai/gpt-4o-mini'],
      provider: 'sim-fast',
      latency_ms: 440,
      streamed: false,
      cancelled: false,
      finish_reason: 'stop',
      attempts: '1:sim-cheap 503 retryable 40ms > 2:sim-fast 200 ok 400ms',
      attempt_count: 2,
      fallback: true,
      prompt_tokens: 12,
      completion_tokens: 30,
      cost: '0.0042',
      policy: 'default@abc123',
      key: 'default',
      user: null,
      http_status: 200,
      msg: 'request',
    });
    expect(line.duration_ms).toEqual(expect.any(Number));
  });

  it('includes the prompt only when enabled, and redacts secrets anywhere they are logged', async () => {
    const { url, output } = await start(true);
    await fetch(`${url}/api/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'early', messages: [{ role: 'user', content: 'visible prompt' }] }) });
    await settle(output, 1);
    expect(output.lines()[0]?.prompt).toContain('visible prompt');

    const direct = capture();
    const logger = createPinoLogger({ destination: direct.stream });
    logger.info({ headers: { authorization: `Bearer ${SECRET}`, 'x-api-key': SECRET }, provider: { api_key: SECRET }, credential: SECRET }, 'upstream call');
    logger.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(direct.raw()).not.toContain(SECRET);
    expect(direct.lines()[0]).toMatchObject({ headers: { authorization: '[redacted]', 'x-api-key': '[redacted]' }, provider: { api_key: '[redacted]' }, credential: '[redacted]' });
  });

  it('writes request lines byte for byte as pino would, escaping included, and honours the level', async () => {
    const lines = capture();
    const logger = createPinoLogger({ level: 'info', destination: lines.stream });
    const log = new RequestLog({ logger, clock: systemClock });
    const record = { ...generationRecord({ id: 'gen-escape', createdAt: new Date().toISOString(), failedProvider: 'sim-cheap', status: 502 }), error: 'upstream said "no"\nthen \u2028 and \\ left' };
    const response = { statusCode: 502, writableFinished: true, getHeader: () => 'gen-escape' };
    log.onRecord(record);
    log.ended({ method: 'POST' } as never, response as never, '/api/v1/chat/completions', '/api/v1/chat/completions', 12.4);
    // A probe at debug level: below the logger's level, so no line.
    log.ended({ method: 'GET' } as never, { statusCode: 200, writableFinished: true, getHeader: () => undefined } as never, '/healthz', '/healthz', 1);
    logger.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const ours = lines.raw().trim().split('\n');
    expect(ours).toHaveLength(1);
    const parsed = JSON.parse(ours[0] as string) as Record<string, unknown>;
    expect(parsed).toMatchObject({ level: 40, service: 'switchyard', generation_id: 'gen-escape', status: 502, http_status: 502, error: record.error, msg: 'request' });

    // pino itself, given the same fields (and the same time), writes the same bytes.
    const reference = capture();
    const { level: _level, time, service: _service, msg: _msg, ...fields } = parsed;
    void _level;
    void _service;
    void _msg;
    const { pino } = await import('pino');
    const pinoLogger = pino({ base: { service: 'switchyard' }, timestamp: () => `,"time":${JSON.stringify(time)}` }, reference.stream);
    pinoLogger.warn(fields, 'request');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ours[0]).toBe(reference.raw().trim());
  });
});
