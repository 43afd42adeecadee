/**
 * Request-side helpers every adapter shares (no I/O): dropping parameters an endpoint does not
 * support, reading content parts, data URLs, and tool-call ids.
 */
import type { ChatContentPart, ChatMessage, ChatRequest, Usage } from './spec.ts';
import { fnv1a } from '../../engine/index.ts';

// OpenRouter parameter names that cover more than one request field.
const PARAMETER_FIELDS: Record<string, Array<keyof ChatRequest>> = {
  max_tokens: ['max_tokens', 'max_completion_tokens'],
  tools: ['tools', 'tool_choice', 'parallel_tool_calls'],
  logprobs: ['logprobs', 'top_logprobs'],
};

/**
 * Removes the parameters the plan says this endpoint does not support. Each removal that changes
 * the request becomes a warning, so the attempt log shows what was not sent.
 */
export function dropParameters(request: ChatRequest, names: readonly string[]): { request: ChatRequest; warnings: string[] } {
  if (names.length === 0) return { request, warnings: [] };
  const copy: Record<string, unknown> = { ...request };
  const warnings: string[] = [];
  for (const name of names) {
    if (name === 'structured_outputs') {
      // The endpoint takes JSON mode but not schemas: keep asking for JSON, without the schema.
      const format = copy['response_format'] as ChatRequest['response_format'];
      if (format?.type === 'json_schema') {
        copy['response_format'] = { type: 'json_object' };
        warnings.push('`response_format` json_schema sent as json_object: this endpoint has no structured outputs');
      }
      continue;
    }
    const fields = PARAMETER_FIELDS[name] ?? [name];
    for (const field of fields) {
      if (copy[field] !== undefined) {
        delete copy[field];
        warnings.push(`dropped parameter \`${field}\`: not supported by this endpoint`);
      }
    }
  }
  return { request: copy as unknown as ChatRequest, warnings };
}

/** The output limit the client asked for, whichever name it used. */
export function requestedMaxTokens(request: ChatRequest): number | undefined {
  return request.max_completion_tokens ?? request.max_tokens;
}

/** `stop` as a list. */
export function stopList(stop: ChatRequest['stop']): string[] | undefined {
  if (stop === undefined) return undefined;
  return typeof stop === 'string' ? [stop] : stop;
}

/** The text of a message's content (text parts joined; other parts ignored). */
export function contentText(content: string | ChatContentPart[] | null | undefined): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of content) if (part.type === 'text') text += part.text;
  return text;
}

/** Content as parts, so adapters handle one shape. */
export function contentParts(content: string | ChatContentPart[] | null | undefined): ChatContentPart[] {
  if (content === null || content === undefined) return [];
  return typeof content === 'string' ? (content === '' ? [] : [{ type: 'text', text: content }]) : content;
}

/** A `data:<media type>;base64,<data>` URL, split; `undefined` for any other URL. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { mediaType: match[1], data: match[2] };
}

/** Guesses an image media type from a URL's extension (Gemini's fileData needs one). */
export function mediaTypeFromUrl(url: string): string {
  const extension = /\.([a-z0-9]+)(?:[?#].*)?$/i.exec(url)?.[1]?.toLowerCase();
  switch (extension) {
    case 'png':
      return 'image/png';
    case 'gif':
      return 'image/gif';
    case 'webp':
      return 'image/webp';
    case 'pdf':
      return 'application/pdf';
    default:
      return 'image/jpeg';
  }
}

/** Parses tool-call arguments to an object; invalid or non-object JSON is wrapped, never thrown. */
export function parseToolArguments(argumentsText: string): Record<string, unknown> {
  if (argumentsText.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(argumentsText);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    return { value: parsed };
  } catch {
    return { raw_arguments: argumentsText };
  }
}

/** Finds the function name of an earlier assistant tool call (tool messages carry only the id). */
export function toolNameForCallId(messages: readonly ChatMessage[], toolCallId: string): string | undefined {
  for (const message of messages) {
    if (message.role !== 'assistant' || message.tool_calls === undefined) continue;
    const call = message.tool_calls.find((candidate) => candidate.id === toolCallId);
    if (call !== undefined) return call.function.name;
  }
  return undefined;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 32-bit FNV-1a, for deterministic ids and seeds. */
export { fnv1a };

/** A deterministic alphanumeric id of `length` characters derived from `source`. */
export function alphanumericId(source: string, length: number): string {
  let id = '';
  let hash = fnv1a(source);
  while (id.length < length) {
    id += ALPHANUMERIC[hash % ALPHANUMERIC.length];
    hash = fnv1a(`${source}:${id.length}`, hash);
  }
  return id;
}

/** A tool-call id for providers that return none (Gemini without `functionCall.id`). */
export function syntheticToolCallId(upstreamId: string | undefined, index: number, name: string): string {
  return `call_${alphanumericId(`${upstreamId ?? ''}:${index}:${name}`, 24)}`;
}

/** Keeps only the usage fields that are numbers, so "not reported" stays `undefined`. */
export function usageOf(fields: { [K in keyof Usage]: number | null | undefined }): Usage {
  // Field by field in Usage's order (every caller writes them in that order) rather than through
  // Object.entries: this runs once per response.
  const usage: Usage = {};
  if (isCount(fields.prompt_tokens)) usage.prompt_tokens = fields.prompt_tokens;
  if (isCount(fields.completion_tokens)) usage.completion_tokens = fields.completion_tokens;
  if (isCount(fields.cached_tokens)) usage.cached_tokens = fields.cached_tokens;
  if (isCount(fields.cache_write_tokens)) usage.cache_write_tokens = fields.cache_write_tokens;
  if (isCount(fields.reasoning_tokens)) usage.reasoning_tokens = fields.reasoning_tokens;
  return usage;
}

function isCount(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * A base URL with its API version: catalogs write both `https://api.anthropic.com` and
 * `https://api.anthropic.com/v1`; a base that does not end in a version segment gets `version`.
 */
export function versionedBaseUrl(base: string, version: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return /\/v\d+(?:(?:alpha|beta)\d*)?$/.test(trimmed) ? trimmed : `${trimmed}/${version}`;
}
