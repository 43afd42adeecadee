import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { abortError, classifyHttpStatus, parseDurationMs, postJson, postJsonBuffered, readSse, readText, redact, retryAfterFromHeaders, transportError, type SseEvent } from './http.ts';
import { ProviderCallError } from './spec.ts';

async function events(chunks: string[]): Promise<SseEvent[]> {
  const collected: SseEvent[] = [];
  for await (const event of readSse(chunks)) collected.push(event);
  return collected;
}

describe('readSse', () => {
  it('handles CRLF, comments, events split across chunks and no trailing blank line', async () => {
    const result = await events([': keep-alive\r\n\r\nda', 'ta: {"a":1}\r\n\r\nevent: ping\r\ndata: {"type":"ping"}\r\n\r\ndata: {"b":', '2}']);
    expect(result).toEqual([
      { event: undefined, data: '{"a":1}' },
      { event: 'ping', data: '{"type":"ping"}' },
      { event: undefined, data: '{"b":2}' },
    ]);
  });

  it('reports a raw JSON object that is not SSE (Gemini mid-stream errors) as a raw event', async () => {
    const result = await events(['data: {"ok":true}\n\n{\n  "error": {\n    "code": 500,\n    "status": "INTERNAL"\n  }\n}\n']);
    expect(result[0]).toEqual({ event: undefined, data: '{"ok":true}' });
    expect(result[1]?.event).toBe('raw');
    expect(JSON.parse(result[1]?.data ?? 'null')).toEqual({ error: { code: 500, status: 'INTERNAL' } });
  });
});

describe('retry delays', () => {
  it('prefers retry-after-ms, then x-ms-retry-after-ms, then retry-after seconds or date', () => {
    expect(retryAfterFromHeaders({ 'retry-after-ms': '1500.4', 'retry-after': '9' })).toBe(1500);
    expect(retryAfterFromHeaders({ 'x-ms-retry-after-ms': '2000', 'retry-after': '9' })).toBe(2000);
    expect(retryAfterFromHeaders({ 'retry-after': '3' })).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterFromHeaders({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, now)).toBe(5000);
    expect(retryAfterFromHeaders({ 'retry-after': 'soon' })).toBeUndefined();
    expect(retryAfterFromHeaders({})).toBeUndefined();
  });

  it('parses protobuf durations (Gemini RetryInfo)', () => {
    expect(parseDurationMs('34.4s')).toBe(34_400);
    expect(parseDurationMs('2s')).toBe(2000);
    expect(parseDurationMs('later')).toBeUndefined();
  });
});

describe('classifyHttpStatus', () => {
  it.each([
    [408, {}, 'retryable'],
    [409, {}, 'retryable'],
    [429, { message: 'Rate limit reached' }, 'retryable'],
    [429, { code: 'insufficient_quota' }, 'fallback'],
    [500, {}, 'retryable'],
    [503, {}, 'retryable'],
    [529, { code: 'overloaded_error' }, 'retryable'],
    [401, {}, 'final'],
    [402, {}, 'fallback'],
    [403, {}, 'final'],
    [404, {}, 'fallback'],
    [400, { message: 'prompt is too long: 208656 tokens > 200000 maximum' }, 'context_length'],
    [400, { message: 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).' }, 'context_length'],
    [400, { code: 'content_filter ResponsibleAIPolicyViolation' }, 'content_policy'],
    [400, { message: 'Invalid value for temperature' }, 'final'],
    [422, {}, 'final'],
  ] as const)('HTTP %i %j -> %s', (status, details, expected) => {
    expect(classifyHttpStatus(status, details)).toBe(expected);
  });

  it('obeys x-should-retry', () => {
    expect(classifyHttpStatus(400, {}, { 'x-should-retry': 'true' })).toBe('retryable');
    expect(classifyHttpStatus(503, {}, { 'x-should-retry': 'false' })).toBe('fallback');
  });
});

describe('errors and redaction', () => {
  it('removes the credential and key-shaped strings from raw text', () => {
    const text = redact('bad key sk-live-abcdefghijklmnop and mysecretvalue9 and ?key=AIzaSyA1234567890123456789012 Bearer abc.def.ghi123', 'mysecretvalue9');
    expect(text).not.toContain('mysecretvalue9');
    expect(text).not.toContain('sk-live-abcdefghijklmnop');
    expect(text).not.toContain('AIzaSyA');
    expect(text).not.toContain('abc.def.ghi123');
    expect(text).toContain('[REDACTED]');
    expect(redact('x'.repeat(10_000), undefined).length).toBeLessThan(4_200);
  });

  it('maps socket errors, timeouts and aborts to kinds', () => {
    const live = new AbortController().signal;
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(transportError(refused, live)).toMatchObject({ kind: 'connection', errorClass: 'retryable' });
    const headersTimeout = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
    expect(transportError(headersTimeout, live)).toMatchObject({ kind: 'timeout', errorClass: 'retryable' });
    const timedOut = new AbortController();
    timedOut.abort(new DOMException('deadline', 'TimeoutError'));
    expect(abortError(timedOut.signal)).toMatchObject({ kind: 'timeout', errorClass: 'retryable' });
    const cancelled = new AbortController();
    cancelled.abort();
    expect(abortError(cancelled.signal)).toMatchObject({ kind: 'aborted', errorClass: 'final' });
    expect(abortError(cancelled.signal)).toBeInstanceOf(ProviderCallError);
  });
});

describe('postJson', () => {
  it('reuses keep-alive connections for sequential calls', async () => {
    let connections = 0;
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.end('{"ok":true}'));
    });
    server.on('connection', () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const signal = new AbortController().signal;
    for (let index = 0; index < 5; index += 1) {
      const response = await postJson({ url, headers: {}, body: { index }, signal });
      expect(await readText(response, signal)).toBe('{"ok":true}');
    }
    // Without keep-alive this would be 5; the pool may open a second socket while the first is
    // still being released, never more.
    expect(connections).toBeLessThanOrEqual(2);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('rejects with a connection error when nothing listens', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await postJson({ url: `http://127.0.0.1:${port}/`, headers: {}, body: {}, signal: new AbortController().signal }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: 'connection', errorClass: 'retryable', status: undefined });
  });
});

