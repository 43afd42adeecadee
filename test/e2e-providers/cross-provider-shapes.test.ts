/**
 * The official `openai` client gets the same shapes whichever provider served the request: the
 * same script runs against OpenAI, Azure, Anthropic, Gemini and the simulated provider, and the
 * responses are compared by structure (keys and value types), content and tool calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPECTED_TEXT, WEATHER_TOOL } from '../conformance/adapter.case.ts';
import { SHAPE_PROVIDERS, startMultiProviderGateway, type MultiProviderGateway, type ShapeProvider } from './support/multi-provider-gateway.ts';

let gateway: MultiProviderGateway;

beforeAll(async () => {
  gateway = await startMultiProviderGateway();
});

afterAll(async () => {
  await gateway.close();
});

/**
 * A value's structure: objects become their sorted keys with each value's structure, arrays the
 * structure of their items, scalars their type. `cache_write_tokens` is left out: it is present
 * only when the provider reports cache writes (Anthropic always does, others never), by design.
 * `message.content` is `string | null` in OpenAI's schema (null beside tool calls, or text such as
 * Anthropic's "Checking." before one), so both count as one type.
 */
function shapeOf(value: unknown, key?: string): unknown {
  if (key === 'content' && (value === null || typeof value === 'string')) return 'string | null';
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? [] : [...new Set(value.map((item) => JSON.stringify(shapeOf(item))))].map((text) => JSON.parse(text) as unknown);
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([key]) => key !== 'cache_write_tokens')
      .sort(([left], [right]) => left.localeCompare(right));
    return Object.fromEntries(entries.map(([entryKey, item]) => [entryKey, shapeOf(item, entryKey)]));
  }
  return typeof value;
}

interface Transcript {
  text: { shape: unknown; content: string | null; finish: string | null; model: string };
  streamText: { firstShape: unknown; lastShapes: unknown[]; shapes: Set<string>; content: string; finish: string | null };
  tool: { shape: unknown; calls: Array<{ name: string; arguments: unknown }>; finish: string | null };
  streamTool: { shapes: Set<string>; calls: Array<{ name: string; arguments: unknown; id: string }>; finish: string | null };
}

async function runScript(provider: ShapeProvider): Promise<Transcript> {
  const model = `shape/${provider}`;
  const client = gateway.client;
  const text = await client.chat.completions.create({ model, messages: [{ role: 'system', content: 'Answer tersely.' }, { role: 'user', content: 'Say hello.' }], max_tokens: 64 });

  const streamChunks: unknown[] = [];
  let streamContent = '';
  let streamFinish: string | null = null;
  const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Say hello.' }], stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    streamChunks.push(chunk);
    streamContent += chunk.choices[0]?.delta.content ?? '';
    streamFinish = chunk.choices[0]?.finish_reason ?? streamFinish;
  }

  const toolRequest = { model, messages: [{ role: 'user' as const, content: 'Weather in Oslo?' }], tools: [WEATHER_TOOL], tool_choice: 'required' as const };
  const tool = await client.chat.completions.create(toolRequest);

  const toolChunks: unknown[] = [];
  const calls = new Map<number, { name: string; arguments: string; id: string }>();
  let toolFinish: string | null = null;
  for await (const chunk of await client.chat.completions.create({ ...toolRequest, stream: true })) {
    toolChunks.push(chunk);
    for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
      const entry = calls.get(delta.index) ?? { name: '', arguments: '', id: '' };
      entry.name += delta.function?.name ?? '';
      entry.arguments += delta.function?.arguments ?? '';
      entry.id ||= delta.id ?? '';
      calls.set(delta.index, entry);
    }
    toolFinish = chunk.choices[0]?.finish_reason ?? toolFinish;
  }

  // `role` rides on whichever delta comes first (text before a tool call on Anthropic), so the
  // per-chunk comparison leaves it out; the first chunk is compared whole below.
  const withoutRole = (chunk: unknown): unknown => JSON.parse(JSON.stringify(chunk, (key, value: unknown) => (key === 'role' ? undefined : value))) as unknown;
  const chunkShapes = (chunks: unknown[]) => new Set(chunks.map((chunk) => JSON.stringify(shapeOf(withoutRole(chunk)))));
  return {
    text: { shape: shapeOf(text), content: text.choices[0]?.message.content ?? null, finish: text.choices[0]?.finish_reason ?? null, model: text.model },
    streamText: { firstShape: shapeOf(streamChunks[0]), lastShapes: streamChunks.slice(-2).map((chunk) => shapeOf(chunk)), shapes: chunkShapes(streamChunks), content: streamContent, finish: streamFinish },
    tool: {
      shape: shapeOf(tool),
      calls: (tool.choices[0]?.message.tool_calls ?? []).map((call) => (call.type === 'function' ? { name: call.function.name, arguments: JSON.parse(call.function.arguments) as unknown } : { name: '', arguments: null })),
      finish: tool.choices[0]?.finish_reason ?? null,
    },
    streamTool: {
      shapes: chunkShapes(toolChunks),
      calls: [...calls.values()].map((call) => ({ name: call.name, arguments: JSON.parse(call.arguments) as unknown, id: call.id })),
      finish: toolFinish,
    },
  };
}

describe('the openai client sees identical shapes from every provider', () => {
  const transcripts = new Map<ShapeProvider, Transcript>();

  beforeAll(async () => {
    for (const provider of SHAPE_PROVIDERS) transcripts.set(provider, await runScript(provider));
  });

  const reference = (): Transcript => transcripts.get('openai') as Transcript;

  it.each(SHAPE_PROVIDERS)('%s: same content, finish reasons and tool calls', (provider) => {
    const transcript = transcripts.get(provider) as Transcript;
    expect(transcript.text.content).toBe(EXPECTED_TEXT);
    expect(transcript.text.finish).toBe('stop');
    expect(transcript.text.model).toBe(`shape/${provider}`);
    expect(transcript.streamText.content).toBe(EXPECTED_TEXT);
    expect(transcript.streamText.finish).toBe('stop');
    expect(transcript.tool.calls).toEqual([{ name: 'get_weather', arguments: { city: 'Oslo' } }]);
    expect(transcript.tool.finish).toBe('tool_calls');
    expect(transcript.streamTool.calls).toEqual([{ name: 'get_weather', arguments: { city: 'Oslo' }, id: expect.stringMatching(/\S/) }]);
    expect(transcript.streamTool.finish).toBe('tool_calls');
  });

  it.each(SHAPE_PROVIDERS.filter((provider) => provider !== 'openai'))('%s: responses and chunks have the structure OpenAI-served ones have', (provider) => {
    const transcript = transcripts.get(provider) as Transcript;
    expect(transcript.text.shape).toEqual(reference().text.shape);
    expect(transcript.tool.shape).toEqual(reference().tool.shape);
    expect(transcript.streamText.firstShape).toEqual(reference().streamText.firstShape);
    // The finish chunk and the usage chunk.
    expect(transcript.streamText.lastShapes).toEqual(reference().streamText.lastShapes);
    // No provider produces a chunk structure the OpenAI-served streams do not also produce.
    const known = [...reference().streamText.shapes, ...reference().streamTool.shapes];
    for (const shape of [...transcript.streamText.shapes, ...transcript.streamTool.shapes]) expect(known).toContain(shape);
  });
});
