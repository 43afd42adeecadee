/**
 * Decides, purely and deterministically, what the simulated provider will answer: the same
 * request and options always give the same tokens, tool calls and usage. Timing and failures
 * live in stream.ts and errors.ts.
 */
import { mulberry32 } from '../../../engine/index.ts';
import { contentParts, contentText, fnv1a, requestedMaxTokens, stopList } from '../common.ts';
import type { ChatRequest, ChatTool, ChatToolCall, EmbeddingRequest, TextCompletionRequest, Usage } from '../spec.ts';
import type { SimulatedOptions } from './api-types.ts';
import type { SimulatedFinishReason } from './finish-reason.ts';

/** Everything the simulated provider will emit for one request. */
export interface SimulatedPlan {
  id: string;
  promptTokens: number;
  reasoningTokens: string[];
  textTokens: string[];
  toolCalls: ChatToolCall[];
  finishReason: SimulatedFinishReason;
  usage: Usage;
}

const WORDS = [
  'the', 'gateway', 'routes', 'each', 'request', 'to', 'a', 'provider', 'that', 'answers', 'quickly', 'and',
  'policy', 'decides', 'which', 'model', 'serves', 'it', 'with', 'fallback', 'when', 'upstream', 'fails',
  'tokens', 'stream', 'back', 'in', 'order', 'while', 'latency', 'stays', 'low', 'every', 'plan', 'is',
  'explained', 'traced', 'and', 'costed', 'so', 'operators', 'can', 'trust', 'what', 'happens', 'next',
  'simulated', 'text', 'reads', 'like', 'prose', 'but', 'means', 'nothing', 'at', 'all', 'here', 'today',
  'river', 'signal', 'switch', 'yard', 'track', 'train',
];
const REASONING_WORDS = ['considering', 'the', 'question', 'first', 'then', 'weighing', 'options', 'carefully', 'before', 'answering'];

/** A small seeded generator (mulberry32): cheap, deterministic, good enough for filler text. */
export const seededRandom: (seed: number) => () => number = mulberry32;

/** Tokens are whitespace-led words, the way BPE tokenizers mostly split prose. */
export function splitWordTokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

function splitCharacterTokens(text: string, size: number): string[] {
  const tokens: string[] = [];
  for (let index = 0; index < text.length; index += size) tokens.push(text.slice(index, index + size));
  return tokens;
}

function estimateTokens(characters: number): number {
  return Math.ceil(characters / 4);
}

/** Prompt tokens, estimated the usual way: ~4 characters a token, overhead per message, 85 per image. */
export function estimatePromptTokens(request: ChatRequest): number {
  let tokens = 3;
  for (const message of request.messages) {
    tokens += 4;
    const parts = contentParts(message.content);
    for (const part of parts) {
      if (part.type === 'text') tokens += estimateTokens(part.text.length);
      else tokens += 85;
    }
    if (message.role === 'assistant' && message.tool_calls !== undefined) {
      for (const call of message.tool_calls) tokens += 3 + estimateTokens(call.function.name.length + call.function.arguments.length);
    }
  }
  if (request.tools !== undefined) tokens += estimateTokens(JSON.stringify(request.tools).length);
  return tokens;
}

function lastUserText(request: ChatRequest): string {
  for (let index = request.messages.length - 1; index >= 0; index -= 1) {
    const message = request.messages[index];
    if (message?.role === 'user') return contentText(message.content);
  }
  return '';
}