/** A loopback upstream; `handle` answers each request (after its body was read). */
async function upstream(handle: (request: IncomingMessage, response: ServerResponse, body: string) => void) {
  const closed: number[] = [];
  const opened: number[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (piece: string) => (body += piece));
    request.on('end', () => handle(request, response, body));
  });
  server.on('connection', (socket) => {
    opened.push(Date.now());
    socket.on('close', () => closed.push(Date.now()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    opened,
    closed,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('postJsonBuffered', () => {
  it('sends the JSON body with the same headers as postJson and returns status, headers and text', async () => {
    const seen: Array<{ url: string | undefined; headers: IncomingMessage['headers']; body: string }> = [];
    const server = await upstream((request, response, body) => {
      seen.push({ url: request.url, headers: request.headers, body });
      response.writeHead(429, { 'retry-after': '3', 'content-type': 'application/json' });
      // A byte-order mark and a body in two writes: undici's body.text() drops the first and joins both.
      response.write(Buffer.from([0xef, 0xbb, 0xbf]));
      response.end('{"error":"slow down é"}');
    });
    try {
      const signal = new AbortController().signal;
      const response = await postJsonBuffered({ url: `${server.url}/v1/chat?x=1`, headers: { authorization: 'Bearer k', 'x-extra': 'y' }, body: { a: 1 }, signal });
      expect(response.status).toBe(429);
      expect(response.text).toBe('{"error":"slow down é"}');
      expect(response.headers['retry-after']).toBe('3');
      expect(retryAfterFromHeaders(response.headers)).toBe(3000);
      const streamed = await postJson({ url: `${server.url}/v1/chat?x=1`, headers: { authorization: 'Bearer k', 'x-extra': 'y' }, body: { a: 1 }, signal });
      expect(await readText(streamed, signal)).toBe('{"error":"slow down é"}');
      await postJsonBuffered({ url: `${server.url}/v1/chat`, headers: { 'content-type': 'application/json; charset=utf-8' }, body: {}, signal });
      await postJson({ url: `${server.url}/v1/chat`, headers: { accept: 'application/x-ndjson' }, body: {}, signal }, 'text/event-stream').then((answer) => readText(answer, signal));
      await postJson({ url: `${server.url}/v1/chat`, headers: {}, body: {}, signal }, 'text/event-stream').then((answer) => readText(answer, signal));
      expect(seen[0]).toMatchObject({ url: '/v1/chat?x=1', body: '{"a":1}', headers: { 'content-type': 'application/json', authorization: 'Bearer k', 'x-extra': 'y' } });
      expect(seen[1]).toMatchObject({ url: '/v1/chat?x=1', body: '{"a":1}', headers: { 'content-type': 'application/json', authorization: 'Bearer k', 'x-extra': 'y' } });
      expect(seen[1]?.headers.accept).toBeUndefined();
      expect(seen[2]?.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(seen[3]?.headers.accept).toBe('application/x-ndjson');
      expect(seen[4]?.headers.accept).toBe('text/event-stream');
    } finally {
      await server.close();
    }
  });

  it('reuses keep-alive connections', async () => {
    const server = await upstream((_request, response) => response.end('{"ok":true}'));
    try {
      const signal = new AbortController().signal;
      for (let index = 0; index < 5; index += 1) {
        const response = await postJsonBuffered({ url: `${server.url}/keep-alive`, headers: {}, body: { index }, signal });
        expect(response.text).toBe('{"ok":true}');
      }
      // As for postJson: one socket, or two if the first was still being released.
      expect(server.opened.length).toBeLessThanOrEqual(2);
      expect(server.closed.length).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('classifies aborts before the call, during the headers (timeout reason) and during the body, and closes the socket', async () => {
    const server = await upstream((request, response) => {
      if (request.url === '/body') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"partial":');
      }
      // Otherwise: never answers.
    });
    try {
      const before = new AbortController();
      before.abort();
      await expect(postJsonBuffered({ url: `${server.url}/headers`, headers: {}, body: {}, signal: before.signal })).rejects.toMatchObject({ kind: 'aborted', errorClass: 'final' });

      const deadline = new AbortController();
      const timedOut = postJsonBuffered({ url: `${server.url}/headers`, headers: {}, body: {}, signal: deadline.signal });
      setTimeout(() => deadline.abort(new DOMException('deadline', 'TimeoutError')), 50);
      await expect(timedOut).rejects.toMatchObject({ kind: 'timeout', errorClass: 'retryable' });

      const client = new AbortController();
      const cancelled = postJsonBuffered({ url: `${server.url}/body`, headers: {}, body: {}, signal: client.signal });
      setTimeout(() => client.abort(), 50);
      const error = await cancelled.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ProviderCallError);
      expect(error).toMatchObject({ kind: 'aborted', errorClass: 'final' });
      // Both aborted requests closed their sockets.
      for (let wait = 0; wait < 50 && server.closed.length < 2; wait += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(server.closed.length).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('rejects with connection errors for refused connections and non-HTTP URLs, never leaking headers', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const signal = new AbortController().signal;
    const refused = await postJsonBuffered({ url: `http://127.0.0.1:${port}/`, headers: { authorization: 'Bearer sk-secret-123456789' }, body: {}, signal }).catch((caught: unknown) => caught);
    expect(refused).toMatchObject({ kind: 'connection', errorClass: 'retryable', status: undefined });
    expect(String((refused as Error).message)).not.toContain('sk-secret');
    await expect(postJsonBuffered({ url: 'ftp://127.0.0.1/', headers: {}, body: {}, signal })).rejects.toMatchObject({ kind: 'connection', message: 'Upstream connection failed (UND_ERR_INVALID_ARG)' });
    await expect(postJson({ url: 'ftp://127.0.0.1/', headers: {}, body: {}, signal })).rejects.toMatchObject({ kind: 'connection', message: 'Upstream connection failed (UND_ERR_INVALID_ARG)' });
    await expect(postJsonBuffered({ url: 'not a url', headers: {}, body: {}, signal })).rejects.toMatchObject({ kind: 'connection', message: 'Upstream connection failed (ERR_INVALID_URL)' });
  });
});

describe('stream requests answered with JSON', () => {
  it('reject before the stream is accepted, classified from the body', async () => {
    const { startFakeOpenAI } = await import('../../test/fakes/fake-openai.ts');
    const { createOpenAICompatibleAdapter } = await import('./openai-compatible/adapter.ts');
    const fake = await startFakeOpenAI({ script: [{ status: 200, body: { error: { message: 'The model is overloaded', type: 'server_error', code: 503 } } }, { status: 200, body: { id: 'x' } }] });
    try {
      const adapter = createOpenAICompatibleAdapter();
      const call = {
        request: { messages: [{ role: 'user' as const, content: 'x' }], stream: true },
        attempt: {
          endpoint: 'm@p', provider: 'p', provider_name: 'P', protocol: 'openai-compatible' as const, model: 'm', upstream_model: 'u',
          pricing: { prompt: '0', completion: '0' }, estimated_cost: { min: 0, max: 0 },
          timeouts: { first_byte_ms: 1000, attempt_ms: 1000, total_ms: 1000 }, retries: { max: 0, backoff_ms: 0, multiplier: 1, max_backoff_ms: 0 },
          drop_parameters: [], reasons: [],
        },
        provider: { id: 'p', name: 'P', protocol: 'openai-compatible' as const, base_url: fake.url, data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true }, region: 'us', status: 'active' as const },
        credential: undefined,
        signal: new AbortController().signal,
      };
      await expect(adapter.stream(call)).rejects.toMatchObject({ kind: 'http', status: 503, errorClass: 'retryable' });
      await expect(adapter.stream(call)).rejects.toMatchObject({ kind: 'malformed', errorClass: 'retryable' });
    } finally {
      await fake.close();
    }
  });
});
