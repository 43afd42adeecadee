/**
 * `npm run bench:gateway`: what Switchyard adds on top of a direct call, measured in one run.
 *
 * Four processes, all on loopback: a minimal OpenAI-shaped upstream, the gateway (startServer, as
 * `switchyard serve` runs it, with the real engine, the openai-compatible adapter and the ops
 * layer; `BENCH_GATEWAY=core` for createApp alone), the floor (the thinnest node:http + undici
 * proxy, the same Node flags: what any Node gateway costs on this machine) and this load generator
 * (undici). The same load goes direct to the upstream, through the floor and through the gateway:
 *   1. fixed rate (1,000 requests/s offered): p50/p99 latency, and what the gateway adds;
 *   2. closed loop at fixed concurrency, in interleaved rounds: saturation throughput, gateway / direct;
 *   3. sequential streams: time to the first content byte, and what the gateway adds;
 *   4. 1,000 streams held open through the gateway: the gateway's RSS.
 * Every phase is bounded in count and time. The last line is one JSON object with every figure.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Agent, Pool, request } from 'undici';
import { Redis } from 'ioredis';
import { redisCommands, redisServerCpu, threadCpuMicroseconds } from './cpu-probe.ts';

const RATE_PER_SECOND = 1_000;
const FIXED_RATE_REQUESTS = 4_000;
/**
 * Requests sent to each target at the fixed rate before anything is measured (`BENCH_WARM_UP`).
 * 5,000 (5 s): after 1,500, V8 was still compiling and re-optimising the gateway's request path
 * during the fixed-rate phase, on the helper thread and the cores the phase measures.
 */
const WARM_UP_REQUESTS = Number(process.env.BENCH_WARM_UP ?? 5_000);
/**
 * Callers of the closed loop (`BENCH_CONCURRENCY`, default 32: the figures in the README are all
 * taken at 32). A gateway whose requests wait on something outside it (the Redis state's round
 * trip) idles at 32 where more callers would keep it busy: the knob shows how much.
 */
const SATURATION_CONCURRENCY = Math.max(1, Number(process.env.BENCH_CONCURRENCY ?? 32));
const SATURATION_MS = 3_000;
/**
 * Saturation rounds of the main run (`BENCH_SATURATION_ROUNDS`): direct, floor and gateway for
 * `SATURATION_MS` each per round, every other round in reverse order; the ratios are the medians
 * of the rounds' ratios, each taken within seconds, so a minute's drift of this VM (up to 2x)
 * moves them less than one sample of each would. Until 2026-12-07 the run took one round.
 */
const SATURATION_ROUNDS = Math.max(1, Number(process.env.BENCH_SATURATION_ROUNDS ?? 3));
const TTFB_REQUESTS = 300;
/**
 * Streams sent to each target before its first-byte samples, as the other phases follow the
 * non-streamed warm-up: measured at steady state, with the streaming path compiled by then
 * (without them the samples run largely unoptimised code, and V8's compiler thread competes).
 */
const TTFB_WARM_UP = Number(process.env.BENCH_TTFB_WARM_UP ?? 600);
const OPEN_STREAMS = 1_000;
const PHASE_TIMEOUT_MS = 60_000;

const COMPLETION = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_760_000_000,
  model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the benchmark upstream, a short answer of a few tokens.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 14, total_tokens: 26, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
});

function chunk(delta: Record<string, unknown>, finishReason: string | null): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'bench-model', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] })}\n\n`;
}
const STREAM_FIRST = chunk({ role: 'assistant', content: 'Hello' }, null);
const STREAM_REST =
  [' from', ' the', ' benchmark', ' upstream.'].map((text) => chunk({ content: text }, null)).join('') +
  chunk({}, 'stop') +
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'bench-model', choices: [], usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } })}\n\ndata: [DONE]\n\n`;

// ---------------------------------------------------------------------------------------------
// Upstream process: answers as fast as Node can; `/hold/...` streams the first chunk and waits.
// ---------------------------------------------------------------------------------------------

async function runUpstream(): Promise<void> {
  const server = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    let text = '';
    incoming.setEncoding('utf8');
    incoming.on('data', (piece: string) => (text += piece));
    incoming.on('end', () => {
      const streaming = text.includes('"stream":true');
      if (!streaming) {
        outgoing.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(COMPLETION) });
        outgoing.end(COMPLETION);
        return;
      }
      outgoing.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      outgoing.write(STREAM_FIRST);
      if (incoming.url?.startsWith('/hold/')) return; // held open until the client goes away
      outgoing.end(STREAM_REST);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
}

// ---------------------------------------------------------------------------------------------
// Gateway process: createApp exactly as server.ts builds it, minus files and environment.
// ---------------------------------------------------------------------------------------------

let profiler: Session | undefined;