/** Builds a value matching a JSON schema (the common subset), deterministic for a given random. */
function valueForSchema(schema: unknown, random: () => number, hint: string | undefined, depth = 0): unknown {
  const node = (typeof schema === 'object' && schema !== null ? schema : {}) as Record<string, unknown>;
  if (Array.isArray(node['enum']) && node['enum'].length > 0) return node['enum'][0];
  if ('const' in node) return node['const'];
  const type = Array.isArray(node['type']) ? node['type'][0] : node['type'];
  switch (type) {
    case 'string':
      return hint ?? WORDS[Math.floor(random() * WORDS.length)];
    case 'integer':
      return Math.floor(random() * 100);
    case 'number':
      return Math.round(random() * 1000) / 10;
    case 'boolean':
      return random() < 0.5;
    case 'null':
      return null;
    case 'array':
      return depth > 4 ? [] : [valueForSchema(node['items'], random, hint, depth + 1)];
    default: {
      const properties = (typeof node['properties'] === 'object' && node['properties'] !== null ? node['properties'] : {}) as Record<string, unknown>;
      const result: Record<string, unknown> = {};
      if (depth > 4) return result;
      for (const [key, property] of Object.entries(properties)) result[key] = valueForSchema(property, random, hint, depth + 1);
      if (Object.keys(properties).length === 0 && type === undefined && depth === 0) result['text'] = hint ?? 'ok';
      return result;
    }
  }
}

/** The last capitalised word of the user's message ("Weather in Oslo?" -> "Oslo"): plausible string arguments. */
function nameHint(request: ChatRequest): string | undefined {
  const words = lastUserText(request).match(/\b[A-Z][a-zA-Z]+\b/g);
  return words === null ? undefined : words[words.length - 1];
}

function toolsToCall(request: ChatRequest, options: SimulatedOptions): ChatTool[] {
  const tools = request.tools ?? [];
  if (tools.length === 0) return [];
  const choice = request.tool_choice;
  if (choice === 'none') return [];
  if (typeof choice === 'object') return tools.filter((tool) => tool.function.name === choice.function.name).slice(0, 1);
  if (choice === 'required' || (options.tool_calls === 'auto' && (choice === undefined || choice === 'auto'))) {
    return request.parallel_tool_calls === false ? tools.slice(0, 1) : tools.slice(0, 4);
  }
  return [];
}

function generatedText(random: () => number, count: number): string {
  const words: string[] = [];
  for (let index = 0; index < count; index += 1) words.push(WORDS[Math.floor(random() * WORDS.length)] as string);
  const first = words[0] ?? 'ok';
  words[0] = first.charAt(0).toUpperCase() + first.slice(1);
  return `${words.join(' ')}.`;
}

