/**
 * `npm run bench:route`: the CPU the chat route itself costs per request, with no sockets at all.
 *
 * createApp (engine, executor, response shaping, generation record, memory store) serves
 * non-streamed chat requests from a fake request stream into a fake response, with a canned
 * adapter answer; the baseline is the same harness reading the same body and writing a canned JSON
 * answer. `BENCH_STREAM=1` streams instead (a canned stream of 5 text deltas and a finish; the
 * baseline writes the same number of chunks). 32 requests in flight, 5 rounds of N (default
 * 30,000); medians. What it isolates is our
 * own JavaScript: no kernel, no wake-ups, no undici, no ops layer (bench:gateway has all of those).
 * The last line is one JSON object.
 */
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import * as engine from '../engine/index.ts';
import { createApp } from '../sidecar/app.ts';
import { createKeyVerifier } from '../sidecar/http/auth.ts';
import { MemoryGenerationStore } from '../sidecar/store/generation-record.ts';

const catalogText = JSON.stringify({
  providers: [{ id: 'bench', name: 'Bench', protocol: 'openai-compatible', base_url: 'http://127.0.0.1:9/v1', data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true }, region: 'us', status: 'active' }],
  models: [{ id: 'bench/model', name: 'Bench', context_length: 8000, input_modalities: ['text'], output_modalities: ['text'], endpoints: [{ provider: 'bench', upstream_model: 'bench-model', pricing: { prompt: '0.000001', completion: '0.000002' }, supported_parameters: ['max_tokens', 'temperature'] }] }],
});
const catalog = engine.compileCatalog([{ text: catalogText, file: 'c.yaml' }]);
if (!catalog.ok) throw new Error('catalog');
const policy = engine.compilePolicy(JSON.stringify({ version: 1, id: 'bench', defaults: { retries: { max: 0 }, timeouts: { first_byte_ms: 30000, attempt_ms: 120000, total_ms: 300000 } } }), 'p.yaml', catalog.value);
if (!policy.ok) throw new Error('policy');
const routing = { policy: policy.value, catalog: catalog.value };
const canned = () => ({ upstream_id: 'chatcmpl-bench', message: { content: 'Hello from the benchmark upstream, a short answer of a few tokens.' }, finish_reason: 'stop' as const, native_finish_reason: 'stop', usage: { prompt_tokens: 12, completion_tokens: 14, total_tokens: 26, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } }, warnings: [] });
async function* cannedParts() {
  for (const delta of ['Hello', ' from', ' the', ' benchmark', ' upstream.']) {
    await Promise.resolve();
    yield { type: 'text-delta' as const, delta };
  }
  yield { type: 'finish' as const, finish_reason: 'stop' as const, native_finish_reason: 'stop', usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } };
}
const fake = { protocol: 'openai-compatible', generate: async () => { await Promise.resolve(); return canned(); }, stream: async () => { await Promise.resolve(); return { parts: cannedParts(), warnings: [] }; } };
/** `BENCH_STREAM=1`: streamed requests (5 text deltas, finish, usage chunk, [DONE]). */
const STREAM = process.env.BENCH_STREAM === '1';
const app = createApp({ routing: { current: () => routing }, adapters: { 'openai-compatible': fake } as never, credentials: () => 'k', keys: createKeyVerifier([]), store: new MemoryGenerationStore(2000) });
const handle = (app as unknown as { handle: (q: unknown, s: unknown) => void }).handle.bind(app);
const body = Buffer.from(JSON.stringify({ model: 'bench/model', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 16, ...(process.env.BENCH_STREAM === '1' ? { stream: true } : {}) }));

class FakeResponse extends EventEmitter {
  statusCode = 200; headersSent = false; destroyed = false; writableEnded = false; writableFinished = false;
  headers: Record<string, unknown> = {}; out = '';
  constructor(private done: (r: FakeResponse) => void) { super(); }
  setHeader(n: string, v: unknown) { this.headers[n.toLowerCase()] = v; return this; }
  getHeader(n: string) { return this.headers[n.toLowerCase()]; }
  hasHeader(n: string) { return n.toLowerCase() in this.headers; }
  removeHeader(n: string) { delete this.headers[n.toLowerCase()]; }
  writeHead(status: number, headers?: Record<string, unknown>) { this.statusCode = status; if (headers) for (const k in headers) this.headers[k.toLowerCase()] = headers[k]; this.headersSent = true; return this; }
  flushHeaders() { this.headersSent = true; }
  write(t: string) { this.headersSent = true; this.out += t; return true; }
  end(t?: string) { if (t) this.out += t; this.headersSent = true; this.writableEnded = true; this.writableFinished = true; process.nextTick(() => { this.emit('finish'); this.emit('close'); this.done(this); }); return this; }
}
function once(): Promise<FakeResponse> {
  return new Promise((resolve) => {
    const request = Readable.from([body]) as Readable & { headers: Record<string, string>; method: string; url: string };
    request.headers = { host: 'localhost:8080', 'content-type': 'application/json', 'content-length': String(body.length) };
    request.method = 'POST'; request.url = '/api/v1/chat/completions';
    const response = new FakeResponse(resolve);
    handle(request, response);
  });
}
async function drive(n: number): Promise<number> {
  let left = n;
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: 32 }, async () => { while (left-- > 0) { const r = await once(); if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.out}`); } }));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}
async function bare(n: number): Promise<number> {
  // The same fake request read and a canned JSON answer: the harness's own cost.
  let left = n;
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: 32 }, async () => { while (left-- > 0) await new Promise<void>((resolve) => {
    const request = Readable.from([body]); const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c)); request.on('end', () => { JSON.parse(Buffer.concat(chunks).toString()); const r = new FakeResponse(() => resolve()); r.writeHead(200, { 'content-type': 'application/json' }); if (STREAM) { for (let i = 0; i < 7; i++) r.write(`data: ${JSON.stringify(canned())}\n\n`); r.end('data: [DONE]\n\n'); } else r.end(JSON.stringify(canned())); });
  }); }));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}
const N = Number(process.env.N ?? 30000);
await drive(10000); await bare(5000);
const g: number[] = [], b: number[] = [];
for (let i = 0; i < 5; i++) { b.push(await bare(N)); g.push(await drive(N)); }
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[2] as number;
console.log(`harness alone ${med(b).toFixed(1)} µs/request; through the chat route ${med(g).toFixed(1)} µs/request (${(med(g) / med(b)).toFixed(1)}x); the route adds ${(med(g) - med(b)).toFixed(1)} µs`);
console.log(JSON.stringify({ harness_us: +med(b).toFixed(1), route_us: +med(g).toFixed(1), added_us: +(med(g) - med(b)).toFixed(1), ratio: +(med(g) / med(b)).toFixed(2), route_rounds: g.map((x) => +x.toFixed(1)) }));
