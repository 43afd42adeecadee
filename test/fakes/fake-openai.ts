/**
 * A fake OpenAI-compatible upstream (`POST /chat/completions`), for adapter and end-to-end tests.
 *
 * @example
 * const fake = await startFakeOpenAI({ script: [openAIError(429, 'slow down', { 'retry-after': '1' }), { body: openAIFixture('text.json') }] });
 * // point a catalog provider's base_url at fake.url; fake.calls records each request
 */
import { loadChunks, loadJson, startFakeUpstream, type FakeScript, type FakeUpstream, type JsonStep, type StreamStep } from './fake-upstream.ts';

export type { FakeCall, FakeScript, FakeStep, FakeUpstream } from './fake-upstream.ts';

const FIXTURES = new URL('../../sidecar/providers/openai-compatible/__fixtures__/', import.meta.url);


/** Starts the fake on loopback, port 0. */
export function startFakeOpenAI(init: { script: FakeScript }): Promise<FakeUpstream> {
  return startFakeUpstream({ script: init.script, framing: { event: (line) => `data: ${line}`, terminator: '[DONE]' } });
}

/** A recorded-shape JSON body from the openai-compatible fixtures. */
export function openAIFixture(name: string): unknown {
  return loadJson(new URL(name, FIXTURES));
}

/** A stream step from an openai-compatible `*.chunks.txt` fixture. */
export function openAIStream(name: string, extra: Omit<StreamStep, 'stream'> = {}): StreamStep {
  return { stream: loadChunks(new URL(name, FIXTURES)), ...extra };
}

/** An OpenAI-shaped error response. */
export function openAIError(status: number, message: string, headers: Record<string, string> = {}, code: string | null = null, type = 'invalid_request_error'): JsonStep {
  return { status, body: { error: { message, type, param: null, code } }, headers };
}
