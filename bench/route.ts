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
 *
 * `BENCH_ACCOUNTING=1`: what accounting adds to the route, set up as bench:gateway's `sqlite` row
 * sets it (a stored key with a credit limit, per-key rate limits, a global policy budget, memory
 * state, the generation log in SQLite with its journal), against the same route without it, in
 * alternating rounds. CPU is the main thread's (/proc/thread-self/stat): SQLite inserts run on
 * the log's writer thread. Needs Linux.
 * The last line is one JSON object.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as engine from '../engine/index.ts';
import { createApp } from '../sidecar/app.ts';
import { createKeyVerifier } from '../sidecar/http/auth.ts';
import { MemoryGenerationStore } from '../sidecar/store/generation-record.ts';
import { createAlertNotifier } from '../sidecar/accounting/alerts.ts';
import { RequestAccounting } from '../sidecar/http/request-accounting.ts';
import { createStoredKeyVerifier } from '../sidecar/http/stored-keys.ts';
import { silentLogger } from '../sidecar/logger.ts';
import { openAccountingState } from '../sidecar/state/index.ts';
import { openStores } from '../sidecar/store/index.ts';
import { threadCpuMicroseconds } from './cpu-probe.ts';

const catalogText = JSON.stringify({
  providers: [{ id: 'bench', name: 'Bench', protocol: 'openai-compatible', base_url: 'http://127.0.0.1:9/v1', data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true }, region: 'us', status: 'active' }],
  models: [{ id: 'bench/model', name: 'Bench', context_length: 8000, input_modalities: ['text'], output_modalities: ['text'], endpoints: [{ provider: 'bench', upstream_model: 'bench-model', pricing: { prompt: '0.000001', completion: '0.000002' }, supported_parameters: ['max_tokens', 'temperature'] }] }],
});
const catalog = engine.compileCatalog([{ text: catalogText, file: 'c.yaml' }]);
if (!catalog.ok) throw new Error('catalog');
const policyDocument = { version: 1, id: 'bench', defaults: { retries: { max: 0 }, timeouts: { first_byte_ms: 30000, attempt_ms: 120000, total_ms: 300000 } } };
const policy = engine.compilePolicy(JSON.stringify(policyDocument), 'p.yaml', catalog.value);
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
type Handle = (q: unknown, s: unknown) => void;
const handleOf = (built: unknown): Handle => (built as { handle: Handle }).handle.bind(built);
const handle = handleOf(app);

