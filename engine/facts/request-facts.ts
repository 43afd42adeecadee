/**
 * Request facts: what conditions and evaluation see of one OpenRouter/OpenAI chat request.
 *
 * The body is read, never trusted: every field routing depends on is checked here and a bad one is
 * a 400 naming it, so evaluate() only ever sees well-formed facts. See engine/README.md, "Request facts".
 */
import type { Identity, RequestFacts, Variant } from '../types.ts';
import { estimatePromptTokens } from './estimate-tokens.ts';
import { normalizeProviderPreferences, type FactsError } from './provider-preferences.ts';

export { estimatePromptTokens } from './estimate-tokens.ts';
export type { FactsError } from './provider-preferences.ts';

export interface FactsOptions {
  /** Lowercase header names the policy exposes to conditions. */
  exposeHeaders: readonly string[];
}

export type FactsResult = { ok: true; facts: RequestFacts } | { ok: false; error: FactsError };

/** Error codes `requestFacts` returns (all status 400). */
export const FACTS_ERROR_CODES: Readonly<Record<string, string>> = {
  invalid_request: 'The body, or one of its routing fields (model, models, max_tokens, tools, response_format, session_id, route), is malformed.',
  invalid_provider_preferences: 'A field of the `provider` object is malformed or unknown; `param` names it.',
};

/** Request tags come from this header (comma-separated), the one place the OpenAI SDKs let callers add metadata without touching the body. */
export const TAGS_HEADER = 'x-switchyard-tags';
/** OpenRouter's sticky-session header; the body's `session_id` beats it. */
export const SESSION_HEADER = 'x-session-id';
/** OpenRouter's cap on the `models` fallback list. */
export const MAX_FALLBACK_MODELS = 3;

const VARIANTS: readonly Variant[] = ['free', 'nitro', 'floor'];

/**
 * Body fields that are OpenRouter parameters, with the `supported_parameters` name each maps to,
 * in the order `facts.parameters` lists them.
 */
const PARAMETER_FIELDS: ReadonlyArray<readonly [field: string, parameter: string]> = [
  ['max_tokens', 'max_tokens'],
  ['max_completion_tokens', 'max_tokens'],
  ['temperature', 'temperature'],
  ['top_p', 'top_p'],
  ['top_k', 'top_k'],
  ['frequency_penalty', 'frequency_penalty'],
  ['presence_penalty', 'presence_penalty'],
  ['repetition_penalty', 'repetition_penalty'],
  ['min_p', 'min_p'],
  ['top_a', 'top_a'],
  ['seed', 'seed'],
  ['stop', 'stop'],
  ['logit_bias', 'logit_bias'],
  ['logprobs', 'logprobs'],
  ['top_logprobs', 'top_logprobs'],
  ['tools', 'tools'],
  ['tool_choice', 'tool_choice'],
  ['parallel_tool_calls', 'parallel_tool_calls'],
  ['response_format', 'response_format'],
  ['reasoning', 'reasoning'],
  ['reasoning_effort', 'reasoning'],
  ['include_reasoning', 'include_reasoning'],
  ['verbosity', 'verbosity'],
  ['web_search_options', 'web_search_options'],
];

