/**
 * A fake Anthropic Messages upstream (`POST /v1/messages`). Stream fixtures are one JSON event per
 * line; the fake writes each as `event: <type>` + `data: <json>`, the way Anthropic frames them.
 */
import { loadChunks, loadJson, startFakeUpstream, type FakeScript, type FakeUpstream, type JsonStep, type StreamStep } from './fake-upstream.ts';

export type { FakeCall, FakeScript, FakeStep, FakeUpstream } from './fake-upstream.ts';

const FIXTURES = new URL('../../sidecar/providers/anthropic/__fixtures__/', import.meta.url);

function eventName(line: string): string {
  try {
    const parsed = JSON.parse(line) as { type?: unknown };
    return typeof parsed.type === 'string' ? parsed.type : 'message';
  } catch {
    // A deliberately malformed fixture line: frame it as the delta it pretends to be.
    return 'content_block_delta';
  }
}

export function startFakeAnthropic(init: { script: FakeScript }): Promise<FakeUpstream> {
  return startFakeUpstream({ script: init.script, framing: { event: (line) => `event: ${eventName(line)}\ndata: ${line}` } });
}

export function anthropicFixture(name: string): unknown {
  return loadJson(new URL(name, FIXTURES));
}

export function anthropicStream(name: string, extra: Omit<StreamStep, 'stream'> = {}): StreamStep {
  return { stream: loadChunks(new URL(name, FIXTURES)), ...extra };
}

/** An Anthropic error response from a fixture. */
export function anthropicError(status: number, name: string, headers: Record<string, string> = {}): JsonStep {
  return { status, body: anthropicFixture(name), headers };
}
