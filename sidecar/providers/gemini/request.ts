/**
 * OpenAI-shaped request -> Gemini generateContent body (pure), per provider-wire-formats.md 3.6:
 * system messages become `systemInstruction`, assistant turns `model` turns, tool results
 * `functionResponse` parts (named by looking up the earlier call), sampling `generationConfig`.
 */
import {
  contentParts,
  contentText,
  dropParameters,
  mediaTypeFromUrl,
  parseDataUrl,
  parseToolArguments,
  requestedMaxTokens,
  stopList,
  toolNameForCallId,
} from '../common.ts';
import type { ChatContentPart, ChatRequest, ChatToolChoice, EmbeddingRequest } from '../spec.ts';
import type { GeminiContent, GeminiPart, GeminiRequestBody } from './api-types.ts';

/** Thinking budgets (Gemini 2.5) for the unified `reasoning.effort`. */
const THINKING_BUDGETS: Record<string, number> = { minimal: 512, low: 1024, medium: 8192, high: 24_576, xhigh: 32_768, max: 32_768 };

/** Sentinel Gemini 3 accepts for a function call replayed without its signature (Vercel AI SDK's approach). */
export const SKIP_THOUGHT_SIGNATURE = 'skip_thought_signature_validator';

const SIGNATURE_MARKER = '__ts_';

/**
 * Gemini 3 needs a function call's `thoughtSignature` back on the next turn, and OpenAI clients
 * only keep the tool-call id, so the signature rides inside the id.
 */
export function encodeGeminiToolCallId(baseId: string, signature: string | undefined): string {
  return signature === undefined ? baseId : `${baseId}${SIGNATURE_MARKER}${Buffer.from(signature, 'utf8').toString('base64url')}`;
}

/** The original id and signature from an id made by `encodeGeminiToolCallId`. */
export function decodeGeminiToolCallId(id: string): { id: string; signature: string | undefined } {
  const at = id.indexOf(SIGNATURE_MARKER);
  if (at < 0) return { id, signature: undefined };
  return { id: id.slice(0, at), signature: Buffer.from(id.slice(at + SIGNATURE_MARKER.length), 'base64url').toString('utf8') };
}

const UNSUPPORTED_SCHEMA_KEYS = new Set(['additionalProperties', '$schema', '$id', 'strict', 'examples', 'default', '$comment']);

/**
 * JSON Schema -> Gemini's OpenAPI subset: drops keys it rejects and turns `null` unions into
 * `nullable` (Portkey and the Vercel SDK do the same).
 */
export function toGeminiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toGeminiSchema);
  if (typeof schema !== 'object' || schema === null) return schema;
  const source = schema as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (UNSUPPORTED_SCHEMA_KEYS.has(key)) continue;
    if (key === 'type' && Array.isArray(value)) {
      const types = value.filter((type) => type !== 'null');
      result['type'] = types[0];
      if (types.length < value.length) result['nullable'] = true;
      continue;
    }
    if ((key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) {
      const options = value.filter((option) => !(typeof option === 'object' && option !== null && (option as { type?: unknown }).type === 'null'));
      if (options.length < value.length) result['nullable'] = true;
      if (options.length === 1) Object.assign(result, toGeminiSchema(options[0]));
      else result['anyOf'] = options.map(toGeminiSchema);
      continue;
    }
    result[key] = key === 'properties' && typeof value === 'object' && value !== null
      ? Object.fromEntries(Object.entries(value).map(([name, property]) => [name, toGeminiSchema(property)]))
      : toGeminiSchema(value);
  }
  return result;
}

