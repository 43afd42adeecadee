/**
 * The whole gateway (createApp + real engine + real adapters) in front of one loopback fake per
 * wire protocol plus a simulated provider, with the official `openai` client pointed at it.
 *
 * Models: `shape/<provider>` has one endpoint on that provider (for cross-provider comparisons);
 * `fallback/model` is served by Anthropic first (cheaper) and Gemini second; `slow/anthropic` and
 * `slow/gemini` stream one event every 200 ms (abort tests).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import OpenAI from 'openai';
import { compileCatalog, compilePolicy, formatDiagnostic, type Catalog, type CatalogProvider, type Result } from '../../../engine/index.ts';
import { createApp } from '../../../sidecar/app.ts';
import { createKeyVerifier } from '../../../sidecar/http/auth.ts';
import { createAdapterRegistry } from '../../../sidecar/providers/index.ts';
import { anthropicFixture, anthropicStream, startFakeAnthropic } from '../../fakes/fake-anthropic.ts';
import type { FakeCall, FakeStep, FakeUpstream } from '../../fakes/fake-upstream.ts';
import { geminiFixture, geminiStream, startFakeGemini } from '../../fakes/fake-gemini.ts';
import { openAIFixture, openAIStream, startFakeOpenAI } from '../../fakes/fake-openai.ts';
import { EXPECTED_TEXT } from '../../conformance/adapter.case.ts';

export const SHAPE_PROVIDERS = ['openai', 'azure', 'anthropic', 'gemini', 'simulated'] as const;
export type ShapeProvider = (typeof SHAPE_PROVIDERS)[number];

const PARAMETERS = ['max_tokens', 'temperature', 'tools', 'tool_choice', 'stop', 'response_format', 'reasoning'];
const DATA_POLICY = { trains_on_prompts: false, retention_days: 0, zdr: true };

/** What a fake should answer: text or one tool call, whole or streamed. */
function wants(call: FakeCall): { tools: boolean; stream: boolean } {
  const body = (call.body ?? {}) as { tools?: unknown; stream?: unknown };
  return { tools: Array.isArray(body.tools), stream: body.stream === true || call.url.includes(':streamGenerateContent') };
}

function openAIStep(call: FakeCall): FakeStep {
  const { tools, stream } = wants(call);
  if (tools) return stream ? openAIStream('tool-call.chunks.txt') : { body: openAIFixture('tool-call.json') };
  return stream ? openAIStream('text.chunks.txt') : { body: openAIFixture('text.json') };
}

function anthropicStep(call: FakeCall): FakeStep {
  const model = (call.body as { model?: unknown } | undefined)?.model;
  if (model === 'claude-fallback') return { status: 529, body: anthropicFixture('error-overloaded.json') };
  if (model === 'claude-slow') return anthropicStream('long.chunks.txt', { chunkDelayMs: 200 });
  const { tools, stream } = wants(call);
  if (tools) return stream ? anthropicStream('tool-call.chunks.txt') : { body: anthropicFixture('tool-call.json') };
  return stream ? anthropicStream('text.chunks.txt') : { body: anthropicFixture('text.json') };
}

function geminiStep(call: FakeCall): FakeStep {
  if (call.url.includes('/models/gemini-slow:')) return geminiStream('long.chunks.txt', { chunkDelayMs: 200 });
  const { tools, stream } = wants(call);
  if (tools) return stream ? geminiStream('tool-call.chunks.txt') : { body: geminiFixture('tool-call.json') };
  return stream ? geminiStream('text.chunks.txt') : { body: geminiFixture('text.json') };
}

export interface MultiProviderGateway {
  url: string;
  client: OpenAI;
  fakes: { openai: FakeUpstream; azure: FakeUpstream; anthropic: FakeUpstream; gemini: FakeUpstream };
  close(): Promise<void>;
}