/** CPU profile of one phase, through the inspector (only when BENCH_PROFILE_DIR is set). */
async function profile(step: 'profile-start' | 'profile-stop'): Promise<void> {
  const directory = process.env.BENCH_PROFILE_DIR;
  if (!directory) return;
  const postWith = (method: string, parameters: object): Promise<unknown> =>
    new Promise((resolve, reject) => profiler?.post(method, parameters, (error, result) => (error ? reject(error) : resolve(result))));
  const post = (method: string): Promise<unknown> => postWith(method, {});
  if (step === 'profile-start') {
    profiler = new Session();
    profiler.connect();
    await post('Profiler.enable');
    // 1 ms by default; finer sampling (BENCH_PROFILE_INTERVAL_US) costs the gateway some throughput.
    if (process.env.BENCH_PROFILE_INTERVAL_US) await postWith('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROFILE_INTERVAL_US) });
    await post('Profiler.start');
    // Allocation sites, collected objects included (what drives the scavenges), when
    // BENCH_PROFILE_HEAP=1; `promoted`: only objects that outlived a scavenge (what drives the
    // mark-compacts), collected later or not.
    if (process.env.BENCH_PROFILE_HEAP === '1' || process.env.BENCH_PROFILE_HEAP === 'promoted') {
      const minor = process.env.BENCH_PROFILE_HEAP === '1';
      await postWith('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: minor });
    }
    return;
  }
  const result = (await post('Profiler.stop')) as { profile: unknown };
  mkdirSync(directory, { recursive: true });
  writeFileSync(`${directory}/gateway-${PROFILE_PHASE}.cpuprofile`, JSON.stringify(result.profile));
  if (process.env.BENCH_PROFILE_HEAP === '1' || process.env.BENCH_PROFILE_HEAP === 'promoted') {
    const heap = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
    writeFileSync(`${directory}/gateway-${PROFILE_PHASE}.heapprofile`, JSON.stringify(heap.profile));
  }
  profiler?.disconnect();
}

/** The bench catalog: one provider answering at once, one holding streams open. JSON is YAML. */
function benchCatalog(upstreamUrl: string): string {
  const dataPolicy = { trains_on_prompts: false, retention_days: 0, zdr: true };
  const endpoint = (provider: string) => ({ provider, upstream_model: 'bench-model', pricing: { prompt: '0.000001', completion: '0.000002' }, supported_parameters: ['max_tokens', 'temperature'] });
  return JSON.stringify({
    providers: [
      { id: 'bench', name: 'Bench', protocol: 'openai-compatible', base_url: `${upstreamUrl}/v1`, data_policy: dataPolicy, region: 'us', status: 'active' },
      { id: 'bench-hold', name: 'Bench Hold', protocol: 'openai-compatible', base_url: `${upstreamUrl}/hold/v1`, data_policy: dataPolicy, region: 'us', status: 'active' },
    ],
    models: [
      { id: 'bench/model', name: 'Bench', context_length: 8_000, input_modalities: ['text'], output_modalities: ['text'], endpoints: [endpoint('bench')] },
      { id: 'bench/hold', name: 'Bench Hold', context_length: 8_000, input_modalities: ['text'], output_modalities: ['text'], endpoints: [endpoint('bench-hold')] },
    ],
  });
}

const BENCH_POLICY = JSON.stringify({ version: 1, id: 'bench', defaults: { retries: { max: 0 }, timeouts: { first_byte_ms: 30_000, attempt_ms: 120_000, total_ms: 300_000 } } });

/**
 * `BENCH_ACCOUNTING=sqlite|redis` (server gateway only): accounting on, as a deployment with
 * limits runs it: every request authenticates with a stored key, is rate-checked, holds its worst
 * case against the key's credit limit and a global policy budget, settles after the response, and
 * is logged to SQLite; state in memory (`sqlite`) or in Redis at REDIS_URL (`redis`). Default
 * `off`: storage in memory, accounting disabled.
 */
const ACCOUNTING = process.env.BENCH_ACCOUNTING === 'sqlite' || process.env.BENCH_ACCOUNTING === 'redis' ? process.env.BENCH_ACCOUNTING : 'off';
const ACCOUNTING_POLICY = JSON.stringify({
  ...(JSON.parse(BENCH_POLICY) as Record<string, unknown>),
  require: { budgets: ['bench-global'] },
  budgets: [{ id: 'bench-global', scope: 'global', period: 'month', limit: 1_000_000_000 }],
});

/** `BENCH_GATEWAY=core`: createApp alone (engine, executor, adapters, memory store), no ops layer. */
async function startCoreGateway(upstreamUrl: string): Promise<number> {
  const [{ createApp }, engine, { createAdapterRegistry }, { createKeyVerifier }, { MemoryGenerationStore }] = await Promise.all([
    import('../sidecar/app.ts'),
    import('../engine/index.ts'),
    import('../sidecar/providers/index.ts'),
    import('../sidecar/http/auth.ts'),
    import('../sidecar/store/generation-record.ts'),
  ]);
  const catalog = engine.compileCatalog([{ text: benchCatalog(upstreamUrl), file: 'bench-catalog.yaml' }]);
  if (!catalog.ok) throw new Error(catalog.diagnostics.map(engine.formatDiagnostic).join('\n'));
  const policy = engine.compilePolicy(BENCH_POLICY, 'bench-policy.yaml', catalog.value);
  if (!policy.ok) throw new Error(policy.diagnostics.map(engine.formatDiagnostic).join('\n'));
  const routing = { policy: policy.value, catalog: catalog.value };
  const app = createApp({
    routing: { current: () => routing },
    adapters: createAdapterRegistry(),
    credentials: () => 'bench-key',
    keys: createKeyVerifier([]),
    store: new MemoryGenerationStore(2_000),
  });
  const server = createServer(app);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * Default: the server exactly as `switchyard serve` runs it (config file, ops layer, request log
 * at info level to a discarded stdout), with a catalog pointing at the loopback upstream.
 */
async function startServerGateway(upstreamUrl: string): Promise<{ port: number; key?: string }> {
  const { startServer } = await import('../sidecar/server.ts');
  const directory = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  writeFileSync(join(directory, 'catalog.yaml'), benchCatalog(upstreamUrl));
  writeFileSync(join(directory, 'policy.yaml'), ACCOUNTING === 'off' ? BENCH_POLICY : ACCOUNTING_POLICY);
  const accounting =
    ACCOUNTING === 'off'
      ? ['storage: { kind: memory }', 'accounting: { enabled: false }']
      : [
          'storage: { kind: sqlite, path: bench.db }',
          `accounting: { state: ${ACCOUNTING === 'redis' ? 'redis' : 'memory'}, rate_limits: { requests_per_minute: 100000000, tokens_per_minute: 1000000000 } }`,
        ];
  writeFileSync(
    join(directory, 'switchyard.yaml'),
    ['version: 1', 'server: { host: 127.0.0.1, port: 0, watch: false }', 'catalog: [catalog.yaml]', 'policy: policy.yaml', ...accounting, 'telemetry: { traces: off }', 'logging: { level: info }', ''].join('\n'),
  );
  let key: string | undefined;
  if (ACCOUNTING !== 'off') {
    // A stored key with a credit limit, made before the server starts (as `switchyard keys create` would).
    const { openStores } = await import('../sidecar/store/index.ts');
    const stores = await openStores({ kind: 'sqlite', path: join(directory, 'bench.db') });
    key = (await stores.keys.create({ name: 'bench', limit: '1000000000' }, new Date())).key;
    await stores.close();
  }
  const env = ACCOUNTING === 'redis' ? { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', SWITCHYARD_REDIS_PREFIX: `switchyard-bench-${process.pid}:` } : {};
  const started = await startServer({ configPath: join(directory, 'switchyard.yaml'), cwd: directory, env });
  if (!started.ok) throw new Error(started.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
  return { port: started.gateway.port, ...(key ? { key } : {}) };
}

/**
 * The floor: the thinnest proxy Node allows (node:http in, one undici Pool out, the body parsed and
 * re-serialised, the answer parsed and re-serialised, no routing, no records). What this machine
 * permits any Node gateway; Switchyard's own cost reads against it.
 */
async function startFloorGateway(upstreamUrl: string): Promise<number> {
  const pool = new Pool(upstreamUrl, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
  const server = createServer((incoming, outgoing) => {
    let text = '';
    incoming.setEncoding('utf8');
    incoming.on('data', (piece: string) => (text += piece));
    incoming.on('end', () => {
      const body = JSON.parse(text) as { model: string; stream?: boolean };
      const path = body.model === 'bench/hold' ? '/hold/v1/chat/completions' : '/v1/chat/completions';
      body.model = 'bench-model';
      void pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (answer) => {
        if (body.stream) {
          outgoing.writeHead(200, { 'content-type': 'text/event-stream' });
          for await (const piece of answer.body) outgoing.write(piece);
          outgoing.end();
          return;
        }
        const parsed = (await answer.body.json()) as Record<string, unknown>;
        const reply = JSON.stringify({ ...parsed, id: 'gen-floor', provider: 'Bench' });
        outgoing.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
        outgoing.end(reply);
      });
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

let pauseWatch: { observer: PerformanceObserver; gc: number[]; loop: IntervalHistogram } | undefined;

/** Starts counting the gateway's GC pauses and event-loop delay (the fixed-rate phase's p99 suspects). */
function watchPauses(): void {
  const gc: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gc.push(entry.duration);
  });
  observer.observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  pauseWatch = { observer, gc, loop };
}

/** GC pauses (count, longest, total ms) and event-loop delay (p99, max ms) since `watchPauses`. */
function stopWatchingPauses(): Record<string, number> {
  if (!pauseWatch) return {};
  const { observer, gc, loop } = pauseWatch;
  observer.disconnect();
  loop.disable();
  pauseWatch = undefined;
  return {
    gcPauses: gc.length,
    gcLongestMs: gc.length === 0 ? 0 : Math.max(...gc),
    gcTotalMs: gc.reduce((sum, pause) => sum + pause, 0),
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  };
}

async function runGateway(upstreamUrl: string, role: string): Promise<void> {
  const started =
    role === 'floor' ? { port: await startFloorGateway(upstreamUrl) } : process.env.BENCH_GATEWAY === 'core' ? { port: await startCoreGateway(upstreamUrl) } : await startServerGateway(upstreamUrl);
  process.send?.(started);
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'rss') {
      const usage = process.memoryUsage();
      process.send?.({ rss: usage.rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external });
    }
    if (message.type === 'cpu') {
      const used = process.cpuUsage();
      process.send?.({ cpuMicroseconds: used.user + used.system, mainThreadMicroseconds: threadCpuMicroseconds() });
    }
    if (message.type === 'pauses-start') watchPauses();
    if (message.type === 'heap-snapshot' && process.env.BENCH_PROFILE_DIR) {
      // A heap snapshot in the middle of a phase: what request-scoped objects are still referenced.
      void import('node:v8').then((v8) => v8.writeHeapSnapshot(`${process.env.BENCH_PROFILE_DIR as string}/gateway-fixed.heapsnapshot`));
    }
    if (message.type === 'pauses-stop') process.send?.(stopWatchingPauses());
    if (message.type === 'exit') process.exit(0);
    if (message.type === 'profile-start' || message.type === 'profile-stop') void profile(message.type);
  });
}

// ---------------------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------------------

/** `BENCH_PROFILE_DIR=/tmp/prof npm run bench:gateway` writes a CPU profile of the gateway's saturation phase there. */
const PROFILE_DIRECTORY = process.env.BENCH_PROFILE_DIR;
/** `BENCH_PROFILE_PHASE=fixed|ttfb`: profile the gateway's fixed-rate or first-byte phase instead of its saturation phase. */
const PROFILE_PHASE = process.env.BENCH_PROFILE_PHASE === 'fixed' || process.env.BENCH_PROFILE_PHASE === 'ttfb' ? process.env.BENCH_PROFILE_PHASE : 'saturation';
/** `npm run bench:gateway` runs the compiled bundle (dist/, as `switchyard serve` does); `tsx bench/gateway.ts` the sources. */
const RUNTIME = import.meta.url.endsWith('.ts') ? 'through tsx' : 'compiled';
/** `server` (default, as deployed) or `core` (createApp without the ops layer). */
const GATEWAY_KIND = process.env.BENCH_GATEWAY === 'core' ? 'core' : 'server';

/** The Node flags `npm start` runs the gateway with (package.json `scripts.start`), so the bench measures the same process. */
function startScriptFlags(): string[] {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts?: { start?: string } };
  const match = /^node((?:\s+--\S+)*)\s+bin\/switchyard\.mjs\b/.exec(manifest.scripts?.start ?? '');
  return (match?.[1] ?? '').split(/\s+/).filter((flag) => flag !== '');
}

function start(role: string, roleArguments: string[], env: NodeJS.ProcessEnv = process.env, script = fileURLToPath(import.meta.url)): Promise<{ child: ChildProcess; url: string; key?: string }> {
  const extra = role === 'gateway' || role === 'floor' ? [...startScriptFlags(), ...(env.BENCH_GATEWAY_FLAGS ?? '').split(' ').filter((flag) => flag !== '')] : [];
  const execArgv = [...process.execArgv, ...extra];
  // The gateway's request log (one JSON line per request) goes nowhere, as a log shipper would take it
  // (`BENCH_GATEWAY_STDOUT=1` shows it, with anything Node flags such as --trace-gc print).
  const stdout = role === 'gateway' && !process.env.BENCH_GATEWAY_STDOUT ? 'ignore' : 'inherit';
  const child = fork(script, [role, ...roleArguments], { stdio: ['ignore', stdout, 'inherit', 'ipc'], execArgv, env });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${role} exited with ${String(code)}`)));
    child.once('message', (message: { port: number; key?: string }) => resolve({ child, url: `http://127.0.0.1:${message.port}`, ...(message.key ? { key: message.key } : {}) }));
  });
}

/** Asks a gateway to exit (it closes its stores and flushes) and waits up to 5 s for it. */
async function stopGateway(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send({ type: 'exit' });
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
}

/** Sends a gateway child one request message (`{ type }`) and resolves with its answer. */
function ask<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (message: T) => resolve(message));
    child.send({ type });
  });
}

