/**
 * The shipped configuration (switchyard.yaml, catalogs, default policy, no provider keys) serves
 * the embeddings and legacy completions routes through the simulated providers.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../sidecar/logger.ts';
import { startServer, type RunningGateway } from '../../sidecar/server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let running: RunningGateway | undefined;
let client: OpenAI;

beforeAll(async () => {
  const started = await startServer({ configPath: join(ROOT, 'switchyard.yaml'), port: 0, env: {}, cwd: ROOT, logger: silentLogger });
  if (!started.ok) throw new Error(started.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
  running = started.gateway;
  client = new OpenAI({ baseURL: `${running.url}/api/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await running?.close();
});

describe('the shipped catalog', () => {
  it('embeds with openai/text-embedding-3-small on a simulated endpoint', async () => {
    const result = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: ['one', 'two', 'three'], encoding_format: 'float' });
    expect(result.model).toBe('openai/text-embedding-3-small');
    expect((result as unknown as { provider: string }).provider).toMatch(/^Simulated/);
    expect(result.data.map((entry) => entry.index)).toEqual([0, 1, 2]);
    expect(result.data[0]?.embedding.length).toBeGreaterThan(0);
    expect(result.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('serves legacy completions with a chat model and never routes chat to the embeddings model', async () => {
    const completion = await client.completions.create({ model: 'openai/gpt-4o-mini', prompt: 'Once upon a time', max_tokens: 32 });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    const refused = await client.chat.completions.create({ model: 'openai/text-embedding-3-small', messages: [{ role: 'user', content: 'hi' }] }).then(
      () => undefined,
      (error: unknown) => (error as InstanceType<typeof OpenAI.APIError>).status,
    );
    expect(refused).toBe(400);
  });
});
