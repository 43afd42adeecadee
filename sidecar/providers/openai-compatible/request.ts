/**
 * Builds the Chat Completions body for a compatible host (pure). The gateway's request is already
 * OpenAI-shaped, so this is mostly about what NOT to send: dropped and rejected parameters,
 * renames, and the few shape fixes a preset asks for.
 */
import { alphanumericId, dropParameters } from '../common.ts';
import type { ChatContentPart, ChatMessage, ChatRequest, ChatToolCall, EmbeddingRequest, TextCompletionRequest } from '../spec.ts';
import type { OpenAICompatiblePreset, RequestField } from './presets.ts';

/** The body to POST and what was changed on the way. */
export interface OpenAICompatibleRequestBody {
  body: Record<string, unknown>;
  warnings: string[];
}

const REASONING_EFFORTS = new Set(['minimal', 'low', 'medium', 'high', 'xhigh', 'max', 'none']);

function stripPartExtras(content: string | ChatContentPart[]): string | ChatContentPart[] {
  if (typeof content === 'string') return content;
  // `cache_control` is an Anthropic hint riding on OpenAI parts; OpenAI-style hosts reject unknown keys.
  return content.map((part) => (part.type === 'text' && part.cache_control !== undefined ? { type: 'text', text: part.text } : part));
}

function convertMessage(message: ChatMessage, preset: OpenAICompatiblePreset, mapId: (id: string) => string): Record<string, unknown> {
  switch (message.role) {
    case 'system':
    case 'developer': {
      const role = message.role === 'developer' && !preset.developer_role ? 'system' : message.role;
      const converted: Record<string, unknown> = { role, content: stripPartExtras(message.content) };
      if (preset.message_name && message.name !== undefined) converted['name'] = message.name;
      return converted;
    }
    case 'user': {
      const converted: Record<string, unknown> = { role: 'user', content: stripPartExtras(message.content) };
      if (preset.message_name && message.name !== undefined) converted['name'] = message.name;
      return converted;
    }
    case 'assistant': {
      const converted: Record<string, unknown> = {
        role: 'assistant',
        content: message.content === undefined || message.content === null ? null : stripPartExtras(message.content),
      };
      if (preset.message_name && message.name !== undefined) converted['name'] = message.name;
      if (message.tool_calls !== undefined && message.tool_calls.length > 0) {
        converted['tool_calls'] = message.tool_calls.map(
          (call: ChatToolCall): ChatToolCall => ({ id: mapId(call.id), type: 'function', function: call.function }),
        );
      }
      return converted;
    }
    case 'tool':
      return { role: 'tool', tool_call_id: mapId(message.tool_call_id), content: stripPartExtras(message.content) };
  }
}

/**
 * The Chat Completions body for `request` sent to `upstreamModel` on a host with `preset` quirks.
 * `dropped` are the plan's unsupported parameters for this endpoint.
 */