function askMemory(child: ChildProcess): Promise<{ rss: number; heapUsed?: number }> {
  return ask(child, 'rss');
}

async function askRss(child: ChildProcess): Promise<number> {
  return (await askMemory(child)).rss;
}

/** Asks a gateway for its GC pauses and event-loop delay since `pauses-start`. */
function askPauses(child: ChildProcess): Promise<{ gcPauses: number; gcLongestMs: number; gcTotalMs: number; loopDelayP99Ms: number; loopDelayMaxMs: number }> {
  return ask(child, 'pauses-stop');
}

/** CPU time (user + system) the child used so far, µs: cost per request independent of contention. */
async function askCpu(child: ChildProcess): Promise<number> {
  return (await askCpuSplit(child)).cpuMicroseconds;
}

/** The same, and the part of it its main thread (the event loop) used. */
function askCpuSplit(child: ChildProcess): Promise<{ cpuMicroseconds: number; mainThreadMicroseconds: number }> {
  return ask(child, 'cpu');
}

interface Target {
  name: string;
  headers: Record<string, string>;
  pool: Pool;
  path: string;
  body: string;
  streamBody: string;
}

function target(name: string, url: string, path: string, model: string, key?: string): Target {
  const base = { model, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 16 };
  return {
    name,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    pool: new Pool(url, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 }),
    path,
    body: JSON.stringify(base),
    streamBody: JSON.stringify({ ...base, stream: true }),
  };
}