function catalogFor(fakes: MultiProviderGateway['fakes']): Catalog {
  const providers: CatalogProvider[] = [
    { id: 'openai', name: 'OpenAI', protocol: 'openai-compatible', base_url: `${fakes.openai.url}/v1`, data_policy: DATA_POLICY, region: 'us', status: 'active' },
    { id: 'azure', name: 'Azure', protocol: 'azure-openai', base_url: fakes.azure.url, data_policy: DATA_POLICY, region: 'eu', status: 'active', options: { api_version: '2024-10-21' } },
    { id: 'anthropic', name: 'Anthropic', protocol: 'anthropic', base_url: `${fakes.anthropic.url}/v1`, data_policy: DATA_POLICY, region: 'us', status: 'active' },
    { id: 'google-ai-studio', name: 'Google AI Studio', protocol: 'gemini', base_url: `${fakes.gemini.url}/v1beta`, data_policy: DATA_POLICY, region: 'us', status: 'active' },
    {
      id: 'simulated',
      name: 'Simulated',
      protocol: 'simulated',
      data_policy: DATA_POLICY,
      region: 'local',
      status: 'active',
      options: { latency_ms: 0, tokens_per_second: 0, response_text: EXPECTED_TEXT },
    },
  ];
  const providerIds: Record<ShapeProvider, string> = { openai: 'openai', azure: 'azure', anthropic: 'anthropic', gemini: 'google-ai-studio', simulated: 'simulated' };
  const endpoint = (provider: string, upstream: string, price: string) => ({
    provider,
    upstream_model: upstream,
    pricing: { prompt: price, completion: price },
    supported_parameters: PARAMETERS,
  });
  return {
    providers,
    models: [
      ...SHAPE_PROVIDERS.map((name) => ({
        id: `shape/${name}`,
        name: `Shape via ${name}`,
        context_length: 100_000,
        input_modalities: ['text'],
        output_modalities: ['text'],
        endpoints: [endpoint(providerIds[name], `${name}-model`, '0.000001')],
      })),
      ...(['anthropic', 'gemini'] as const).map((name) => ({
        id: `slow/${name}`,
        name: `Slow via ${name}`,
        context_length: 100_000,
        input_modalities: ['text'],
        output_modalities: ['text'],
        endpoints: [endpoint(providerIds[name], name === 'anthropic' ? 'claude-slow' : 'gemini-slow', '0.000001')],
      })),
      {
        id: 'fallback/model',
        name: 'Fallback Model',
        context_length: 100_000,
        input_modalities: ['text'],
        output_modalities: ['text'],
        endpoints: [endpoint('anthropic', 'claude-fallback', '0.000001'), endpoint('google-ai-studio', 'gemini-fallback', '0.000002')],
      },
    ],
  };
}

function compiled<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`fixture does not compile:\n${result.diagnostics.map(formatDiagnostic).join('\n')}`);
  return result.value;
}

export async function startMultiProviderGateway(): Promise<MultiProviderGateway> {
  const fakes = {
    openai: await startFakeOpenAI({ script: openAIStep }),
    azure: await startFakeOpenAI({ script: openAIStep }),
    anthropic: await startFakeAnthropic({ script: anthropicStep }),
    gemini: await startFakeGemini({ script: geminiStep }),
  };
  const catalog = compiled(compileCatalog([{ text: JSON.stringify(catalogFor(fakes)), file: 'providers-catalog.yaml' }]));
  const policyDocument = {
    version: 1,
    id: 'providers-e2e',
    defaults: {
      attempts: 10,
      sort: 'price',
      retries: { max: 0, backoff_ms: 10, multiplier: 2, max_backoff_ms: 100 },
      timeouts: { first_byte_ms: 5_000, attempt_ms: 10_000, total_ms: 20_000 },
    },
  };
  const policy = compiled(compilePolicy(JSON.stringify(policyDocument), 'providers-e2e.yaml', catalog));
  const routing = { policy, catalog };
  const app = createApp({
    routing: { current: () => routing },
    adapters: createAdapterRegistry(),
    credentials: (provider) => `e2e-key-${provider}`,
    keys: createKeyVerifier([]),
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    client: new OpenAI({ baseURL: `${url}/api/v1`, apiKey: 'unused', maxRetries: 0, timeout: 15_000 }),
    fakes,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await Promise.all(Object.values(fakes).map((fake) => fake.close()));
    },
  };
}