export function convertToOpenAICompatibleRequest(init: {
  request: ChatRequest;
  upstreamModel: string | undefined;
  preset: OpenAICompatiblePreset;
  dropped: readonly string[];
  stream: boolean;
}): OpenAICompatibleRequestBody {
  const { preset } = init;
  const { request, warnings } = dropParameters(init.request, init.dropped);
  const mapId =
    preset.tool_call_id_format === 'alphanumeric-9'
      ? (id: string) => (/^[a-zA-Z0-9]{9}$/.test(id) ? id : alphanumericId(id, 9))
      : (id: string) => id;

  const body: Record<string, unknown> = {};
  if (init.upstreamModel !== undefined) body['model'] = init.upstreamModel;
  body['messages'] = request.messages.map((message) => convertMessage(message, preset, mapId));

  // A preset rejects a handful of fields at most: a list lookup beats building a Set per request.
  const rejected = preset.rejected_parameters;
  const copyField = (field: RequestField, value: unknown): void => {
    if (value === undefined) return;
    if (rejected.includes(field)) {
      warnings.push(`dropped parameter \`${field}\`: ${preset.id} does not accept it`);
      return;
    }
    body[preset.renamed_parameters[field] ?? field] = value;
  };

  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens !== undefined) body[preset.max_tokens_field] = maxTokens;

  copyField('temperature', request.temperature);
  copyField('top_p', request.top_p);
  copyField('top_k', request.top_k);
  copyField('frequency_penalty', request.frequency_penalty);
  copyField('presence_penalty', request.presence_penalty);
  copyField('repetition_penalty', request.repetition_penalty);
  copyField('min_p', request.min_p);
  copyField('top_a', request.top_a);
  copyField('seed', request.seed);
  copyField('logit_bias', request.logit_bias);
  copyField('logprobs', request.logprobs);
  copyField('top_logprobs', request.top_logprobs);
  copyField('stop', request.stop);
  copyField('tools', request.tools);
  // OpenAI rejects tool_choice and parallel_tool_calls without tools; they mean nothing then anyway.
  const hasTools = request.tools !== undefined && request.tools.length > 0 && !rejected.includes('tools');
  if (hasTools) copyField('parallel_tool_calls', request.parallel_tool_calls);
  copyField('response_format', request.response_format);
  copyField('user', request.user);
  if (request.tool_choice !== undefined && hasTools) {
    copyField('tool_choice', request.tool_choice === 'required' ? preset.tool_choice_required : request.tool_choice);
  }

  const reasoning = request.reasoning;
  if (reasoning !== undefined) {
    if (preset.reasoning === 'unsupported') {
      warnings.push(`dropped parameter \`reasoning\`: ${preset.id} has no reasoning control`);
    } else if (preset.reasoning === 'object') {
      body['reasoning'] = reasoning;
    } else if (reasoning.enabled === false) {
      body['reasoning_effort'] = 'none';
    } else if (reasoning.effort !== undefined && REASONING_EFFORTS.has(reasoning.effort)) {
      body['reasoning_effort'] = reasoning.effort;
    } else if (reasoning.max_tokens !== undefined) {
      warnings.push('`reasoning.max_tokens` has no Chat Completions equivalent; sent as `reasoning_effort: "medium"`');
      body['reasoning_effort'] = 'medium';
    }
  }

  body['stream'] = init.stream;
  if (init.stream && preset.stream_usage === 'include_usage') body['stream_options'] = { include_usage: true };
  Object.assign(body, preset.extra_body);
  return { body, warnings };
}

/** The `POST /embeddings` body: the request as given, with the upstream model. */
export function convertToOpenAICompatibleEmbeddingRequest(request: EmbeddingRequest, upstreamModel: string | undefined): Record<string, unknown> {
  return { ...(upstreamModel === undefined ? {} : { model: upstreamModel }), ...request };
}

/** The legacy `POST /completions` body, with the preset's rejected and renamed fields applied. */
export function convertToOpenAICompatibleCompletionRequest(init: {
  request: TextCompletionRequest;
  upstreamModel: string | undefined;
  preset: OpenAICompatiblePreset;
  dropped: readonly string[];
  stream: boolean;
}): OpenAICompatibleRequestBody {
  const warnings: string[] = [];
  const source: Record<string, unknown> = { ...init.request };
  for (const name of init.dropped) {
    if (source[name] !== undefined) {
      delete source[name];
      warnings.push(`dropped parameter \`${name}\`: not supported by this endpoint`);
    }
  }
  const body: Record<string, unknown> = {};
  if (init.upstreamModel !== undefined) body['model'] = init.upstreamModel;
  const rejected = new Set<string>(init.preset.rejected_parameters);
  for (const [field, value] of Object.entries(source)) {
    if (value === undefined || field === 'stream') continue;
    if (rejected.has(field)) {
      warnings.push(`dropped parameter \`${field}\`: ${init.preset.id} does not accept it`);
      continue;
    }
    body[(init.preset.renamed_parameters as Record<string, string | undefined>)[field] ?? field] = value;
  }
  body['stream'] = init.stream;
  if (init.stream && init.preset.stream_usage === 'include_usage') body['stream_options'] = { include_usage: true };
  return { body, warnings };
}