async function once(to: Target): Promise<number> {
  const started = performance.now();
  const response = await to.pool.request({ path: to.path, method: 'POST', headers: to.headers, body: to.body });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${to.name}: status ${response.statusCode}`);
  return performance.now() - started;
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? Number.NaN;
}

function summary(latencies: number[]): { p50: number; p90: number; p99: number; p999: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999) };
}

function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${PHASE_TIMEOUT_MS} ms`)), PHASE_TIMEOUT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Open loop: one request every 1000/rate ms regardless of answers; latency per request. */
async function fixedRate(to: Target, count: number): Promise<{ p50: number; p90: number; p99: number; p999: number; rps: number }> {
  const latencies: number[] = [];
  const interval = 1_000 / RATE_PER_SECOND;
  const began = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let index = 0; index < count; index++) {
    const due = began + index * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(once(to).then((latency) => void latencies.push(latency)));
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - began) / 1_000;
  return { ...summary(latencies), rps: count / elapsed };
}

/** Closed loop: `concurrency` callers back to back for a fixed time. */
async function saturation(to: Target): Promise<{ rps: number; completed: number }> {
  let completed = 0;
  const began = performance.now();
  const stopAt = began + SATURATION_MS;
  await Promise.all(
    Array.from({ length: SATURATION_CONCURRENCY }, async () => {
      while (performance.now() < stopAt) {
        await once(to);
        completed++;
      }
    }),
  );
  return { rps: completed / ((performance.now() - began) / 1_000), completed };
}

/** Time to the first content byte of a stream, then drain it. */
async function firstByte(to: Target): Promise<number> {
  const started = performance.now();
  const response = await to.pool.request({ path: to.path, method: 'POST', headers: to.headers, body: to.streamBody });
  let ttfb = Number.NaN;
  for await (const piece of response.body) {
    if (Number.isNaN(ttfb) && String(piece).includes('"content"')) ttfb = performance.now() - started;
  }
  return ttfb;
}

async function timeToFirstByte(to: Target): Promise<number> {
  for (let index = 0; index < TTFB_WARM_UP; index++) await firstByte(to);
  const samples: number[] = [];
  for (let index = 0; index < TTFB_REQUESTS; index++) samples.push(await firstByte(to));
  return summary(samples).p50;
}

/** Opens `OPEN_STREAMS` streams through the gateway, waits for each first chunk, reads the RSS. */
async function rssWithOpenStreams(gatewayUrl: string, gateway: ChildProcess, headers: Record<string, string>): Promise<{ idle: number; open: number; heapIdle: number; heapOpen: number }> {
  const idleMemory = await askMemory(gateway);
  const idle = idleMemory.rss;
  const agent = new Agent({ connections: OPEN_STREAMS + 10, keepAliveTimeout: 1_000 });
  const controller = new AbortController();
  setMaxListeners(OPEN_STREAMS + 10, controller.signal);
  const body = JSON.stringify({ model: 'bench/hold', messages: [{ role: 'user', content: 'Say hello' }], stream: true });
  const opened = Array.from({ length: OPEN_STREAMS }, async () => {
    const response = await request(`${gatewayUrl}/api/v1/chat/completions`, {
      method: 'POST',
      headers,
      body,
      dispatcher: agent,
      signal: controller.signal,
    });
    const iterator = response.body[Symbol.asyncIterator]();
    for (;;) {
      const next = await iterator.next();
      if (next.done || String(next.value).includes('"content"')) break;
    }
    return response;
  });
  const responses = await withDeadline(Promise.all(opened), 'opening 1,000 streams');
  const openMemory = await askMemory(gateway);
  const open = openMemory.rss;
  controller.abort();
  for (const response of responses) response.body.destroy();
  await agent.destroy();
  return { idle, open, heapIdle: idleMemory.heapUsed ?? 0, heapOpen: openMemory.heapUsed ?? 0 };
}

const round = (value: number, digits = 3): number => Number(value.toFixed(digits));
/** The middle value (the upper one of an even count). */
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/**
 * Time a process spent runnable but waiting for a CPU, ms (Linux /proc/PID/schedstat; NaN
 * elsewhere). Over the fixed-rate phase it tells scheduling delay (other work on the shared cores)
 * apart from the gateway's own cost when p99 moves between runs.
 */