function convertPart(part: ChatContentPart, warnings: string[]): GeminiPart | undefined {
  switch (part.type) {
    case 'text':
      return { text: part.text };
    case 'image_url': {
      const inline = parseDataUrl(part.image_url.url);
      return inline === undefined
        ? { fileData: { mimeType: mediaTypeFromUrl(part.image_url.url), fileUri: part.image_url.url } }
        : { inlineData: { mimeType: inline.mediaType, data: inline.data } };
    }
    case 'input_audio':
      return { inlineData: { mimeType: `audio/${part.input_audio.format}`, data: part.input_audio.data } };
    case 'file': {
      const inline = part.file.file_data === undefined ? undefined : parseDataUrl(part.file.file_data);
      if (inline !== undefined) return { inlineData: { mimeType: inline.mediaType, data: inline.data } };
      warnings.push('dropped a `file` part: Gemini needs inline file data');
      return undefined;
    }
  }
}

function pushTurn(contents: GeminiContent[], role: 'user' | 'model', parts: GeminiPart[]): void {
  if (parts.length === 0) return;
  const last = contents[contents.length - 1];
  if (last !== undefined && last.role === role) last.parts.push(...parts);
  else contents.push({ role, parts });
}

function toolResponse(content: string | ChatContentPart[]): Record<string, unknown> {
  const text = contentText(content);
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // Not JSON: wrapped below.
  }
  return { content: text };
}

function convertToolChoice(choice: ChatToolChoice | undefined): GeminiRequestBody['toolConfig'] {
  if (choice === undefined) return undefined;
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
}

/** Options a catalog provider may set for this protocol. */
export interface GeminiRequestOptions {
  /** Gemma models take no systemInstruction: inline the system text into the first user turn. */
  inlineSystem: boolean;
  /** Passed through as `safetySettings`. */
  safetySettings: GeminiRequestBody['safetySettings'];
}

