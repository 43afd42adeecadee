/**
 * Cost through the HTTP API with the official `openai` client, against hand-computed figures for
 * every price component the gateway bills (prompt, cache read, cache write, completion,
 * reasoning, per-request fee), streamed and not, and with a fallback: only the serving attempt is
 * billed. The provider is a scripted adapter, so the usage is exactly what the test says.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCatalog, compilePolicy, formatDiagnostic, type Result } from '../../engine/index.ts';
import { createApp } from '../../sidecar/app.ts';
import { createKeyVerifier } from '../../sidecar/http/auth.ts';
import { ProviderCallError, type AdapterCall, type GenerateResult, type ProviderAdapter, type StreamPart, type Usage } from '../../sidecar/providers/spec.ts';
import { MemoryGenerationStore, type GenerationRecord } from '../../sidecar/store/generation-record.ts';

const USAGE: Usage = { prompt_tokens: 1000, cached_tokens: 200, cache_write_tokens: 100, completion_tokens: 500, reasoning_tokens: 120 };

// Hand-computed (USD), from USAGE and the catalog prices below.
// first:  prompt 700 x 0.000001 = 0.0007; cache read 200 x 0.0000001 = 0.00002; cache write
//         100 x 0.00000125 = 0.000125; completion 380 x 0.000002 = 0.00076; reasoning 120 x
//         0.000003 = 0.00036; request 0.0005. Total 0.002465.
const FIRST = { prompt: 0.0007, input_cache_read: 0.00002, input_cache_write: 0.000125, completion: 0.00076, internal_reasoning: 0.00036, request: 0.0005, image: 0 };
const FIRST_TOTAL = '0.002465';
// second: 0.0014 + 0.00004 + 0.00025 + 0.00152 + 0.0006 + 0.001 = 0.00481.
const SECOND_TOTAL = '0.00481';

/** Which provider fails before answering, per test. */
let failing = new Set<string>();

function scriptedAdapter(): ProviderAdapter {
  const check = (call: AdapterCall): void => {
    if (failing.has(call.attempt.provider)) {
      throw new ProviderCallError({ message: 'scripted 503', kind: 'http', errorClass: 'retryable', status: 503 });
    }
  };
  return {
    protocol: 'simulated',
    async generate(call): Promise<GenerateResult> {
      check(call);
      return { message: { content: 'Hello there.' }, finish_reason: 'stop', native_finish_reason: 'stop', usage: { ...USAGE }, warnings: [] };
    },
    async stream(call) {
      check(call);
      async function* parts(): AsyncGenerator<StreamPart> {
        yield { type: 'text-delta', delta: 'Hello' };
        yield { type: 'text-delta', delta: ' there.' };
        yield { type: 'finish', finish_reason: 'stop', native_finish_reason: 'stop', usage: { ...USAGE } };
      }
      return { parts: parts(), warnings: [] };
    },
  };
}

function compiled<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(result.diagnostics.map(formatDiagnostic).join('\n'));
  return result.value;
}

const dataPolicy = { trains_on_prompts: false, retention_days: 0, zdr: true };
const catalog = compiled(
  compileCatalog([
    {
      file: 'cost-catalog.yaml',
      text: JSON.stringify({
        providers: [
          { id: 'first', name: 'First', protocol: 'simulated', data_policy: dataPolicy, region: 'us', status: 'active' },
          { id: 'second', name: 'Second', protocol: 'simulated', data_policy: dataPolicy, region: 'us', status: 'active' },
        ],
        models: [
          {
            id: 'cost/model',
            name: 'Cost Model',
            context_length: 100_000,
            input_modalities: ['text'],
            output_modalities: ['text'],
            endpoints: [
              {
                provider: 'first',
                upstream_model: 'm',
                pricing: { prompt: '0.000001', completion: '0.000002', request: '0.0005', input_cache_read: '0.0000001', input_cache_write: '0.00000125', internal_reasoning: '0.000003' },
                max_completion_tokens: 4096,
                supported_parameters: ['max_tokens'],
              },
              {
                provider: 'second',
                upstream_model: 'm',
                pricing: { prompt: '0.000002', completion: '0.000004', request: '0.001', input_cache_read: '0.0000002', input_cache_write: '0.0000025', internal_reasoning: '0.000005' },
                max_completion_tokens: 4096,
                supported_parameters: ['max_tokens'],
              },
            ],
          },
        ],
      }),
    },
  ]),
);
const policy = compiled(compilePolicy(JSON.stringify({ version: 1, id: 'cost-policy', defaults: { sort: 'price', retries: { max: 0 } } }), 'cost-policy.yaml', catalog));