function runQueueWaitMs(pid: number | undefined): number {
  try {
    return Number(readFileSync(`/proc/${String(pid)}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** The machine's CPU time so far, from /proc/stat's first line: all of it, and what the hypervisor stole (ticks). */
function cpuTicks(): { total: number; steal: number } {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    return { total: fields.slice(0, 8).reduce((sum, value) => sum + value, 0), steal: fields[7] ?? Number.NaN };
  } catch {
    return { total: Number.NaN, steal: Number.NaN };
  }
}

/**
 * Share of the machine's CPU time the hypervisor gave to someone else since `before` (steal). On a
 * shared host it moves every figure of a run: runs with a few percent or more compare badly.
 */
function stealSince(before: { total: number; steal: number }): number {
  const now = cpuTicks();
  return (now.steal - before.steal) / (now.total - before.total);
}

async function main(): Promise<void> {
  const ticksAtStart = cpuTicks();
  const upstream = await start('upstream', []);
  const gateway = await start('gateway', [upstream.url]);
  const floor = await start('floor', [upstream.url]);
  const children = [upstream.child, gateway.child, floor.child];
  try {
    console.log(`gateway Node flags (from npm start): ${startScriptFlags().join(' ') || 'none'}`);
    console.log(`gateway pid ${String(gateway.child.pid)}, floor pid ${String(floor.child.pid)}, upstream pid ${String(upstream.child.pid)}`);
    console.log(`gateway: ${GATEWAY_KIND === 'core' ? 'createApp alone (BENCH_GATEWAY=core)' : 'startServer, as switchyard serve runs it (BENCH_GATEWAY=core for createApp alone)'}; accounting ${ACCOUNTING} (BENCH_ACCOUNTING=off|sqlite|redis)`);
    const baseline = await start('baseline', []);
    const loaderRss = await askRss(baseline.child);
    baseline.child.kill();
    const startRss = await askRss(gateway.child);
    console.log(`gateway RSS at start: ${(startRss / 1024 / 1024).toFixed(1)} MB (an idle process running this file ${RUNTIME}, nothing started: ${(loaderRss / 1024 / 1024).toFixed(1)} MB)`);
    const direct = target('direct', upstream.url, '/v1/chat/completions', 'bench-model');
    const through = target('gateway', gateway.url, '/api/v1/chat/completions', 'bench/model', gateway.key);
    const thinnest = target('floor', floor.url, '/api/v1/chat/completions', 'bench/model');

    console.log(`warming up (${WARM_UP_REQUESTS} requests each)`);
    for (const to of [direct, thinnest, through]) await withDeadline(fixedRate(to, WARM_UP_REQUESTS), `${to.name} warm-up`);

    const fixedDirect = await withDeadline(fixedRate(direct, FIXED_RATE_REQUESTS), 'direct fixed rate');
    const fixedFloor = await withDeadline(fixedRate(thinnest, FIXED_RATE_REQUESTS), 'floor fixed rate');
    const waitedBefore = [gateway.child.pid, upstream.child.pid, process.pid].map(runQueueWaitMs);
    if (PROFILE_DIRECTORY && PROFILE_PHASE === 'fixed') gateway.child.send({ type: 'profile-start' });
    gateway.child.send({ type: 'pauses-start' });
    // BENCH_HEAP_SNAPSHOT=1 (with BENCH_PROFILE_DIR): a heap snapshot of the gateway 2 s into its fixed-rate run.
    if (PROFILE_DIRECTORY && process.env.BENCH_HEAP_SNAPSHOT === '1') setTimeout(() => gateway.child.send({ type: 'heap-snapshot' }), 2_000).unref();
    const fixedGateway = await withDeadline(fixedRate(through, FIXED_RATE_REQUESTS), 'gateway fixed rate');
    const pauses = await askPauses(gateway.child);
    if (PROFILE_DIRECTORY && PROFILE_PHASE === 'fixed') gateway.child.send({ type: 'profile-stop' });
    const [gatewayWaited, upstreamWaited, loaderWaited] = [gateway.child.pid, upstream.child.pid, process.pid].map((pid, index) => runQueueWaitMs(pid) - (waitedBefore[index] ?? Number.NaN));
    console.log(`fixed rate ${RATE_PER_SECOND}/s, ${FIXED_RATE_REQUESTS} requests:`);
    console.log(`  direct   ${fixedDirect.rps.toFixed(0)} req/s  p50 ${fixedDirect.p50.toFixed(3)} ms  p90 ${fixedDirect.p90.toFixed(3)} ms  p99 ${fixedDirect.p99.toFixed(3)} ms  p99.9 ${fixedDirect.p999.toFixed(3)} ms`);
    console.log(`  floor    ${fixedFloor.rps.toFixed(0)} req/s  p50 ${fixedFloor.p50.toFixed(3)} ms  p90 ${fixedFloor.p90.toFixed(3)} ms  p99 ${fixedFloor.p99.toFixed(3)} ms  p99.9 ${fixedFloor.p999.toFixed(3)} ms  (the thinnest node:http + undici proxy)`);
    console.log(`  gateway  ${fixedGateway.rps.toFixed(0)} req/s  p50 ${fixedGateway.p50.toFixed(3)} ms  p90 ${fixedGateway.p90.toFixed(3)} ms  p99 ${fixedGateway.p99.toFixed(3)} ms  p99.9 ${fixedGateway.p999.toFixed(3)} ms`);
    const addedP50 = fixedGateway.p50 - fixedDirect.p50;
    const addedP99 = fixedGateway.p99 - fixedDirect.p99;
    const floorAddedP50 = fixedFloor.p50 - fixedDirect.p50;
    const floorAddedP99 = fixedFloor.p99 - fixedDirect.p99;
    console.log(`  added    p50 ${addedP50.toFixed(3)} ms (target < 0.5)  p99 ${addedP99.toFixed(3)} ms (target < 2)`);
    console.log(`  the floor adds p50 ${floorAddedP50.toFixed(3)} ms  p99 ${floorAddedP99.toFixed(3)} ms: what two more loopback hops cost any Node proxy here`);
    console.log(
      `  in the gateway during its run: ${pauses.gcPauses} GC pauses, longest ${pauses.gcLongestMs.toFixed(2)} ms, ${pauses.gcTotalMs.toFixed(0)} ms in all; event-loop delay p99 ${pauses.loopDelayP99Ms.toFixed(2)} ms, max ${pauses.loopDelayMaxMs.toFixed(2)} ms`,
    );
    console.log(`  waiting for a CPU during the gateway run (runnable, not running): gateway ${gatewayWaited?.toFixed(0)} ms, upstream ${upstreamWaited?.toFixed(0)} ms, load generator ${loaderWaited?.toFixed(0)} ms; load average ${loadavg()[0]?.toFixed(2)}`);

    // Share of one core the load generator itself used while driving the direct baseline: near 1
    // means the baseline is bounded by the load generator, not the upstream.
    const measureDirect = async (): Promise<{ rps: number; core: number }> => {
      const loaderCpuBefore = process.cpuUsage();
      const loaderWallBefore = performance.now();
      const rps = (await withDeadline(saturation(direct), 'direct saturation')).rps;
      const loaderCpu = process.cpuUsage(loaderCpuBefore);
      return { rps, core: (loaderCpu.user + loaderCpu.system) / 1_000 / (performance.now() - loaderWallBefore) };
    };
    const measureFloor = async (): Promise<{ rps: number; cpu: number }> => {
      const before = await askCpu(floor.child);
      const saturated = await withDeadline(saturation(thinnest), 'floor saturation');
      return { rps: saturated.rps, cpu: ((await askCpu(floor.child)) - before) / saturated.completed };
    };
    const measureGateway = async (profiled: boolean): Promise<{ rps: number; cpu: number }> => {
      if (profiled) gateway.child.send({ type: 'profile-start' });
      const before = await askCpu(gateway.child);
      const saturated = await withDeadline(saturation(through), 'gateway saturation');
      const cpu = ((await askCpu(gateway.child)) - before) / saturated.completed;
      if (profiled) gateway.child.send({ type: 'profile-stop' });
      return { rps: saturated.rps, cpu };
    };
    const rounds: Array<{ direct: { rps: number; core: number }; floor: { rps: number; cpu: number }; gateway: { rps: number; cpu: number } }> = [];
    for (let index = 0; index < SATURATION_ROUNDS; index++) {
      // The gateway's first round is the one profiled (BENCH_PROFILE_DIR).
      const profiled = index === 0 && Boolean(PROFILE_DIRECTORY) && PROFILE_PHASE === 'saturation';
      if (index % 2 === 0) {
        const directRound = await measureDirect();
        const floorRound = await measureFloor();
        rounds.push({ direct: directRound, floor: floorRound, gateway: await measureGateway(profiled) });
      } else {
        const gatewayRound = await measureGateway(profiled);
        const floorRound = await measureFloor();
        rounds.push({ direct: await measureDirect(), floor: floorRound, gateway: gatewayRound });
      }
    }
    const directRps = median(rounds.map((each) => each.direct.rps));
    const floorRps = median(rounds.map((each) => each.floor.rps));
    const gatewayRps = median(rounds.map((each) => each.gateway.rps));
    const roundRatios = rounds.map((each) => each.gateway.rps / each.direct.rps);
    const ratio = median(roundRatios);
    const floorRatio = median(rounds.map((each) => each.floor.rps / each.direct.rps));
    const gatewayVsFloor = median(rounds.map((each) => each.gateway.rps / each.floor.rps));
    const gatewayCpuPerRequest = median(rounds.map((each) => each.gateway.cpu));
    const floorCpuPerRequest = median(rounds.map((each) => each.floor.cpu));
    const loaderCoreShare = median(rounds.map((each) => each.direct.core));
    console.log(`saturation, ${SATURATION_CONCURRENCY} concurrent callers for ${SATURATION_MS} ms, ${SATURATION_ROUNDS} rounds of direct, floor and gateway (medians; BENCH_SATURATION_ROUNDS):`);
    console.log(`  direct ${directRps.toFixed(0)} req/s  gateway ${gatewayRps.toFixed(0)} req/s  ratio ${(ratio * 100).toFixed(1)}% (target >= 20%; rounds ${roundRatios.map((each) => (each * 100).toFixed(1)).join(', ')} %)`);
    console.log(`  floor ${floorRps.toFixed(0)} req/s (${(floorRatio * 100).toFixed(1)}% of direct); gateway / floor ${(gatewayVsFloor * 100).toFixed(1)}%`);
    console.log(`  CPU per request: gateway ${gatewayCpuPerRequest.toFixed(0)} µs, floor ${floorCpuPerRequest.toFixed(0)} µs; load generator used ${(loaderCoreShare * 100).toFixed(0)}% of a core driving the direct baseline`);

    const ttfbDirect = await withDeadline(timeToFirstByte(direct), 'direct streams');
    const ttfbFloor = await withDeadline(timeToFirstByte(thinnest), 'floor streams');
    if (PROFILE_DIRECTORY && PROFILE_PHASE === 'ttfb') gateway.child.send({ type: 'profile-start' });
    const ttfbGateway = await withDeadline(timeToFirstByte(through), 'gateway streams');
    if (PROFILE_DIRECTORY && PROFILE_PHASE === 'ttfb') gateway.child.send({ type: 'profile-stop' });
    const ttfbAdded = ttfbGateway - ttfbDirect;
    console.log(`  (the floor adds ${(ttfbFloor - ttfbDirect).toFixed(3)} ms)`);
    console.log(`streaming time to first byte (p50 of ${TTFB_REQUESTS}): direct ${ttfbDirect.toFixed(3)} ms  gateway ${ttfbGateway.toFixed(3)} ms  added ${ttfbAdded.toFixed(3)} ms (target < 1)`);

    const rss = await rssWithOpenStreams(gateway.url, gateway.child, through.headers);
    const rssMb = rss.open / 1024 / 1024;
    console.log(`gateway RSS: ${(rss.idle / 1024 / 1024).toFixed(1)} MB idle, ${rssMb.toFixed(1)} MB with ${OPEN_STREAMS} open streams (target < 150)`);
    console.log(`gateway heap used: ${(rss.heapIdle / 1024 / 1024).toFixed(1)} MB idle, ${(rss.heapOpen / 1024 / 1024).toFixed(1)} MB with ${OPEN_STREAMS} open streams`);
    const steal = stealSince(ticksAtStart);
    console.log(`host steal during the run: ${(steal * 100).toFixed(1)}% of the machine's CPU time${steal >= 0.02 ? ' (a shared host was busy: figures of this run are slower than the code)' : ''}`);

    await Promise.all([direct.pool.close(), through.pool.close(), thinnest.pool.close()]);
    console.log(
      JSON.stringify({
        direct_rps: round(directRps, 0),
        gateway_rps: round(gatewayRps, 0),
        direct_p50_ms: round(fixedDirect.p50),
        direct_p99_ms: round(fixedDirect.p99),
        gateway_p50_ms: round(fixedGateway.p50),
        gateway_p99_ms: round(fixedGateway.p99),
        added_p50_ms: round(addedP50),
        added_p99_ms: round(addedP99),
        ttfb_direct_ms: round(ttfbDirect),
        ttfb_gateway_ms: round(ttfbGateway),
        ttfb_added_ms: round(ttfbAdded),
        rss_mb_start: round(startRss / 1024 / 1024, 1),
        rss_mb_loader_only: round(loaderRss / 1024 / 1024, 1),
        rss_mb_idle: round(rss.idle / 1024 / 1024, 1),
        rss_mb_1000_streams: round(rssMb, 1),
        saturation_ratio: round(ratio),
        saturation_round_ratios: roundRatios.map((each) => round(each)),
        floor_rps: round(floorRps, 0),
        floor_ratio: round(floorRatio),
        gateway_vs_floor: round(gatewayVsFloor),
        floor_added_p50_ms: round(floorAddedP50),
        floor_added_p99_ms: round(floorAddedP99),
        floor_ttfb_added_ms: round(ttfbFloor - ttfbDirect),
        floor_cpu_us_per_request: round(floorCpuPerRequest, 0),
        gateway_cpu_us_per_request: round(gatewayCpuPerRequest, 0),
        loader_core_share_direct: round(loaderCoreShare, 2),
        offered_rps: RATE_PER_SECOND,
        concurrency: SATURATION_CONCURRENCY,
        gateway_cpu_wait_ms_fixed_rate: round(gatewayWaited ?? Number.NaN, 0),
        gateway_gc_pauses_fixed_rate: pauses.gcPauses,
        gateway_gc_longest_ms_fixed_rate: round(pauses.gcLongestMs, 2),
        gateway_loop_delay_p99_ms_fixed_rate: round(pauses.loopDelayP99Ms, 2),
        gateway_loop_delay_max_ms_fixed_rate: round(pauses.loopDelayMaxMs, 2),
        load_average_1m: round(loadavg()[0] ?? Number.NaN, 2),
        host_steal_share: round(steal, 3),
        gateway: GATEWAY_KIND,
        node_flags: [...startScriptFlags(), ...(process.env.BENCH_GATEWAY_FLAGS ?? '').split(' ').filter((flag) => flag !== '')].join(' '),
        accounting: ACCOUNTING,
        runtime: RUNTIME,
      }),
    );
  } finally {
    await stopGateway(gateway.child);
    for (const child of children) child.kill();
  }
}

/** An idle process running this same file the same way (compiled or through tsx), nothing started: the runtime's share of RSS. */
function runBaseline(): void {
  process.send?.({ port: 0 });
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'rss') process.send?.({ rss: process.memoryUsage().rss });
  });
}

