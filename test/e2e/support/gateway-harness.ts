/**
 * Runs the app on loopback port 0 in front of fake OpenAI upstreams, with the official `openai`
 * client pointed at it. Two providers (`alpha`, `beta`) serve `test/model`; `beta` alone serves
 * `test/backup` (a larger context window).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import OpenAI from 'openai';
import { compileCatalog, compilePolicy, formatDiagnostic, type Catalog, type CompiledPolicy, type Result, type RetryPolicy, type Snapshot, type Timeouts } from '../../../engine/index.ts';
import { createApp } from '../../../sidecar/app.ts';
import { createKeyVerifier, sha256Hex } from '../../../sidecar/http/auth.ts';
import { createAdapterRegistry } from '../../../sidecar/providers/index.ts';
import { MemoryGenerationStore } from '../../../sidecar/store/generation-record.ts';
import type { FakeUpstream } from '../../fakes/fake-openai.ts';

const TEXT_PARAMETERS = ['temperature', 'max_tokens', 'tools', 'tool_choice', 'stop'];

export function testCatalog(alpha: FakeUpstream, beta: FakeUpstream): Catalog {
  const dataPolicy = { trains_on_prompts: false, retention_days: 0, zdr: true };
  return {
    providers: [
      { id: 'alpha', name: 'Alpha', protocol: 'openai-compatible', base_url: alpha.url, data_policy: dataPolicy, region: 'us', status: 'active' },
      { id: 'beta', name: 'Beta', protocol: 'openai-compatible', base_url: beta.url, data_policy: dataPolicy, region: 'eu', status: 'active' },
    ],
    models: [
      {
        id: 'test/model',
        name: 'Test Model',
        description: 'A model for tests',
        created: 1_700_000_000,
        context_length: 8_000,
        input_modalities: ['text'],
        output_modalities: ['text'],
        tokenizer: 'GPT',
        endpoints: [
          { provider: 'alpha', upstream_model: 'alpha-model', pricing: { prompt: '0.000001', completion: '0.000002' }, supported_parameters: TEXT_PARAMETERS },
          { provider: 'beta', upstream_model: 'beta-model', pricing: { prompt: '0.000003', completion: '0.000004' }, supported_parameters: ['max_tokens'] },
        ],
      },
      {
        id: 'test/backup',
        name: 'Backup Model',
        context_length: 32_000,
        input_modalities: ['text'],
        output_modalities: ['text'],
        endpoints: [{ provider: 'beta', upstream_model: 'backup-model', pricing: { prompt: '0.0000005', completion: '0.000001' }, supported_parameters: TEXT_PARAMETERS }],
      },
    ],
  };
}

export interface GatewayHarness {
  url: string;
  policy: CompiledPolicy;
  client: OpenAI;
  store: MemoryGenerationStore;
  close(): Promise<void>;
}

export interface HarnessOptions {
  alpha: FakeUpstream;
  beta: FakeUpstream;
  timeouts?: Partial<Timeouts>;
  retries?: Partial<RetryPolicy>;
  /** Gateway keys (plaintext here, hashed like the server does). */
  keys?: string[];
  keepAliveIntervalMs?: number;
  bodyLimitBytes?: number;
  tracer?: Tracer;
  snapshot?: () => Snapshot;
}

export async function startGateway(options: HarnessOptions): Promise<GatewayHarness> {
  const store = new MemoryGenerationStore();
  // JSON is YAML: the catalog and policy go through the real compiler like shipped files do.
  const catalog = compiled(compileCatalog([{ text: JSON.stringify(testCatalog(options.alpha, options.beta)), file: 'test-catalog.yaml' }]));
  const policyDocument = {
    version: 1,
    id: 'test-policy',
    // Price order makes the attempt order deterministic: alpha (cheaper) first, then beta.
    defaults: {
      attempts: 10,
      sort: 'price',
      retries: { max: 0, backoff_ms: 10, multiplier: 2, max_backoff_ms: 100, ...options.retries },
      timeouts: { first_byte_ms: 5_000, attempt_ms: 10_000, total_ms: 20_000, ...options.timeouts },
    },
  };
  const policy = compiled(compilePolicy(JSON.stringify(policyDocument), 'test-policy.yaml', catalog));
  const routing = { policy, catalog };
  const app = createApp({
    routing: { current: () => routing },
    adapters: createAdapterRegistry(),
    credentials: (provider) => `test-key-${provider}`,
    keys: createKeyVerifier((options.keys ?? []).map((key) => ({ sha256: sha256Hex(key), name: 'test-key' }))),
    store,
    ...(options.tracer ? { tracer: options.tracer } : {}),
    ...(options.snapshot ? { snapshot: options.snapshot } : {}),
    ...(options.keepAliveIntervalMs !== undefined ? { keepAliveIntervalMs: options.keepAliveIntervalMs } : {}),
    ...(options.bodyLimitBytes !== undefined ? { bodyLimitBytes: options.bodyLimitBytes } : {}),
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const client = new OpenAI({ baseURL: `${url}/api/v1`, apiKey: options.keys?.[0] ?? 'unused', maxRetries: 0, timeout: 15_000 });
  return {
    url,
    policy,
    client,
    store,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function compiled<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`test fixture does not compile:\n${result.diagnostics.map(formatDiagnostic).join('\n')}`);
  return result.value;
}
