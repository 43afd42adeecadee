/**
 * A client that stops reading mid-stream makes the gateway close the upstream socket, whatever
 * the wire protocol (the OpenAI case is in test/e2e).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMultiProviderGateway, type MultiProviderGateway } from './support/multi-provider-gateway.ts';
import { waitFor } from '../support/wait.ts';

let gateway: MultiProviderGateway;

beforeAll(async () => {
  gateway = await startMultiProviderGateway();
});

afterAll(async () => {
  await gateway.close();
});

describe.each(['anthropic', 'gemini'] as const)('client abort through %s', (name) => {
  it('closes the upstream socket before the upstream finished', async () => {
    const fake = gateway.fakes[name];
    const before = fake.calls.length;
    const controller = new AbortController();
    const stream = await gateway.client.chat.completions.create({ model: `slow/${name}`, messages: [{ role: 'user', content: 'Tell a story.' }], stream: true }, { signal: controller.signal });
    let text = '';
    try {
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (text !== '') controller.abort();
      }
    } catch (error) {
      expect((error as Error).name).toMatch(/Abort/);
    }
    expect(text).toBe('Once');
    const upstream = fake.calls[before];
    expect(upstream).toBeDefined();
    expect(await waitFor(() => upstream?.closedEarly === true, 3_000)).toBe(true);
    expect(upstream?.completed).toBe(false);
  });
});
