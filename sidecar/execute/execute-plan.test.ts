/** The executor's decisions, with scripted adapters: retries, fallback classes, deadlines. */
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { compileCatalog, type CompiledCatalog, type PlanAttempt, type Plan } from '../../engine/index.ts';
import { systemClock } from '../clock.ts';
import { silentLogger } from '../logger.ts';
import { ProviderCallError, type AdapterCall, type GenerateResult, type ProviderAdapter, type StreamPart } from '../providers/spec.ts';
import { generatePlan, openPlanStream, type ExecutorDependencies } from './execute-plan.ts';

const dataPolicy = { trains_on_prompts: false, retention_days: 0, zdr: true };
const pricing = { prompt: '0.000001', completion: '0.000002' };

function catalog(): CompiledCatalog {
  const provider = (id: string) => ({ id, name: id.toUpperCase(), protocol: 'openai-compatible', base_url: 'http://unused', data_policy: dataPolicy, region: 'us', status: 'active' });
  const result = compileCatalog([
    {
      file: 'executor-test.yaml',
      text: JSON.stringify({
        providers: [provider('a'), provider('b'), provider('c'), { ...provider('s'), protocol: 'simulated', base_url: undefined }],
        models: [
          {
            id: 'x/small',
            name: 'Small',
            context_length: 8_000,
            input_modalities: ['text'],
            output_modalities: ['text'],
            endpoints: ['a', 'b', 's'].map((id) => ({ provider: id, upstream_model: `small-${id}`, pricing, supported_parameters: [] })),
          },
          {
            id: 'x/large',
            name: 'Large',
            context_length: 128_000,
            input_modalities: ['text'],
            output_modalities: ['text'],
            endpoints: [{ provider: 'c', upstream_model: 'large-c', pricing, supported_parameters: [] }],
          },
        ],
      }),
    },
  ]);
  if (!result.ok) throw new Error(JSON.stringify(result.diagnostics));
  return result.value;
}

const compiled = catalog();

function attempt(endpoint: string, overrides: Partial<PlanAttempt> = {}): PlanAttempt {
  const [model = '', provider = ''] = endpoint.split('@');
  return {
    endpoint,
    provider,
    provider_name: provider.toUpperCase(),
    protocol: provider === 's' ? 'simulated' : 'openai-compatible',
    model,
    upstream_model: `${model}-${provider}`,
    pricing,
    estimated_cost: { min: 0, max: 0 },
    timeouts: { first_byte_ms: 1_000, attempt_ms: 2_000, total_ms: 5_000 },
    retries: { max: 0, backoff_ms: 1, multiplier: 2, max_backoff_ms: 5 },
    drop_parameters: [],
    reasons: [],
    ...overrides,
  };
}

function plan(attempts: PlanAttempt[], totalMs = 5_000): Plan {
  return {
    plan_version: 'v1',
    policy: { id: 'p', version: 'v' },
    requested: { models: ['x/small'], strategy: 'direct' },
    attempts,
    excluded: [],
    matched_rules: [],
    ordering: 'test',
    allow_fallbacks: true,
    limits: { max_attempts: attempts.length, total_ms: totalMs },
    estimate: { prompt_tokens: 1, max_completion_tokens: 1 },
    budgets: [],
    trace: [],
  };
}

const ok: GenerateResult = { message: { content: 'hi' }, finish_reason: 'stop', native_finish_reason: 'stop', usage: { prompt_tokens: 3, completion_tokens: 2 }, warnings: [] };

