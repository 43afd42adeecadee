/**
 * Validation of the `POST /embeddings` and legacy `POST /completions` bodies (OpenAI / OpenRouter
 * shapes), the provider requests built from them, and the prompt-token estimate routing uses.
 * Routing fields (`model`, `models`, `provider`, ...) are read by the engine's `requestFacts`,
 * which validates them the same way for every route.
 */
import { estimatePromptTokens } from '../../engine/index.ts';
import type { EmbeddingRequest, TextCompletionRequest } from '../providers/spec.ts';
import { GATEWAY_ONLY_FIELDS } from './chat-body.ts';
import { GatewayError } from './errors.ts';

function invalid(param: string, detail: string): GatewayError {
  return new GatewayError('invalid_request', `Invalid field '${param}': ${detail}.`, { param });
}

function isObject(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}

function requireObject(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw new GatewayError('invalid_request', 'The request body must be a JSON object (Content-Type: application/json).', { param: 'body' });
  return body;
}

function isTokenArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((token) => Number.isInteger(token) && (token as number) >= 0);
}

function optionalNumber(body: Record<string, unknown>, field: string, check: (value: number) => boolean, detail: string): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) throw invalid(field, detail);
}

function optionalString(body: Record<string, unknown>, field: string): void {
  const value = body[field];
  if (value !== undefined && value !== null && typeof value !== 'string') throw invalid(field, 'must be a string');
}

/** The embeddings body as accepted; throws `GatewayError` (400) naming the offending field. */
export function parseEmbeddingsBody(raw: unknown): Record<string, unknown> {
  const body = requireObject(raw);
  const input = body.input;
  const valid =
    (typeof input === 'string' && input !== '') ||
    isTokenArray(input) ||
    (Array.isArray(input) && input.length > 0 && (input.every((entry) => typeof entry === 'string' && entry !== '') || input.every(isTokenArray)));
  if (!valid) throw invalid('input', 'must be a non-empty string, array of strings, array of token ids or array of token id arrays');
  if (Array.isArray(input) && input.length > 2048) throw invalid('input', 'at most 2048 inputs per request');
  const format = body.encoding_format;
  if (format !== undefined && format !== null && format !== 'float' && format !== 'base64') throw invalid('encoding_format', 'must be "float" or "base64"');
  optionalNumber(body, 'dimensions', (value) => Number.isInteger(value) && value >= 1, 'must be a positive integer');
  optionalString(body, 'user');
  if (body.stream === true) throw invalid('stream', 'embeddings cannot be streamed');
  return body;
}

/** The legacy completions body as accepted; throws `GatewayError` (400) naming the offending field. */
export function parseCompletionsBody(raw: unknown): Record<string, unknown> {
  const body = requireObject(raw);
  const prompt = body.prompt;
  const valid = typeof prompt === 'string' || (Array.isArray(prompt) && prompt.length > 0 && prompt.every((entry) => typeof entry === 'string'));
  if (!valid) throw invalid('prompt', 'must be a string or a non-empty array of strings');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw invalid('stream', 'must be a boolean');
  optionalNumber(body, 'max_tokens', (value) => Number.isInteger(value) && value >= 1, 'must be a positive integer');
  optionalNumber(body, 'temperature', (value) => value >= 0 && value <= 2, 'must be between 0 and 2');
  optionalNumber(body, 'top_p', (value) => value >= 0 && value <= 1, 'must be between 0 and 1');
  optionalNumber(body, 'presence_penalty', (value) => value >= -2 && value <= 2, 'must be between -2 and 2');
  optionalNumber(body, 'frequency_penalty', (value) => value >= -2 && value <= 2, 'must be between -2 and 2');
  optionalNumber(body, 'seed', (value) => Number.isInteger(value), 'must be an integer');
  const stop = body.stop;
  if (stop !== undefined && stop !== null && typeof stop !== 'string' && !(Array.isArray(stop) && stop.every((entry) => typeof entry === 'string'))) {
    throw invalid('stop', 'must be a string or an array of strings');
  }
  optionalString(body, 'suffix');
  optionalString(body, 'user');
  return body;
}

const gatewayOnly = new Set(GATEWAY_ONLY_FIELDS);

function withoutGatewayFields(body: Record<string, unknown>, keep: readonly string[]): Record<string, unknown> {
  const request: Record<string, unknown> = {};
  for (const key of keep) if (!gatewayOnly.has(key) && body[key] !== undefined && body[key] !== null) request[key] = body[key];
  return request;
}

const EMBEDDING_FIELDS = ['input', 'encoding_format', 'dimensions', 'user'] as const;
const COMPLETION_FIELDS = [
  'prompt', 'stream', 'max_tokens', 'temperature', 'top_p', 'stop', 'seed', 'presence_penalty', 'frequency_penalty', 'logit_bias', 'suffix', 'echo', 'user',
] as const;

/** What embedding adapters receive. */
export function embeddingRequest(body: Record<string, unknown>): EmbeddingRequest {
  return withoutGatewayFields(body, EMBEDDING_FIELDS) as unknown as EmbeddingRequest;
}

/** What legacy completion adapters receive. */
export function textCompletionRequest(body: Record<string, unknown>): TextCompletionRequest {
  return withoutGatewayFields(body, COMPLETION_FIELDS) as unknown as TextCompletionRequest;
}

/**
 * Prompt tokens for routing (context filters, cost estimates): text as the engine estimates a
 * prompt, token-id arrays by their length.
 */
export function estimateInputTokens(input: unknown): number {
  if (typeof input === 'string') return estimatePromptTokens({ prompt: input });
  if (!Array.isArray(input)) return 0;
  if (input.every((entry) => typeof entry === 'number')) return input.length;
  let total = 0;
  for (const entry of input) total += estimateInputTokens(entry);
  return total;
}
