/**
 * One conformance suite for every adapter (Hono's shared router cases). Each adapter's test file
 * calls `runAdapterConformance` with a way to set up each scenario (usually a fake upstream
 * playing a recorded-shape fixture); the expectations below are the same for everyone. A skipped
 * scenario needs a written reason, and the reasons are printed as test names.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CatalogProvider, PlanAttempt } from '../../engine/index.ts';
import {
  ProviderCallError,
  type AdapterCall,
  type ChatRequest,
  type ChatTool,
  type GenerateResult,
  type ProviderAdapter,
  type StreamPart,
} from '../../sidecar/providers/spec.ts';
import type { FakeCall, FakeScript, FakeStep, FakeUpstream } from '../fakes/fake-upstream.ts';
import { waitFor } from '../support/wait.ts';

/** Every scenario the suite knows. */
export const SCENARIOS = [
  'text',
  'text-stream',
  'tool-call',
  'tool-call-stream',
  'parallel-tool-calls',
  'parallel-tool-calls-stream',
  'usage-details',
  'usage-cache-write',
  'reasoning-stream',
  'finish-length',
  'finish-content-filter',
  'structured-output',
  'image-input',
  'rate-limit-429',
  'overloaded-529',
  'server-error-5xx',
  'server-error-stream',
  'invalid-request-400',
  'unauthorized-401',
  'context-length',
  'connection-reset',
  'malformed-chunk',
  'mid-stream-cut',
  'mid-stream-error-event',
  'abort-stream',
  'abort-generate',
] as const;

export type ScenarioName = (typeof SCENARIOS)[number];

/** What a scenario runs against. */
export interface ScenarioHandle {
  provider: CatalogProvider;
  credential?: string;
  /** Requests the upstream received (empty for simulated). */
  calls: () => FakeCall[];
}

/** Sets up one scenario at a time. */
export interface ConformanceFake {
  setup: (scenario: ScenarioName) => Promise<ScenarioHandle>;
  close: () => Promise<void>;
}

/** Scenarios not run, with why. */
export interface ConformanceSkip {
  reason: string;
  tests: ScenarioName[];
}

/** Inputs of the suite. */
export interface ConformanceOptions {
  name: string;
  createAdapter: () => ProviderAdapter;
  fake: () => Promise<ConformanceFake>;
  skip?: ConformanceSkip[];
  /**
   * Protocol-specific checks of what went on the wire (structured output and image translation);
   * required for HTTP adapters, absent for local ones.
   */
  verifyRequest?: Partial<Record<ScenarioName, (body: unknown, call: FakeCall) => void>>;
}

// ---------------------------------------------------------------------------------------------
// Requests and expectations shared by every adapter
// ---------------------------------------------------------------------------------------------

export const EXPECTED_TEXT = 'Hello from the fake upstream.';

export const WEATHER_TOOL: ChatTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

export const TIME_TOOL: ChatTool = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'Current time',
    parameters: { type: 'object', properties: { timezone: { type: 'string' } }, required: ['timezone'] },
  },
};

/** A 1x1 transparent PNG. */
export const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
export const IMAGE_URL = 'https://example.com/cat.png';

export const WEATHER_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, temp_c: { type: 'number' } },
  required: ['city', 'temp_c'],
  additionalProperties: false,
};

