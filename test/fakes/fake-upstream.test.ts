/** The fakes themselves: sequences, framing, resets, cuts and abort detection. */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from './fake-anthropic.ts';
import { startFakeGemini } from './fake-gemini.ts';
import { openAIError, openAIFixture, startFakeOpenAI } from './fake-openai.ts';
import type { FakeUpstream } from './fake-upstream.ts';

const running: FakeUpstream[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((fake) => fake.close()));
});

async function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal === undefined ? {} : { signal }) });
}

describe('fake upstreams', () => {
  it('play a per-call sequence (429 then 200) and record each call', async () => {
    const fake = await startFakeOpenAI({ script: [openAIError(429, 'slow down', { 'retry-after': '1' }), { body: openAIFixture('text.json') }] });
    running.push(fake);
    const first = await post(`${fake.url}/v1/chat/completions`, { n: 1 });
    const second = await post(`${fake.url}/v1/chat/completions`, { n: 2 });
    const third = await post(`${fake.url}/v1/chat/completions`, { n: 3 });
    expect([first.status, second.status, third.status]).toEqual([429, 200, 200]);
    expect(first.headers.get('retry-after')).toBe('1');
    expect(fake.calls.map((call) => (call.body as { n: number }).n)).toEqual([1, 2, 3]);
    expect(fake.calls[0]?.url).toBe('/v1/chat/completions');
  });

  it('frame streams per protocol', async () => {
    const lines = ['{"type":"ping"}'];
    const openai = await startFakeOpenAI({ script: [{ stream: ['{"a":1}', ': note'] }] });
    const anthropic = await startFakeAnthropic({ script: [{ stream: lines }] });
    const gemini = await startFakeGemini({ script: [{ stream: ['{"b":2}', '#raw {"error":{}}'] }] });
    running.push(openai, anthropic, gemini);
    expect(await (await post(openai.url, {})).text()).toBe('data: {"a":1}\n\n: note\n\ndata: [DONE]\n\n');
    expect(await (await post(anthropic.url, {})).text()).toBe('event: ping\ndata: {"type":"ping"}\n\n');
    expect(await (await post(gemini.url, {})).text()).toBe('data: {"b":2}\r\n\r\n{"error":{}}\r\n');
  });

  it('reset the connection, or cut a stream after some events', async () => {
    const fake = await startFakeOpenAI({ script: [{ reset: true }, { stream: ['{"a":1}', '{"a":2}', '{"a":3}'], cutAfter: 1 }] });
    running.push(fake);
    await expect(post(fake.url, {})).rejects.toThrow();
    const cut = await post(fake.url, {});
    await expect(cut.text()).rejects.toThrow();
    expect(fake.calls[1]?.completed).toBe(false);
  });

  it('notice a client closing the socket mid-response', async () => {
    const fake = await startFakeOpenAI({ script: [{ stream: ['{"a":1}', '{"a":2}', '{"a":3}'], chunkDelayMs: 300 }] });
    running.push(fake);
    const controller = new AbortController();
    const response = await post(fake.url, {}, controller.signal);
    expect(response.status).toBe(200);
    controller.abort();
    await fake.calls[0]?.ended;
    expect(fake.calls[0]?.closedEarly).toBe(true);
  });
});
