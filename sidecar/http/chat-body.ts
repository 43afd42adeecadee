/**
 * Validation of the chat body against `schemas/chat-request.v1.schema.json`, and the split between
 * what the gateway reads (routing fields) and what providers receive.
 *
 * The validator is compiled once, when this module loads; requests only run it.
 */
import { Ajv, type ErrorObject } from 'ajv';
import chatRequestSchema from '../../schemas/chat-request.v1.schema.json' with { type: 'json' };
import { normalizeProviderPreferences } from '../../engine/index.ts';
import type { ChatRequest } from '../providers/spec.ts';
import { GatewayError } from './errors.ts';

const ajv = new Ajv({ allErrors: false, strict: false });
const validateChatBody = ajv.compile(chatRequestSchema);

/** Fields the gateway consumes; they never reach a provider. */
export const GATEWAY_ONLY_FIELDS: readonly string[] = [
  'model',
  'models',
  'provider',
  'route',
  'transforms',
  'plugins',
  'session_id',
  'usage',
  'stream_options',
  'metadata',
];
const gatewayOnly = new Set(GATEWAY_ONLY_FIELDS);

/** `/messages/0/role` -> `messages[0].role`. */
function fieldName(instancePath: string): string {
  let name = '';
  for (const segment of instancePath.split('/').slice(1)) {
    name += /^\d+$/.test(segment) ? `[${segment}]` : name === '' ? segment : `.${segment}`;
  }
  return name;
}

/** One precise message for the most specific ajv error. */
function describe(errors: readonly ErrorObject[]): GatewayError {
  // The deepest path is the most specific one (anyOf reports its branches before itself).
  let chosen = errors[0];
  for (const error of errors) if (chosen && error.instancePath.length > chosen.instancePath.length) chosen = error;
  if (!chosen) return new GatewayError('invalid_request', 'Invalid request body.', { param: 'body' });
  const parent = fieldName(chosen.instancePath);
  if (chosen.keyword === 'additionalProperties') {
    const unknown = String((chosen.params as { additionalProperty: string }).additionalProperty);
    const param = parent === '' ? unknown : `${parent}.${unknown}`;
    return new GatewayError('invalid_request', `Unknown field '${param}' in the request body.`, { param });
  }
  if (chosen.keyword === 'required') {
    const missing = String((chosen.params as { missingProperty: string }).missingProperty);
    const param = parent === '' ? missing : `${parent}.${missing}`;
    return new GatewayError('invalid_request', `Missing required field '${param}'.`, { param });
  }
  const param = parent === '' ? 'body' : parent;
  let detail = chosen.message ?? 'is invalid';
  if (chosen.keyword === 'enum') detail += `: ${(chosen.params as { allowedValues: unknown[] }).allowedValues.map((value) => JSON.stringify(value)).join(', ')}`;
  return new GatewayError('invalid_request', `Invalid field '${param}': ${detail}.`, { param });
}

/**
 * A malformed `provider` object is described by the engine, which owns provider preferences: the
 * same code (`invalid_provider_preferences`), words and `param` on the routes as in `switchyard
 * test` and `POST /api/v1/plan`. Undefined when the error is elsewhere or the engine accepts it.
 */
function providerPreferencesError(body: Record<string, unknown>, errors: readonly ErrorObject[]): GatewayError | undefined {
  if (!errors.some((error) => error.instancePath === '/provider' || error.instancePath.startsWith('/provider/'))) return undefined;
  const normalized = normalizeProviderPreferences(body.provider, body.route);
  if (normalized.ok) return undefined;
  return new GatewayError('invalid_request', normalized.error.message, { param: normalized.error.param ?? null, reason: normalized.error.code });
}

/** The body as the gateway accepted it. Throws `GatewayError` (400) naming the offending field. */
export function parseChatBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError('invalid_request', 'The request body must be a JSON object (Content-Type: application/json).', { param: 'body' });
  }
  if (!validateChatBody(body)) {
    const errors = validateChatBody.errors ?? [];
    throw providerPreferencesError(body as Record<string, unknown>, errors) ?? describe(errors);
  }
  const accepted = body as Record<string, unknown>;
  if (accepted.reasoning_effort !== undefined || accepted.include_reasoning !== undefined) foldReasoningAliases(accepted);
  return accepted;
}

/** OpenRouter's shorthands `reasoning_effort` and `include_reasoning`, folded into `reasoning`. */
function foldReasoningAliases(body: Record<string, unknown>): void {
  const reasoning = { ...((body.reasoning as Record<string, unknown> | undefined) ?? {}) };
  const effort = body.reasoning_effort;
  if (effort !== undefined) {
    if (reasoning.effort !== undefined && reasoning.effort !== effort) {
      throw new GatewayError('invalid_request', `'reasoning_effort' (${String(effort)}) contradicts 'reasoning.effort' (${String(reasoning.effort)}).`, { param: 'reasoning_effort' });
    }
    reasoning.effort = effort;
  }
  if (body.include_reasoning === false) reasoning.exclude = true;
  delete body.reasoning_effort;
  delete body.include_reasoning;
  body.reasoning = reasoning;
}

/** The request providers receive: gateway-only fields removed. */
export function providerRequest(body: Record<string, unknown>): ChatRequest {
  const request: Record<string, unknown> = {};
  for (const key in body) if (!gatewayOnly.has(key)) request[key] = body[key];
  return request as unknown as ChatRequest;
}

/** The request for one attempt: the endpoint's unsupported parameters dropped, nothing added. */
export function withoutParameters(request: ChatRequest, dropParameters: readonly string[]): ChatRequest {
  if (dropParameters.length === 0) return request;
  const copy: Record<string, unknown> = { ...request };
  for (const parameter of dropParameters) delete copy[parameter];
  return copy as unknown as ChatRequest;
}