/** The request each scenario sends. */
export function scenarioRequest(scenario: ScenarioName): ChatRequest {
  const base: ChatRequest = {
    messages: [
      { role: 'system', content: 'Answer tersely.' },
      { role: 'user', content: 'Say hello.' },
    ],
    max_tokens: 64,
  };
  switch (scenario) {
    case 'tool-call':
    case 'tool-call-stream':
      return { ...base, messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools: [WEATHER_TOOL], tool_choice: 'required' };
    case 'parallel-tool-calls':
    case 'parallel-tool-calls-stream':
      return {
        ...base,
        messages: [{ role: 'user', content: 'Weather and time in Oslo?' }],
        tools: [WEATHER_TOOL, TIME_TOOL],
        tool_choice: 'required',
        parallel_tool_calls: true,
      };
    case 'usage-details':
    case 'usage-cache-write':
    case 'reasoning-stream':
      return { ...base, reasoning: { effort: 'low' } };
    case 'finish-length':
      return { ...base, max_tokens: 2 };
    case 'structured-output':
      return {
        ...base,
        messages: [{ role: 'user', content: 'Weather in Oslo as JSON.' }],
        response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: WEATHER_SCHEMA, strict: true } },
      };
    case 'image-input':
      return {
        ...base,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Describe both images.' },
              { type: 'image_url', image_url: { url: IMAGE_URL } },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_BASE64}` } },
            ],
          },
        ],
      };
    default:
      return base;
  }
}

const STREAMING: ReadonlySet<ScenarioName> = new Set<ScenarioName>([
  'text-stream',
  'tool-call-stream',
  'parallel-tool-calls-stream',
  'reasoning-stream',
  'server-error-stream',
  'malformed-chunk',
  'mid-stream-cut',
  'mid-stream-error-event',
  'abort-stream',
]);

function attemptFor(provider: CatalogProvider, scenario: ScenarioName): PlanAttempt {
  return {
    endpoint: `conformance/model@${provider.id}`,
    provider: provider.id,
    provider_name: provider.name,
    protocol: provider.protocol,
    model: 'conformance/model',
    upstream_model: scenario === 'image-input' ? 'vision-model' : 'fake-model',
    pricing: { prompt: '0', completion: '0' },
    estimated_cost: { min: 0, max: 0 },
    timeouts: { first_byte_ms: 10_000, attempt_ms: 20_000, total_ms: 30_000 },
    retries: { max: 0, backoff_ms: 0, multiplier: 1, max_backoff_ms: 0 },
    drop_parameters: [],
    reasons: ['conformance'],
  };
}

/** Collects a stream into its parts. */
export async function collectParts(parts: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const collected: StreamPart[] = [];
  for await (const part of parts) collected.push(part);
  return collected;
}

/** Text and tool calls assembled from parts, as a client would. */
export function assembleParts(parts: StreamPart[]): {
  text: string;
  reasoning: string;
  toolCalls: Array<{ index: number; id: string | undefined; name: string | undefined; arguments: string; fragments: number }>;
  finish: Extract<StreamPart, { type: 'finish' }> | undefined;
  error: ProviderCallError | undefined;
} {
  let text = '';
  let reasoning = '';
  const calls = new Map<number, { index: number; id: string | undefined; name: string | undefined; arguments: string; fragments: number }>();
  let finish: Extract<StreamPart, { type: 'finish' }> | undefined;
  let error: ProviderCallError | undefined;
  for (const part of parts) {
    if (part.type === 'text-delta') text += part.delta;
    else if (part.type === 'reasoning-delta') reasoning += part.delta;
    else if (part.type === 'tool-call-delta') {
      const call = calls.get(part.index) ?? { index: part.index, id: undefined, name: undefined, arguments: '', fragments: 0 };
      call.id ??= part.id;
      call.name ??= part.name;
      call.arguments += part.arguments_delta;
      call.fragments += 1;
      calls.set(part.index, call);
    } else if (part.type === 'finish') finish = part;
    else error = part.error;
  }
  return { text, reasoning, toolCalls: [...calls.values()].sort((left, right) => left.index - right.index), finish, error };
}

async function expectRejection(promise: Promise<unknown>): Promise<ProviderCallError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderCallError);
    return error as ProviderCallError;
  }
  throw new Error('expected the call to reject with a ProviderCallError');
}

/** Runs every scenario against one adapter. */
export function runAdapterConformance(options: ConformanceOptions): void {
  const skipped = new Map<ScenarioName, string>();
  for (const entry of options.skip ?? []) {
    if (entry.reason.trim().length < 10) throw new Error(`${options.name}: a skip needs a written reason`);
    for (const test of entry.tests) skipped.set(test, entry.reason);
  }

  describe(`adapter conformance: ${options.name}`, () => {
    const adapter = options.createAdapter();
    let fake: ConformanceFake | undefined;

    const run = async (scenario: ScenarioName, signal?: AbortSignal) => {
      fake ??= await options.fake();
      const handle = await fake.setup(scenario);
      const call: AdapterCall = {
        request: { ...scenarioRequest(scenario), ...(STREAMING.has(scenario) ? { stream: true } : {}) },
        attempt: attemptFor(handle.provider, scenario),
        provider: handle.provider,
        credential: handle.credential,
        signal: signal ?? new AbortController().signal,
      };
      return { call, handle };
    };
    const verify = (scenario: ScenarioName, handle: ScenarioHandle): void => {
      const check = options.verifyRequest?.[scenario];
      if (check === undefined) return;
      const upstreamCall = handle.calls().at(-1);
      expect(upstreamCall).toBeDefined();
      check(upstreamCall?.body, upstreamCall as FakeCall);
    };

    const generate = async (scenario: ScenarioName): Promise<{ result: GenerateResult; handle: ScenarioHandle }> => {
      const { call, handle } = await run(scenario);
      const result = await adapter.generate(call);
      verify(scenario, handle);
      return { result, handle };
    };
    const stream = async (scenario: ScenarioName) => {
      const { call, handle } = await run(scenario);
      const result = await adapter.stream(call);
      const parts = await collectParts(result.parts);
      verify(scenario, handle);
      return { parts, handle };
    };
    const cases: Record<ScenarioName, () => Promise<void>> = {
      text: async () => {
        const { result } = await generate('text');
        expect(result.message.content).toBe(EXPECTED_TEXT);
        expect(result.finish_reason).toBe('stop');
        expect(result.native_finish_reason).not.toBeNull();
        expect(result.usage.prompt_tokens).toBeGreaterThan(0);
        expect(result.usage.completion_tokens).toBeGreaterThan(0);
        expect(result.message.tool_calls ?? []).toEqual([]);
      },
      'text-stream': async () => {
        const { parts } = await stream('text-stream');
        const assembled = assembleParts(parts);
        expect(assembled.text).toBe(EXPECTED_TEXT);
        expect(parts.filter((part) => part.type === 'text-delta').length).toBeGreaterThan(1);
        expect(assembled.error).toBeUndefined();
        expect(assembled.finish?.finish_reason).toBe('stop');
        expect(assembled.finish?.usage.prompt_tokens).toBeGreaterThan(0);
        expect(assembled.finish?.usage.completion_tokens).toBeGreaterThan(0);
        expect(parts.at(-1)?.type).toBe('finish');
      },
      'tool-call': async () => {
        const { result } = await generate('tool-call');
        expect(result.finish_reason).toBe('tool_calls');
        expect(result.message.tool_calls).toHaveLength(1);
        const call = result.message.tool_calls?.[0];
        expect(call?.type).toBe('function');
        expect(call?.id).toMatch(/\S/);
        expect(call?.function.name).toBe('get_weather');
        expect(JSON.parse(call?.function.arguments ?? 'null')).toEqual({ city: 'Oslo' });
      },
      'tool-call-stream': async () => {
        const { parts } = await stream('tool-call-stream');
        const assembled = assembleParts(parts);
        expect(assembled.error).toBeUndefined();
        expect(assembled.toolCalls).toHaveLength(1);
        const call = assembled.toolCalls[0];
        expect(call?.index).toBe(0);
        expect(call?.id).toMatch(/\S/);
        expect(call?.name).toBe('get_weather');
        expect(JSON.parse(call?.arguments ?? 'null')).toEqual({ city: 'Oslo' });
        // The first fragment of a call carries id and name; later ones only arguments.
        const fragments = parts.filter((part) => part.type === 'tool-call-delta');
        expect(fragments[0]).toMatchObject({ id: call?.id, name: 'get_weather' });
        for (const fragment of fragments.slice(1)) expect(fragment.name).toBeUndefined();
        expect(assembled.finish?.finish_reason).toBe('tool_calls');
      },
      'parallel-tool-calls': async () => {
        const { result } = await generate('parallel-tool-calls');
        expect(result.finish_reason).toBe('tool_calls');
        const calls = result.message.tool_calls ?? [];
        expect(calls.map((call) => call.function.name)).toEqual(['get_weather', 'get_time']);
        expect(JSON.parse(calls[0]?.function.arguments ?? 'null')).toEqual({ city: 'Oslo' });
        expect(JSON.parse(calls[1]?.function.arguments ?? 'null')).toEqual({ timezone: 'Europe/Oslo' });
        expect(new Set(calls.map((call) => call.id)).size).toBe(2);
      },
      'parallel-tool-calls-stream': async () => {
        const { parts } = await stream('parallel-tool-calls-stream');
        const assembled = assembleParts(parts);
        expect(assembled.error).toBeUndefined();
        expect(assembled.toolCalls.map((call) => call.index)).toEqual([0, 1]);
        expect(assembled.toolCalls.map((call) => call.name)).toEqual(['get_weather', 'get_time']);
        expect(JSON.parse(assembled.toolCalls[0]?.arguments ?? 'null')).toEqual({ city: 'Oslo' });
        expect(JSON.parse(assembled.toolCalls[1]?.arguments ?? 'null')).toEqual({ timezone: 'Europe/Oslo' });
        expect(new Set(assembled.toolCalls.map((call) => call.id)).size).toBe(2);
        expect(assembled.finish?.finish_reason).toBe('tool_calls');
      },
      'usage-details': async () => {
        const { result } = await generate('usage-details');
        expect(result.usage).toMatchObject({ prompt_tokens: 100, completion_tokens: 30, cached_tokens: 60, reasoning_tokens: 12 });
        expect(result.message.reasoning).toBe('Thinking about it.');
        expect(result.message.content).toBe('Done.');
      },
      'usage-cache-write': async () => {
        const { result } = await generate('usage-cache-write');
        expect(result.usage.cache_write_tokens).toBe(20);
        expect(result.usage.prompt_tokens).toBe(100);
      },
      'reasoning-stream': async () => {
        const { parts } = await stream('reasoning-stream');
        const assembled = assembleParts(parts);
        expect(assembled.reasoning).toBe('Thinking about it.');
        expect(assembled.text).toBe('Done.');
        const firstText = parts.findIndex((part) => part.type === 'text-delta');
        const lastReasoning = parts.findLastIndex((part) => part.type === 'reasoning-delta');
        expect(lastReasoning).toBeLessThan(firstText);
        expect(assembled.finish?.usage).toMatchObject({ prompt_tokens: 100, completion_tokens: 30, cached_tokens: 60, reasoning_tokens: 12 });
      },
      'finish-length': async () => {
        const { result } = await generate('finish-length');
        expect(result.finish_reason).toBe('length');
        expect(result.native_finish_reason).not.toBeNull();
      },
      'finish-content-filter': async () => {
        const { result } = await generate('finish-content-filter');
        expect(result.finish_reason).toBe('content_filter');
        expect(result.native_finish_reason).not.toBeNull();
      },
      'structured-output': async () => {
        const { result } = await generate('structured-output');
        const parsed: unknown = JSON.parse(result.message.content ?? 'null');
        expect(parsed).toMatchObject({ city: expect.any(String), temp_c: expect.any(Number) });
        expect(result.finish_reason).toBe('stop');
      },
      'image-input': async () => {
        const { result } = await generate('image-input');
        expect(result.message.content).toMatch(/\S/);
      },
      'rate-limit-429': async () => {
        const { call } = await run('rate-limit-429');
        const error = await expectRejection(adapter.generate(call));
        expect(error.status).toBe(429);
        expect(error.kind).toBe('http');
        expect(error.errorClass).toBe('retryable');
        expect(error.retryAfterMs).toBe(2000);
      },
      'overloaded-529': async () => {
        const { call } = await run('overloaded-529');
        const error = await expectRejection(adapter.stream(call));
        expect(error.status).toBe(529);
        expect(error.errorClass).toBe('retryable');
      },
      'server-error-5xx': async () => {
        const { call } = await run('server-error-5xx');
        const error = await expectRejection(adapter.generate(call));
        expect(error.status).toBeGreaterThanOrEqual(500);
        expect(error.errorClass).toBe('retryable');
        expect(error.raw).toBeDefined();
      },
      'server-error-stream': async () => {
        const { call } = await run('server-error-stream');
        const error = await expectRejection(adapter.stream(call));
        expect(error.status).toBeGreaterThanOrEqual(500);
        expect(error.errorClass).toBe('retryable');
      },
      'invalid-request-400': async () => {
        const { call } = await run('invalid-request-400');
        const error = await expectRejection(adapter.generate(call));
        expect(error.status).toBe(400);
        expect(error.errorClass).toBe('final');
      },
      'unauthorized-401': async () => {
        const { call, handle } = await run('unauthorized-401');
        const error = await expectRejection(adapter.generate(call));
        expect(error.status).toBe(401);
        // Issue 5: a 401 is final, neither retried nor fallen back (the operator must see a bad key).
        expect(error.errorClass).toBe('final');
        if (handle.credential !== undefined) {
          expect(error.raw ?? '').not.toContain(handle.credential);
          expect(error.message).not.toContain(handle.credential);
        }
      },
      'context-length': async () => {
        const { call } = await run('context-length');
        const error = await expectRejection(adapter.generate(call));
        expect(error.errorClass).toBe('context_length');
      },
      'connection-reset': async () => {
        const { call } = await run('connection-reset');
        const error = await expectRejection(adapter.generate(call));
        expect(error.kind).toBe('connection');
        expect(error.status).toBeUndefined();
        expect(error.errorClass).toBe('retryable');
      },
      'malformed-chunk': async () => {
        const { parts } = await stream('malformed-chunk');
        const last = parts.at(-1);
        expect(last?.type).toBe('error');
        if (last?.type === 'error') {
          expect(last.error.kind).toBe('malformed');
          expect(last.error).toBeInstanceOf(ProviderCallError);
        }
        expect(parts.some((part) => part.type === 'finish')).toBe(false);
      },
      'mid-stream-cut': async () => {
        const { parts } = await stream('mid-stream-cut');
        expect(parts.some((part) => part.type === 'text-delta')).toBe(true);
        const last = parts.at(-1);
        expect(last?.type).toBe('error');
        expect(parts.some((part) => part.type === 'finish')).toBe(false);
      },
      'mid-stream-error-event': async () => {
        const { parts } = await stream('mid-stream-error-event');
        expect(parts.some((part) => part.type === 'text-delta')).toBe(true);
        const last = parts.at(-1);
        expect(last?.type).toBe('error');
        if (last?.type === 'error') expect(last.error.errorClass).toBe('retryable');
      },
      'abort-stream': async () => {
        const controller = new AbortController();
        const { call, handle } = await run('abort-stream', controller.signal);
        const result = await adapter.stream(call);
        const parts: StreamPart[] = [];
        const started = Date.now();
        for await (const part of result.parts) {
          parts.push(part);
          if (part.type === 'text-delta' && !controller.signal.aborted) controller.abort();
        }
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(parts.some((part) => part.type === 'finish')).toBe(false);
        const last = parts.at(-1);
        if (last?.type === 'error') expect(last.error.kind).toBe('aborted');
        const upstream = handle.calls().at(-1);
        if (upstream !== undefined) {
          // The fake notices the socket closing before it finished writing.
          expect(await waitFor(() => upstream.closedEarly, 2_000)).toBe(true);
        }
      },
      'abort-generate': async () => {
        const controller = new AbortController();
        const { call, handle } = await run('abort-generate', controller.signal);
        setTimeout(() => controller.abort(), 50);
        const error = await expectRejection(adapter.generate(call));
        expect(error.kind).toBe('aborted');
        const upstream = handle.calls().at(-1);
        if (upstream !== undefined) expect(await waitFor(() => upstream.closedEarly, 2_000)).toBe(true);
      },
    };

    for (const scenario of SCENARIOS) {
      const reason = skipped.get(scenario);
      if (reason !== undefined) {
        it.skip(`${scenario} (skipped: ${reason})`, () => undefined);
        continue;
      }
      it(scenario, cases[scenario]);
    }

    afterAll(async () => {
      await fake?.close();
    });
  });
}

/** Builds a ConformanceFake from a loopback fake upstream and one step per scenario. */
export function httpConformanceFake(init: {
  start: (script: FakeScript) => Promise<FakeUpstream>;
  provider: (url: string) => CatalogProvider;
  credential?: string;
  steps: Record<ScenarioName, FakeStep | undefined>;
}): () => Promise<ConformanceFake> {
  return async () => {
    const upstream = await init.start([{ status: 500, body: { error: 'no scenario set' } }]);
    return {
      setup: async (scenario) => {
        const step = init.steps[scenario];
        if (step === undefined) throw new Error(`no fake step for scenario ${scenario}`);
        const first = upstream.calls.length;
        upstream.setScript(() => step);
        return {
          provider: init.provider(upstream.url),
          ...(init.credential === undefined ? {} : { credential: init.credential }),
          calls: () => upstream.calls.slice(first),
        };
      },
      close: () => upstream.close(),
    };
  };
}