function applyStop(text: string, stop: string[] | undefined): { text: string; stopped: boolean } {
  if (stop === undefined) return { text, stopped: false };
  let cut = -1;
  for (const sequence of stop) {
    if (sequence === '') continue;
    const at = text.indexOf(sequence);
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  return cut < 0 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

/** What the simulated provider answers to `request` under `options`. */
export function planSimulatedResponse(request: ChatRequest, options: SimulatedOptions): SimulatedPlan {
  const seed = fnv1a(JSON.stringify(request.messages) + JSON.stringify(request.tools ?? null) + JSON.stringify(request.response_format ?? null));
  const random = seededRandom(seed);
  const id = `sim-${seed.toString(36)}`;
  const promptTokens = estimatePromptTokens(request);
  const usageFor = (completion: number, reasoning: number): Usage => ({
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    cached_tokens: Math.min(options.cached_prompt_tokens, promptTokens),
    reasoning_tokens: reasoning,
  });

  const promptText = request.messages.map((message) => contentText(message.content)).join('\n').toLowerCase();
  if (options.content_filter_phrases.some((phrase) => promptText.includes(phrase.toLowerCase()))) {
    return { id, promptTokens, reasoningTokens: [], textTokens: [], toolCalls: [], finishReason: 'content_filter', usage: usageFor(0, 0) };
  }

  const limit = requestedMaxTokens(request) ?? Number.POSITIVE_INFINITY;
  const wantsReasoning = request.reasoning !== undefined && request.reasoning.enabled !== false && request.reasoning.effort !== 'none';
  const reasoningCount = wantsReasoning ? Math.min(options.reasoning_tokens, request.reasoning?.max_tokens ?? options.reasoning_tokens, limit) : 0;
  const reasoningTokens: string[] = [];
  for (let index = 0; index < reasoningCount; index += 1) {
    const word = REASONING_WORDS[index % REASONING_WORDS.length] as string;
    reasoningTokens.push(index === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : ` ${word}`);
  }
  // Reasoning is hidden from the client when asked, but still spent and billed.
  const visibleReasoning = request.reasoning?.exclude === true ? [] : reasoningTokens;

  const tools = toolsToCall(request, options);
  if (tools.length > 0) {
    const hint = nameHint(request);
    const toolCalls = tools.map((tool, index): ChatToolCall => {
      const fixed = options.tool_arguments[tool.function.name];
      const argumentsValue = fixed ?? valueForSchema(tool.function.parameters ?? { type: 'object' }, random, hint);
      return {
        id: `call_${(seed + index).toString(36)}${index}`,
        type: 'function',
        function: { name: tool.function.name, arguments: JSON.stringify(argumentsValue) },
      };
    });
    const toolTokens = toolCalls.reduce((sum, call) => sum + 3 + estimateTokens(call.function.arguments.length), 0);
    return {
      id,
      promptTokens,
      reasoningTokens: visibleReasoning,
      textTokens: [],
      toolCalls,
      finishReason: 'tool_calls',
      usage: usageFor(reasoningCount + toolTokens, reasoningCount),
    };
  }

  const format = request.response_format;
  let text: string;
  let tokens: string[];
  if (format !== undefined && format.type !== 'text') {
    const schema = format.type === 'json_schema' ? (format.json_schema.schema ?? { type: 'object' }) : { type: 'object', properties: { text: { type: 'string' } } };
    text = JSON.stringify(valueForSchema(schema, random, nameHint(request)));
    tokens = splitCharacterTokens(text, 4);
  } else {
    text = options.response_text ?? generatedText(random, options.response_tokens);
    tokens = splitWordTokens(text);
  }
  const stopped = applyStop(text, stopList(request.stop));
  if (stopped.stopped) tokens = format !== undefined && format.type !== 'text' ? splitCharacterTokens(stopped.text, 4) : splitWordTokens(stopped.text);

  const room = Math.max(0, limit - reasoningCount);
  const truncated = tokens.length > room;
  const textTokens = truncated ? tokens.slice(0, room) : tokens;
  return {
    id,
    promptTokens,
    reasoningTokens: visibleReasoning,
    textTokens,
    toolCalls: [],
    finishReason: truncated ? 'length' : 'stop',
    usage: usageFor(reasoningCount + textTokens.length, reasoningCount),
  };
}

/** The texts of an embeddings `input` (token arrays are embedded by their numbers). */
export function embeddingInputs(input: EmbeddingRequest['input']): string[] {
  if (typeof input === 'string') return [input];
  if (input.length === 0) return [];
  if (typeof input[0] === 'number') return [(input as number[]).join(' ')];
  return (input as Array<string | number[]>).map((item) => (typeof item === 'string' ? item : item.join(' ')));
}

/** A deterministic unit-length vector for `text`: the same text always embeds the same. */
export function simulatedEmbedding(text: string, dimensions: number): number[] {
  const random = seededRandom(fnv1a(text));
  const vector = Array.from({ length: dimensions }, () => random() * 2 - 1);
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  return norm === 0 ? vector : vector.map((value) => value / norm);
}

/** A legacy completion prompt as the chat request the simulated provider plans from. */
export function chatRequestForPrompt(prompt: string, request: TextCompletionRequest): ChatRequest {
  return {
    messages: [{ role: 'user', content: prompt }],
    ...(request.max_tokens === undefined ? {} : { max_tokens: request.max_tokens }),
    ...(request.stop === undefined ? {} : { stop: request.stop }),
  };
}

/** Prompt tokens of plain text, estimated as for chat. */
export function estimateTextTokens(text: string): number {
  return estimateTokens(text.length);
}