const ACCOUNTING = process.env.BENCH_ACCOUNTING === '1';
const directory = mkdtempSync(join(tmpdir(), 'switchyard-bench-route-'));
/** The route with accounting on (BENCH_ACCOUNTING=1), and the bearer key its requests carry. */
async function accountingApp(): Promise<{ handle: Handle; authorization: string; close: () => Promise<void> }> {
  const budgeted = engine.compilePolicy(
    JSON.stringify({ ...policyDocument, require: { budgets: ['bench-global'] }, budgets: [{ id: 'bench-global', scope: 'global', period: 'month', limit: 1_000_000_000 }] }),
    'p.yaml',
    routing.catalog,
  );
  if (!budgeted.ok) throw new Error('policy');
  const stores = await openStores({ kind: 'sqlite', path: join(directory, 'bench.db') });
  const key = (await stores.keys.create({ name: 'bench', limit: '1000000000' }, new Date())).key;
  const verifier = await createStoredKeyVerifier({ configKeys: createKeyVerifier([]), store: stores.keys, refreshMs: 60_000, logger: silentLogger });
  const state = await openAccountingState({ kind: 'memory' });
  const accounting = new RequestAccounting({
    state,
    generations: stores.generations,
    storedKeyOf: (identity) => verifier.storedKeyOf(identity),
    rateLimits: { requestsPerMinute: 100_000_000, tokensPerMinute: 1_000_000_000 },
    alertThresholds: [0.5, 0.8, 1],
    alerts: createAlertNotifier({ log: () => {}, count: () => {} }),
    logger: silentLogger,
  });
  const budgetedRouting = { policy: budgeted.value, catalog: routing.catalog };
  const built = createApp({ routing: { current: () => budgetedRouting }, adapters: { 'openai-compatible': fake } as never, credentials: () => 'k', keys: verifier, store: stores.generations, accounting });
  return {
    handle: handleOf(built),
    authorization: `Bearer ${key}`,
    close: async () => {
      verifier.close();
      await accounting.drain();
      await state.close();
      await stores.close();
    },
  };
}
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
function once(through: Handle = handle, authorization?: string): Promise<FakeResponse> {
  return new Promise((resolve) => {
    const request = Readable.from([body]) as Readable & { headers: Record<string, string>; method: string; url: string };
    request.headers = { host: 'localhost:8080', 'content-type': 'application/json', 'content-length': String(body.length), ...(authorization ? { authorization } : {}) };
    request.method = 'POST'; request.url = '/api/v1/chat/completions';
    const response = new FakeResponse(resolve);
    through(request, response);
  });
}
/** CPU time of the main thread so far, µs (clock ticks of 10 ms); accounting mode needs Linux. */
function threadCpu(): number {
  const used = threadCpuMicroseconds();
  if (Number.isNaN(used)) throw new Error('BENCH_ACCOUNTING=1 reads the main thread\'s CPU from /proc/thread-self/stat (Linux only)');
  return used;
}
async function drive(n: number, through: Handle = handle, authorization?: string): Promise<number> {
  let left = n;
  const before = ACCOUNTING ? threadCpu() : 0;
  const beforeProcess = process.cpuUsage();
  await Promise.all(Array.from({ length: 32 }, async () => { while (left-- > 0) { const r = await once(through, authorization); if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.out}`); } }));
  if (ACCOUNTING) return (threadCpu() - before) / n;
  const used = process.cpuUsage(beforeProcess);
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
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[2] as number;
if (ACCOUNTING) {
  const on = await accountingApp();
  await drive(10000); await drive(10000, on.handle, on.authorization);
  const off: number[] = [], with_: number[] = [];
  for (let i = 0; i < 5; i++) {
    // Alternating which goes first, so that neither always follows the other's garbage.
    if (i % 2 === 0) { off.push(await drive(N)); with_.push(await drive(N, on.handle, on.authorization)); }
    else { with_.push(await drive(N, on.handle, on.authorization)); off.push(await drive(N)); }
  }
  await on.close();
  rmSync(directory, { recursive: true, force: true });
  console.log(`main thread: the route alone ${med(off).toFixed(1)} µs/request; with accounting ${med(with_).toFixed(1)} µs/request (${(med(with_) / med(off)).toFixed(2)}x); accounting adds ${(med(with_) - med(off)).toFixed(1)} µs`);
  console.log(JSON.stringify({ route_us: +med(off).toFixed(1), accounting_us: +med(with_).toFixed(1), added_us: +(med(with_) - med(off)).toFixed(1), ratio: +(med(with_) / med(off)).toFixed(2), route_rounds: off.map((x) => +x.toFixed(1)), accounting_rounds: with_.map((x) => +x.toFixed(1)) }));
  process.exit(0);
}
rmSync(directory, { recursive: true, force: true });
await drive(10000); await bare(5000);
const g: number[] = [], b: number[] = [];
for (let i = 0; i < 5; i++) { b.push(await bare(N)); g.push(await drive(N)); }
console.log(`harness alone ${med(b).toFixed(1)} µs/request; through the chat route ${med(g).toFixed(1)} µs/request (${(med(g) / med(b)).toFixed(1)}x); the route adds ${(med(g) - med(b)).toFixed(1)} µs`);
console.log(JSON.stringify({ harness_us: +med(b).toFixed(1), route_us: +med(g).toFixed(1), added_us: +(med(g) - med(b)).toFixed(1), ratio: +(med(g) / med(b)).toFixed(2), route_rounds: g.map((x) => +x.toFixed(1)) }));