/**
 * Side-by-side rows: several gateways, each as `switchyard serve` runs it, measured in saturation
 * rounds taken in turn (a, b, c, a, b, c...), so all of them see the same machine. Each row's median
 * requests/s, CPU per request and RSS afterwards, and its throughput relative to the first row.
 *   `BENCH_ACCOUNTING=compare`: the accounting row: off; on with SQLite and memory state; on with
 *     SQLite and Redis state (target: on >= 90% of off).
 *   `BENCH_COMPARE_FLAGS='--a|--b --c'`: Node flag sets, appended to npm start's flags (accounting
 *     as BENCH_ACCOUNTING_FOR_FLAGS, default off).
 *   `BENCH_COMPARE_REV=<git revision>`: that revision's gateway against this tree's (accounting as
 *     BENCH_ACCOUNTING_FOR_FLAGS): a code change's effect, measured on the same machine minute.
 *   `BENCH_PIN=1`: gateways on CPU 0, the upstream and the load generator on CPU 1 (taskset), so
 *     a gateway never shares its core: rounds then differ by the gateway's own cost, not by where
 *     the scheduler happened to put three busy processes on two cores.
 */
async function compareRows(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const upstream = await start('upstream', []);
  const pin = process.env.BENCH_PIN === '1';
  if (pin) for (const pid of [process.pid, upstream.child.pid]) pinTo(1, pid);
  const flagSets = process.env.BENCH_COMPARE_FLAGS?.split('|').map((flags) => flags.trim());
  const revision = process.env.BENCH_COMPARE_REV;
  const accounting = process.env.BENCH_ACCOUNTING_FOR_FLAGS ?? 'off';
  const variants: { name: string; env: NodeJS.ProcessEnv; script?: string }[] = revision
    ? [
        { name: revision, env: { ...process.env, BENCH_ACCOUNTING: accounting }, script: benchOfRevision(revision) },
        { name: 'this tree', env: { ...process.env, BENCH_ACCOUNTING: accounting } },
      ]
    : flagSets
      ? flagSets.map((flags) => ({ name: flags === '' ? '(npm start flags)' : flags, env: { ...process.env, BENCH_ACCOUNTING: accounting, BENCH_GATEWAY_FLAGS: flags } }))
      : (['off', 'sqlite', 'redis'] as const).map((mode) => ({ name: mode, env: { ...process.env, BENCH_ACCOUNTING: mode, BENCH_GATEWAY_FLAGS: '' } }));
  const gateways = [];
  for (const variant of variants) gateways.push({ variant, ...(await start('gateway', [upstream.url], variant.env, variant.script)) });
  if (pin) for (const gateway of gateways) pinTo(0, gateway.child.pid);
  try {
    const targets = gateways.map((gateway) => ({ gateway, to: target(gateway.variant.name, gateway.url, '/api/v1/chat/completions', 'bench/model', gateway.key) }));
    console.log(`${rounds} saturation rounds of ${SATURATION_MS} ms per gateway, ${SATURATION_CONCURRENCY} concurrent callers, taken in turn (after ${WARM_UP_REQUESTS} requests at ${RATE_PER_SECOND}/s and one uncounted round each)`);
    for (const { to } of targets) await withDeadline(fixedRate(to, WARM_UP_REQUESTS), `${to.name} warm-up`);
    // And one saturation round each, not counted: under saturation the gateway's batches (Redis
    // script calls, journal writes) grow and V8 re-optimises for them, which took the `redis`
    // row's first two counted rounds to 80 % of its later ones.
    for (const { to } of targets) await withDeadline(saturation(to), `${to.name} saturation warm-up`);
    const results = targets.map(() => ({ rps: [] as number[], cpu: [] as number[], main: [] as number[], redisCpu: [] as number[], scripts: [] as number[] }));
    // Rows with the Redis state also get what Redis spent on them: redis-server's CPU and the
    // script calls, per request of their rounds (only their rounds use Redis).
    const usesRedis = (env: NodeJS.ProcessEnv): boolean => env.BENCH_ACCOUNTING === 'redis';
    const redis = targets.some(({ gateway }) => usesRedis(gateway.variant.env)) ? new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') : undefined;
    const ticksAtStart = cpuTicks();
    for (let round = 0; round < rounds; round++) {
      // Every other round in reverse order, so no gateway always follows the same one.
      const order = round % 2 === 0 ? [...targets.entries()] : [...targets.entries()].reverse();
      for (const [index, { gateway, to }] of order) {
        const probed = redis && usesRedis(gateway.variant.env) ? redis : undefined;
        const redisBefore = probed ? { cpu: redisServerCpu(), commands: await redisCommands(probed) } : undefined;
        const cpuBefore = await askCpuSplit(gateway.child);
        const saturated = await withDeadline(saturation(to), `${to.name} saturation`);
        const cpuAfter = await askCpuSplit(gateway.child);
        if (probed && redisBefore) {
          results[index]?.redisCpu.push((redisServerCpu() - redisBefore.cpu) / saturated.completed);
          results[index]?.scripts.push(((await redisCommands(probed)).scripts - redisBefore.commands.scripts) / saturated.completed);
        }
        results[index]?.rps.push(saturated.rps);
        results[index]?.cpu.push((cpuAfter.cpuMicroseconds - cpuBefore.cpuMicroseconds) / saturated.completed);
        results[index]?.main.push((cpuAfter.mainThreadMicroseconds - cpuBefore.mainThreadMicroseconds) / saturated.completed);
      }
    }
    const rows = [];
    const firstRps = results[0]?.rps ?? [];
    for (const [index, { gateway }] of targets.entries()) {
      const result = results[index] ?? { rps: [], cpu: [], main: [], redisCpu: [], scripts: [] };
      // Each round's ratio to the first row's same round (taken within seconds of each other): the
      // machine's drift between rounds cancels out of it, so its median is steadier than the ratio of medians.
      const ratios = result.rps.map((rps, roundIndex) => rps / (firstRps[roundIndex] ?? Number.NaN));
      const redisFigures = result.redisCpu.length > 0 ? { redis_server_cpu_us: round(median(result.redisCpu), 1), script_calls_per_request: round(median(result.scripts)) } : {};
      rows.push({ name: gateway.variant.name, rps: round(median(result.rps), 0), cpu_us: round(median(result.cpu), 0), main_thread_cpu_us: round(median(result.main), 0), main_thread_cpu_rounds: result.main.map((value) => round(value, 0)), rss_mb: round((await askRss(gateway.child)) / 1024 / 1024, 1), rounds: result.rps.map((value) => round(value, 0)), relative: round(median(ratios)), round_ratios: ratios.map((ratio) => round(ratio)), ...redisFigures });
    }
    redis?.disconnect();
    for (const row of rows) {
      const redisPart = 'redis_server_cpu_us' in row ? `  redis-server ${row.redis_server_cpu_us} µs/request, ${row.script_calls_per_request} script calls/request` : '';
      console.log(`  ${row.name.padEnd(24)} ${String(row.rps).padStart(6)} req/s (rounds ${row.rounds.join(', ')})  CPU ${row.cpu_us} µs/request (event loop ${row.main_thread_cpu_us}: ${row.main_thread_cpu_rounds.join(', ')})  RSS ${row.rss_mb} MB${redisPart}  ${row === rows[0] ? '' : `vs ${rows[0]?.name}: ${(row.relative * 100).toFixed(1)}% (median of the rounds' ratios ${row.round_ratios.join(', ')})`}`);
    }
    await Promise.all(targets.map(({ to }) => to.pool.close()));
    const steal = stealSince(ticksAtStart);
    console.log(`  host steal during the rounds: ${(steal * 100).toFixed(1)}% of the machine's CPU time`);
    console.log(JSON.stringify({ rows, concurrency: SATURATION_CONCURRENCY, load_average_1m: round(loadavg()[0] ?? Number.NaN, 2), host_steal_share: round(steal, 3), node_flags: startScriptFlags().join(' '), runtime: RUNTIME }));
  } finally {
    for (const gateway of gateways) await stopGateway(gateway.child);
    upstream.child.kill();
  }
}

/** Binds a process and all its threads to one CPU (`BENCH_PIN`). */
function pinTo(cpu: number, pid: number | undefined): void {
  if (pid !== undefined) execFileSync('taskset', ['-a', '-pc', String(cpu), String(pid)], { stdio: 'ignore' });
}

/**
 * The compiled bench of another git revision (`BENCH_COMPARE_REV`): a detached worktree of it under
 * the temporary directory, sharing this checkout's node_modules, built once; its path to fork.
 */
function benchOfRevision(revision: string): string {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const commit = execFileSync('git', ['rev-parse', '--verify', `${revision}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  const tree = join(tmpdir(), `switchyard-rev-${commit.slice(0, 12)}`);
  if (!existsSync(tree)) {
    execFileSync('git', ['worktree', 'add', '--detach', tree, commit], { cwd: root, stdio: 'ignore' });
    symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
  }
  if (!existsSync(join(tree, 'dist', 'bench-gateway.js'))) execFileSync(process.execPath, ['bin/build.mjs'], { cwd: tree, stdio: 'ignore' });
  return join(tree, 'dist', 'bench-gateway.js');
}

const role = process.argv[2];
if (role === 'baseline') runBaseline();
else if (role === 'upstream') await runUpstream();
else if (role === 'gateway' || role === 'floor') await runGateway(process.argv[3] ?? '', role);
else if (process.env.BENCH_ACCOUNTING === 'compare' || process.env.BENCH_COMPARE_FLAGS !== undefined || process.env.BENCH_COMPARE_REV !== undefined) await compareRows();
else await main();
