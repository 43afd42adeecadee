/**
 * `npm run bench:request-line`: the CPU one request line costs (a generation's line: the record
 * arrives, then the response closes), against pino writing the same fields itself
 * (`logger.info(fields, 'request')`), in the same process, rounds taken in turn. Both write into
 * a sink that keeps only the byte count; the lines are compared once for equality first.
 * The last line is one JSON object.
 */
import pino from 'pino';
import { RequestLog } from '../sidecar/ops/request-log.ts';
import type { GenerationRecord } from '../sidecar/store/generation-record.ts';

const LINES = Number(process.env.BENCH_LINES ?? 100_000);
const ROUNDS = 5;

let last = '';
let bytes = 0;
const sink = { write: (line: string): boolean => ((bytes += line.length), (last = line), true) };
const logger = pino({ level: 'info', base: { service: 'switchyard' }, timestamp: false }, sink as never);
const log = new RequestLog({ logger, clock: { monotonic: () => performance.now(), now: () => new Date() } as never });

const record = {
  id: 'gen-1',
  model: 'bench/model',
  requested_models: ['bench/model'],
  provider: 'bench',
  status: 200,
  latency_ms: 1,
  streamed: false,
  cancelled: false,
  finish_reason: 'stop',
  attempts: [{ attempt: 1, retry: 0, provider: 'bench', status: 200, outcome: 'ok', latency_ms: 1 }],
  usage: { prompt_tokens: 12, completion_tokens: 14 },
  total_cost: '0.000041',
  policy_id: 'bench',
  policy_version: '3f2a9c1',
  key: 'ci',
  user: null,
  error: null,
} as unknown as GenerationRecord & { id: string };
const request = { method: 'POST', url: '/api/v1/chat/completions' } as never;
const path = '/api/v1/chat/completions';
function response(id: string): never {
  return { statusCode: 200, writableFinished: true, getHeader: () => id } as never;
}

function ours(index: number): void {
  const id = `gen-${index}`;
  record.id = id;
  log.onRecord(record);
  log.ended(request, response(id), path, path, 1.2);
}

/** The same line through pino's own serialisation (the fields RequestLog writes, in its order). */
function pinos(index: number): void {
  const id = `gen-${index}`;
  response(id);
  logger.info(
    { method: 'POST', path, route: path, status: 200, duration_ms: 1, generation_id: id, model: record.model, requested_models: record.requested_models, provider: record.provider, latency_ms: 1, streamed: false, cancelled: false, finish_reason: 'stop', attempts: '1:bench 200 ok 1ms', attempt_count: 1, fallback: false, prompt_tokens: 12, completion_tokens: 14, cost: record.total_cost, policy: 'bench@3f2a9c1', key: 'ci', user: null, http_status: 200 },
    'request',
  );
}

ours(0);
const oursLine = last;
pinos(0);
if (oursLine !== last) throw new Error(`the lines differ:\n${oursLine}\n${last}`);

const results = { ours: [] as number[], pino: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of [['ours', ours], ['pino', pinos]] as const) {
    const started = performance.now();
    for (let index = 1; index <= LINES; index++) run(index);
    results[name].push(((performance.now() - started) * 1000) / LINES);
  }
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const oursUs = median(results.ours);
const pinoUs = median(results.pino);
console.log(`request line: ${oursUs.toFixed(2)} µs; pino writing the same fields: ${pinoUs.toFixed(2)} µs (${(oursUs / pinoUs).toFixed(2)}x); ${Math.round(bytes / (2 * ROUNDS * LINES + 2))} bytes a line`);
console.log(JSON.stringify({ line_us: Number(oursUs.toFixed(3)), pino_us: Number(pinoUs.toFixed(3)), ratio: Number((oursUs / pinoUs).toFixed(3)) }));
