/**
 * A fake Gemini upstream (`POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`). Streams use `data:` lines with CRLF separators and no
 * terminator, as Gemini sends them; `#raw ` fixture lines go out verbatim (mid-stream raw JSON errors).
 */
import { loadChunks, loadJson, startFakeUpstream, type FakeScript, type FakeUpstream, type JsonStep, type StreamStep } from './fake-upstream.ts';

export type { FakeCall, FakeScript, FakeStep, FakeUpstream } from './fake-upstream.ts';

const FIXTURES = new URL('../../sidecar/providers/gemini/__fixtures__/', import.meta.url);

export function startFakeGemini(init: { script: FakeScript }): Promise<FakeUpstream> {
  return startFakeUpstream({ script: init.script, framing: { event: (line) => `data: ${line}`, lineEnding: '\r\n' } });
}

export function geminiFixture(name: string): unknown {
  return loadJson(new URL(name, FIXTURES));
}

export function geminiStream(name: string, extra: Omit<StreamStep, 'stream'> = {}): StreamStep {
  return { stream: loadChunks(new URL(name, FIXTURES)), ...extra };
}

export function geminiError(status: number, name: string, headers: Record<string, string> = {}): JsonStep {
  return { status, body: geminiFixture(name), headers };
}