const MODALITY_BY_PART: Readonly<Record<string, string>> = {
  text: 'text',
  image_url: 'image',
  input_audio: 'audio',
  file: 'file',
  video_url: 'video',
};
const MODALITY_ORDER = ['text', 'image', 'audio', 'file', 'video'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(param: string, message: string): { ok: false; error: FactsError } {
  return { ok: false, error: { status: 400, code: 'invalid_request', message: `${param}: ${message}`, param } };
}

/** OpenRouter treats `null` as "not given" for every optional field. */
function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** `author/model:nitro` -> model + variant. Unknown suffixes (`:thinking`, `:extended`) stay part of the id. */
function splitVariant(entry: string): { model: string; variant: Variant | null } {
  const colon = entry.lastIndexOf(':');
  if (colon > 0) {
    const suffix = entry.slice(colon + 1) as Variant;
    if (VARIANTS.includes(suffix)) return { model: entry.slice(0, colon), variant: suffix };
  }
  return { model: entry, variant: null };
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

function positiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

function inputModalities(body: Record<string, unknown>): string[] {
  const seen = new Set<string>();
  if (typeof body.prompt === 'string') seen.add('text');
  if (Array.isArray(body.messages)) {
    for (const message of body.messages) {
      if (!isRecord(message)) continue;
      const content = message.content;
      if (typeof content === 'string') {
        seen.add('text');
      } else if (Array.isArray(content)) {
        for (const part of content) {
          const modality = isRecord(part) && typeof part.type === 'string' ? MODALITY_BY_PART[part.type] : undefined;
          if (modality !== undefined) seen.add(modality);
        }
      }
    }
  }
  return MODALITY_ORDER.filter((modality) => seen.has(modality));
}

/**
 * Request facts from an OpenRouter/OpenAI chat body, the request headers (any case) and the
 * authenticated identity. A malformed routing field is `{ ok: false }` with a 400 naming it.
 */
export function requestFacts(
  body: unknown,
  headers: Record<string, string | string[] | undefined>,
  identity: Identity,
  options: FactsOptions,
): FactsResult {
  if (!isRecord(body)) return invalid('body', 'must be a JSON object');

  // Requested models: `model` first, then `models` (OpenRouter caps `models` at 3).
  const entries: string[] = [];
  if (present(body.model)) {
    if (typeof body.model !== 'string' || body.model.trim() === '') return invalid('model', 'must be a non-empty string');
    entries.push(body.model.trim());
  }
  if (present(body.models)) {
    if (!Array.isArray(body.models) || body.models.some((entry) => typeof entry !== 'string' || entry.trim() === '')) {
      return invalid('models', 'must be an array of model ids');
    }
    if (body.models.length > MAX_FALLBACK_MODELS) {
      return { ok: false, error: { status: 400, code: 'invalid_request', message: `'models' array must have ${MAX_FALLBACK_MODELS} items or fewer`, param: 'models' } };
    }
    for (const entry of body.models as string[]) {
      const trimmed = entry.trim();
      // A repeat of an earlier entry would only duplicate its endpoints.
      if (!entries.includes(trimmed)) entries.push(trimmed);
    }
  }
  const models: string[] = [];
  const variants: Array<Variant | null> = [];
  for (const entry of entries) {
    const split = splitVariant(entry);
    models.push(split.model);
    variants.push(split.variant);
  }

  let maxTokens: number | null = null;
  for (const field of ['max_completion_tokens', 'max_tokens'] as const) {
    const value = body[field];
    if (!present(value)) continue;
    if (!positiveInteger(value)) return invalid(field, 'must be an integer >= 1');
    // `max_completion_tokens` is the newer name and wins when both are sent.
    maxTokens ??= value;
  }

  if (present(body.tools) && !Array.isArray(body.tools)) return invalid('tools', 'must be an array');
  const tools = Array.isArray(body.tools) && body.tools.length > 0;

  let toolChoice: string | null = null;
  if (present(body.tool_choice)) {
    if (typeof body.tool_choice === 'string') toolChoice = body.tool_choice;
    else if (isRecord(body.tool_choice) && typeof body.tool_choice.type === 'string') toolChoice = body.tool_choice.type;
    else return invalid('tool_choice', "must be 'none', 'auto', 'required' or {type, function}");
  }

  let responseFormat: RequestFacts['response_format'] = null;
  if (present(body.response_format)) {
    const type = isRecord(body.response_format) ? body.response_format.type : undefined;
    if (typeof type !== 'string') return invalid('response_format', 'must be an object with a type');
    // `grammar` and `python` are passed on as parameters but have no routing capability of their own.
    if (type === 'text' || type === 'json_object' || type === 'json_schema') responseFormat = type;
  }

  if (present(body.stream) && typeof body.stream !== 'boolean') return invalid('stream', 'must be a boolean');
  if (present(body.session_id) && (typeof body.session_id !== 'string' || body.session_id.length > 256)) {
    return invalid('session_id', 'must be a string of at most 256 characters');
  }
  if (present(body.user) && typeof body.user !== 'string') return invalid('user', 'must be a string');

  const provider = normalizeProviderPreferences(body.provider, body.route);
  if (!provider.ok) return provider;

  const parameters: string[] = [];
  for (const [field, parameter] of PARAMETER_FIELDS) {
    if (present(body[field]) && !parameters.includes(parameter)) parameters.push(parameter);
  }
  if (responseFormat === 'json_schema') parameters.push('structured_outputs');

  // Headers: lowercase names; only exposed ones reach conditions, plus the two we read ourselves.
  const exposed: Record<string, string> = {};
  let tagsHeader: string | null = null;
  let sessionHeader: string | null = null;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    const value = headerValue(headers[name]);
    if (value === null) continue;
    if (lower === TAGS_HEADER) tagsHeader = value;
    if (lower === SESSION_HEADER) sessionHeader = value;
    if (options.exposeHeaders.includes(lower)) exposed[lower] = value;
  }

  const tags: string[] = [];
  if (tagsHeader !== null) {
    for (const tag of tagsHeader.split(',')) {
      const trimmed = tag.trim();
      if (trimmed !== '' && !tags.includes(trimmed)) tags.push(trimmed);
    }
  }

  const user = identity.user ?? (typeof body.user === 'string' && body.user !== '' ? body.user : null);
  const session =
    (typeof body.session_id === 'string' && body.session_id !== '' ? body.session_id : null) ??
    (sessionHeader !== null && sessionHeader !== '' ? sessionHeader : null) ??
    (typeof body.prompt_cache_key === 'string' && body.prompt_cache_key !== '' ? body.prompt_cache_key : null) ??
    user;

  return {
    ok: true,
    facts: {
      model: models[0] ?? null,
      models,
      variants,
      tags,
      key: identity.key ?? null,
      user,
      team: identity.team ?? null,
      headers: exposed,
      prompt_tokens: estimatePromptTokens(body),
      max_tokens: maxTokens,
      tools,
      tool_choice: toolChoice,
      response_format: responseFormat,
      input_modalities: inputModalities(body),
      stream: body.stream === true,
      parameters,
      provider: provider.value,
      session,
    },
  };
}