/** The generateContent body and the warnings for what Gemini cannot express. */
export function convertToGeminiRequest(init: {
  request: ChatRequest;
  upstreamModel: string;
  dropped: readonly string[];
  options: GeminiRequestOptions;
}): { body: GeminiRequestBody; warnings: string[]; exposeReasoning: boolean } {
  const { request, warnings } = dropParameters(init.request, init.dropped);
  const geminiThree = init.upstreamModel.startsWith('gemini-3');
  const system: string[] = [];
  const contents: GeminiContent[] = [];

  for (const message of request.messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(contentText(message.content));
        break;
      case 'user':
        pushTurn(contents, 'user', contentParts(message.content).flatMap((part) => convertPart(part, warnings) ?? []));
        break;
      case 'assistant': {
        const parts = contentParts(message.content).flatMap((part) => convertPart(part, warnings) ?? []);
        for (const call of message.tool_calls ?? []) {
          const { signature } = decodeGeminiToolCallId(call.id);
          const replayed = signature ?? (geminiThree ? SKIP_THOUGHT_SIGNATURE : undefined);
          parts.push({ functionCall: { name: call.function.name, args: parseToolArguments(call.function.arguments) }, ...(replayed === undefined ? {} : { thoughtSignature: replayed }) });
        }
        pushTurn(contents, 'model', parts);
        break;
      }
      case 'tool': {
        const name = toolNameForCallId(request.messages, message.tool_call_id);
        if (name === undefined) warnings.push(`tool result ${message.tool_call_id} matches no earlier tool call; sent with an empty name`);
        pushTurn(contents, 'user', [{ functionResponse: { name: name ?? '', response: toolResponse(message.content) } }]);
        break;
      }
    }
  }

  const body: GeminiRequestBody = { contents };
  const systemText = system.filter((text) => text !== '').join('\n\n');
  if (systemText !== '') {
    if (init.options.inlineSystem) {
      const firstUser = contents.find((content) => content.role === 'user');
      if (firstUser === undefined) contents.unshift({ role: 'user', parts: [{ text: systemText }] });
      else firstUser.parts.unshift({ text: systemText });
    } else {
      body.systemInstruction = { parts: [{ text: systemText }] };
    }
  }

  const generation: NonNullable<GeminiRequestBody['generationConfig']> = {};
  if (request.temperature !== undefined) generation.temperature = request.temperature;
  if (request.top_p !== undefined) generation.topP = request.top_p;
  if (request.top_k !== undefined) generation.topK = request.top_k;
  const maxTokens = requestedMaxTokens(request);
  if (maxTokens !== undefined) generation.maxOutputTokens = maxTokens;
  const stops = stopList(request.stop);
  if (stops !== undefined && stops.length > 0) generation.stopSequences = stops;
  if (request.presence_penalty !== undefined) generation.presencePenalty = request.presence_penalty;
  if (request.frequency_penalty !== undefined) generation.frequencyPenalty = request.frequency_penalty;
  if (request.seed !== undefined) generation.seed = request.seed;
  if (request.logprobs === true) {
    generation.responseLogprobs = true;
    if (request.top_logprobs !== undefined) generation.logprobs = Math.min(5, Math.max(1, request.top_logprobs));
  }
  const format = request.response_format;
  if (format?.type === 'json_object') generation.responseMimeType = 'application/json';
  if (format?.type === 'json_schema') {
    generation.responseMimeType = 'application/json';
    if (format.json_schema.schema !== undefined) generation.responseSchema = toGeminiSchema(format.json_schema.schema) as Record<string, unknown>;
  }

  const reasoning = request.reasoning;
  const exposeReasoning = reasoning?.exclude !== true;
  if (reasoning !== undefined) {
    if (reasoning.enabled === false || reasoning.effort === 'none') {
      if (geminiThree) warnings.push('Gemini 3 cannot turn thinking off; sent thinkingLevel "low"');
      generation.thinkingConfig = geminiThree ? { thinkingLevel: 'low' } : { thinkingBudget: 0 };
    } else if (geminiThree) {
      const level = reasoning.effort === 'minimal' || reasoning.effort === 'low' ? 'low' : 'high';
      generation.thinkingConfig = { includeThoughts: exposeReasoning, thinkingLevel: level };
    } else {
      const budget = reasoning.max_tokens ?? THINKING_BUDGETS[reasoning.effort ?? 'medium'] ?? 8192;
      generation.thinkingConfig = { includeThoughts: exposeReasoning, thinkingBudget: budget };
    }
  }
  if (Object.keys(generation).length > 0) body.generationConfig = generation;

  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = [
      {
        functionDeclarations: request.tools.map((tool) => ({
          name: tool.function.name,
          ...(tool.function.description === undefined ? {} : { description: tool.function.description }),
          ...(tool.function.parameters === undefined ? {} : { parameters: toGeminiSchema(tool.function.parameters) as Record<string, unknown> }),
        })),
      },
    ];
    const toolConfig = convertToolChoice(request.tool_choice);
    if (toolConfig !== undefined) body.toolConfig = toolConfig;
  }
  if (init.options.safetySettings !== undefined) body.safetySettings = init.options.safetySettings;

  for (const field of ['logit_bias', 'parallel_tool_calls', 'user', 'repetition_penalty', 'min_p', 'top_a'] as const) {
    if (request[field] !== undefined) warnings.push(`dropped parameter \`${field}\`: Gemini does not support it`);
  }
  return { body, warnings, exposeReasoning };
}

/** `batchEmbedContents` body: one request per input text. */
export function convertToGeminiEmbeddingRequest(request: EmbeddingRequest, upstreamModel: string): { requests: Array<Record<string, unknown>> } {
  const input = request.input;
  const texts = typeof input === 'string' ? [input] : (input as Array<string | number | number[]>).map((item) => (typeof item === 'string' ? item : Array.isArray(item) ? item.join(' ') : String(item)));
  return {
    requests: texts.map((text) => ({
      model: `models/${upstreamModel}`,
      content: { parts: [{ text }] },
      ...(request.dimensions === undefined ? {} : { outputDimensionality: request.dimensions }),
    })),
  };
}