let server: Server;
let client: OpenAI;
let url: string;
const store = new MemoryGenerationStore();

beforeAll(async () => {
  const app = createApp({
    routing: { current: () => ({ policy, catalog }) },
    adapters: { simulated: scriptedAdapter() },
    credentials: () => undefined,
    keys: createKeyVerifier([]),
    store,
  });
  server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new OpenAI({ baseURL: `${url}/api/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

interface CostUsage {
  cost: number;
  cost_details: {
    upstream_inference_cost: number;
    upstream_inference_prompt_cost: number;
    upstream_inference_completions_cost: number;
    components: Record<string, number>;
    insured: boolean;
    usage_incomplete: boolean;
  };
}

async function record(id: string): Promise<GenerationRecord> {
  const reply = await fetch(`${url}/api/v1/generation?id=${id}`);
  expect(reply.status).toBe(200);
  return ((await reply.json()) as { data: GenerationRecord }).data;
}

const request = { model: 'cost/model', messages: [{ role: 'user' as const, content: 'Price me.' }] };

describe('usage.cost and cost_details through the HTTP API', () => {
  it('bills every component of a non-streamed response at the serving endpoint prices', async () => {
    failing = new Set();
    const completion = await client.chat.completions.create(request);
    const usage = completion.usage as unknown as CostUsage;
    expect(usage.cost).toBe(Number(FIRST_TOTAL));
    expect(usage.cost_details.components).toEqual(FIRST);
    expect(usage.cost_details.upstream_inference_cost).toBe(Number(FIRST_TOTAL));
    expect(usage.cost_details.upstream_inference_prompt_cost).toBe(0.000845);
    expect(usage.cost_details.upstream_inference_completions_cost).toBe(0.00112);
    expect(usage.cost_details.insured).toBe(false);
    expect((await record(completion.id)).total_cost).toBe(FIRST_TOTAL);
  });

  it('puts cost and cost_details on the final usage chunk of a stream', async () => {
    failing = new Set();
    const stream = await client.chat.completions.create({ ...request, stream: true });
    let usage: CostUsage | undefined;
    let id = '';
    for await (const chunk of stream) {
      id = chunk.id;
      if (chunk.usage) usage = chunk.usage as unknown as CostUsage;
    }
    expect(usage?.cost).toBe(Number(FIRST_TOTAL));
    expect(usage?.cost_details.components).toEqual(FIRST);
    const stored = await record(id);
    expect(stored.total_cost).toBe(FIRST_TOTAL);
    expect(stored.streamed).toBe(true);
  });

  it('bills only the serving attempt after a fallback, streamed and not', async () => {
    failing = new Set(['first']);
    const completion = await client.chat.completions.create(request);
    expect((completion.usage as unknown as CostUsage).cost).toBe(Number(SECOND_TOTAL));
    const stored = await record(completion.id);
    expect(stored.total_cost).toBe(SECOND_TOTAL);
    expect(stored.attempts.map((attempt) => [attempt.provider, attempt.cost])).toEqual([
      ['first', '0'],
      ['second', SECOND_TOTAL],
    ]);

    const stream = await client.chat.completions.create({ ...request, stream: true });
    let cost: number | undefined;
    let id = '';
    for await (const chunk of stream) {
      id = chunk.id;
      if (chunk.usage) cost = (chunk.usage as unknown as CostUsage).cost;
    }
    expect(cost).toBe(Number(SECOND_TOTAL));
    const streamed = await record(id);
    expect(streamed.attempts.map((attempt) => attempt.cost)).toEqual(['0', SECOND_TOTAL]);
    expect(streamed.total_cost).toBe(SECOND_TOTAL);
  });

  it('charges nothing when every attempt fails', async () => {
    failing = new Set(['first', 'second']);
    const reply = await fetch(`${url}/api/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    expect(reply.status).toBeGreaterThanOrEqual(500);
    const id = reply.headers.get('x-generation-id') ?? '';
    const stored = await record(id);
    expect(stored.total_cost).toBe('0');
    expect(stored.attempts.every((attempt) => attempt.cost === '0')).toBe(true);
  });
});