function httpError(status: number, errorClass: ProviderCallError['errorClass'], retryAfterMs?: number): ProviderCallError {
  return new ProviderCallError({ message: `status ${status}`, kind: 'http', errorClass, status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
}

/** An adapter whose answer per upstream model is scripted; records every call. */
function scripted(script: Record<string, Array<GenerateResult | ProviderCallError | 'hang'>>) {
  const calls: string[] = [];
  const adapter: ProviderAdapter = {
    protocol: 'openai-compatible',
    async generate(call: AdapterCall) {
      calls.push(call.attempt.upstream_model);
      const steps = script[call.attempt.upstream_model] ?? [];
      const count = calls.filter((model) => model === call.attempt.upstream_model).length;
      const step = steps[Math.min(count - 1, steps.length - 1)];
      if (step === 'hang') {
        return new Promise<GenerateResult>((_, reject) => call.signal.addEventListener('abort', () => reject(new ProviderCallError({ message: 'aborted', kind: 'aborted', errorClass: 'final' }))));
      }
      if (step instanceof ProviderCallError) throw step;
      if (!step) throw new Error(`no script for ${call.attempt.upstream_model}`);
      return step;
    },
    async stream(call: AdapterCall) {
      calls.push(call.attempt.upstream_model);
      const step = (script[call.attempt.upstream_model] ?? [])[0];
      if (step instanceof ProviderCallError) throw step;
      async function* parts(): AsyncGenerator<StreamPart> {
        yield { type: 'text-delta', delta: 'hi' };
        yield { type: 'finish', finish_reason: 'stop', native_finish_reason: 'stop', usage: { prompt_tokens: 1, completion_tokens: 1 } };
      }
      return { parts: parts(), warnings: [] };
    },
  };
  return { adapter, calls };
}

function dependencies(adapter: ProviderAdapter): ExecutorDependencies {
  return { adapters: { 'openai-compatible': adapter }, credentials: () => undefined, clock: systemClock, tracer: trace.getTracer('test'), logger: silentLogger, cost: () => ({ cost: '0.5' }) };
}

function input(attempts: PlanAttempt[], totalMs?: number) {
  return { plan: plan(attempts, totalMs), catalog: compiled, request: { messages: [{ role: 'user' as const, content: 'hi' }] }, clientSignal: new AbortController().signal, parentContext: ROOT_CONTEXT, startedAt: systemClock.monotonic() };
}

describe('generatePlan', () => {
  it('retries a retryable error on the same endpoint, then falls back', async () => {
    const { adapter, calls } = scripted({ 'x/small-a': [httpError(503, 'retryable')], 'x/small-b': [ok] });
    const outcome = await generatePlan(input([attempt('x/small@a', { retries: { max: 2, backoff_ms: 1, multiplier: 2, max_backoff_ms: 5 } }), attempt('x/small@b')]), dependencies(adapter));
    expect(calls).toEqual(['x/small-a', 'x/small-a', 'x/small-a', 'x/small-b']);
    expect(outcome.ok && outcome.attempt.endpoint).toBe('x/small@b');
    expect(outcome.attempts.map((entry) => [entry.attempt, entry.retry, entry.outcome])).toEqual([
      [1, 0, 'retryable'],
      [1, 1, 'retryable'],
      [1, 2, 'retryable'],
      [2, 0, 'ok'],
    ]);
    expect(outcome.attempts[3]?.cost).toBe('0.5');
  });

  it('leaves a rate-limited endpoint at once when another can serve', async () => {
    const { adapter, calls } = scripted({ 'x/small-a': [httpError(429, 'retryable', 60_000)], 'x/small-b': [ok] });
    const retries = { max: 3, backoff_ms: 1, multiplier: 2, max_backoff_ms: 5 };
    const outcome = await generatePlan(input([attempt('x/small@a', { retries }), attempt('x/small@b')]), dependencies(adapter));
    expect(calls).toEqual(['x/small-a', 'x/small-b']);
    expect(outcome.ok).toBe(true);
  });

  it('waits out Retry-After on the last endpoint, within the cap', async () => {
    const { adapter, calls } = scripted({ 'x/small-a': [httpError(429, 'retryable', 30), ok] });
    const started = performance.now();
    const outcome = await generatePlan(input([attempt('x/small@a', { retries: { max: 1, backoff_ms: 1, multiplier: 2, max_backoff_ms: 5 } })]), dependencies(adapter));
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(calls).toEqual(['x/small-a', 'x/small-a']);
    expect(outcome.ok).toBe(true);
  });

  it('moves a context-length failure only to an endpoint with a larger window', async () => {
    const { adapter, calls } = scripted({ 'x/small-a': [httpError(400, 'context_length')], 'x/small-b': [ok], 'x/large-c': [ok] });
    const outcome = await generatePlan(input([attempt('x/small@a'), attempt('x/small@b'), attempt('x/large@c')]), dependencies(adapter));
    expect(calls).toEqual(['x/small-a', 'x/large-c']);
    expect(outcome.ok && outcome.attempt.model).toBe('x/large');
  });

  it('returns a final error without trying further endpoints', async () => {
    const { adapter, calls } = scripted({ 'x/small-a': [httpError(400, 'final')], 'x/small-b': [ok] });
    const outcome = await generatePlan(input([attempt('x/small@a'), attempt('x/small@b')]), dependencies(adapter));
    expect(calls).toEqual(['x/small-a']);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error.status).toBe(400);
    expect(outcome.error.metadata).toMatchObject({ provider_name: 'A', provider_status: 400 });
  });

  it('skips endpoints without an adapter and answers 503 when none is left', async () => {
    const { adapter, calls } = scripted({});
    const outcome = await generatePlan(input([attempt('x/small@s')]), dependencies(adapter));
    expect(calls).toEqual([]);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error.errorType).toBe('provider_unavailable');
    expect(outcome.attempts[0]).toMatchObject({ outcome: 'skipped', endpoint: 'x/small@s' });
  });

  it('gives up at the total deadline with a timeout', async () => {
    const { adapter } = scripted({ 'x/small-a': ['hang'], 'x/small-b': ['hang'] });
    const started = performance.now();
    const outcome = await generatePlan(input([attempt('x/small@a'), attempt('x/small@b')], 80), dependencies(adapter));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error.errorType).toBe('timeout');
    expect(outcome.attempts[0]?.outcome).toBe('timeout');
  });

  it('stops at once when the client has gone', async () => {
    const { adapter, calls } = scripted({ 'x/small-a': ['hang'], 'x/small-b': [ok] });
    const client = new AbortController();
    const pending = generatePlan({ ...input([attempt('x/small@a'), attempt('x/small@b')]), clientSignal: client.signal }, dependencies(adapter));
    setTimeout(() => client.abort(), 20);
    const outcome = await pending;
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.cancelled).toBe(true);
    expect(calls).toEqual(['x/small-a']);
  });
});

describe('openPlanStream', () => {
  it('falls back before the first part and hands over a stream that starts with it', async () => {
    const { adapter, calls } = scripted({ 'x/small-a': [httpError(502, 'retryable')], 'x/small-b': [ok] });
    const outcome = await openPlanStream(input([attempt('x/small@a'), attempt('x/small@b')]), dependencies(adapter));
    expect(calls).toEqual(['x/small-a', 'x/small-b']);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    const parts: StreamPart[] = [];
    for await (const part of outcome.stream.parts) parts.push(part);
    expect(parts.map((part) => part.type)).toEqual(['text-delta', 'finish']);
    const served = outcome.stream.finish({ usage: { prompt_tokens: 1, completion_tokens: 1 }, finishReason: 'stop', error: undefined, cancelled: false }).record;
    expect(served).toMatchObject({ outcome: 'ok', endpoint: 'x/small@b', cost: '0.5' });
    expect(outcome.attempts.map((entry) => entry.outcome)).toEqual(['retryable', 'ok']);
  });
});
