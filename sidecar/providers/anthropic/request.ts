/**
 * OpenAI-shaped request -> Anthropic Messages body (pure). Mapping per provider-wire-formats.md
 * 2.6: system lifted out, `max_tokens` always set, tool calls and results as blocks, consecutive
 * tool results merged into one user turn, `cache_control` kept where the client put it.
 */
import { contentParts, dropParameters, parseDataUrl, parseToolArguments, requestedMaxTokens, stopList } from '../common.ts';
import type { ChatContentPart, ChatMessage, ChatRequest, ChatToolChoice } from '../spec.ts';
import type { AnthropicRequestBlock, AnthropicRequestBody, AnthropicRequestMessage, AnthropicToolChoice } from './api-types.ts';

/**
 * `max_tokens` when the client sent none. Anthropic requires the field; 4096 fits every current
 * model's output limit. Override per provider with `options.default_max_tokens`.
 */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

/** Thinking budgets for the unified `reasoning.effort` (the minimum Anthropic accepts is 1024). */
const THINKING_BUDGETS: Record<string, number> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16_384,
  xhigh: 24_576,
  max: 32_000,
};

/** Request fields Anthropic has no equivalent for. */
const UNSUPPORTED: Array<keyof ChatRequest> = [
  'seed',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'frequency_penalty',
  'presence_penalty',
  'repetition_penalty',
  'min_p',
  'top_a',
];

function convertPart(part: ChatContentPart, warnings: string[]): AnthropicRequestBlock | undefined {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text, ...(part.cache_control === undefined ? {} : { cache_control: part.cache_control }) };
    case 'image_url': {
      const inline = parseDataUrl(part.image_url.url);
      return inline === undefined
        ? { type: 'image', source: { type: 'url', url: part.image_url.url } }
        : { type: 'image', source: { type: 'base64', media_type: inline.mediaType, data: inline.data } };
    }
    case 'file': {
      const inline = part.file.file_data === undefined ? undefined : parseDataUrl(part.file.file_data);
      if (inline !== undefined) return { type: 'document', source: { type: 'base64', media_type: inline.mediaType, data: inline.data } };
      warnings.push('dropped a `file` part: Anthropic needs inline file data');
      return undefined;
    }
    case 'input_audio':
      warnings.push('dropped an `input_audio` part: Anthropic does not take audio');
      return undefined;
  }
}

function convertContent(content: string | ChatContentPart[] | null | undefined, warnings: string[]): AnthropicRequestBlock[] {
  const blocks: AnthropicRequestBlock[] = [];
  for (const part of contentParts(content)) {
    const block = convertPart(part, warnings);
    if (block !== undefined) blocks.push(block);
  }
  return blocks;
}

function toolResultContent(content: string | ChatContentPart[]): string | Array<{ type: 'text'; text: string }> {
  if (typeof content === 'string') return content;
  return content.flatMap((part) => (part.type === 'text' ? [{ type: 'text' as const, text: part.text }] : []));
}

function convertToolChoice(choice: ChatToolChoice | undefined, parallel: boolean | undefined): AnthropicToolChoice | undefined {
  const disable = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined) return parallel === false ? { type: 'auto', disable_parallel_tool_use: true } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'auto') return { type: 'auto', ...disable };
  if (choice === 'required') return { type: 'any', ...disable };
  return { type: 'tool', name: choice.function.name, ...disable };
}

/** Appends a turn, merging it into the previous one when the role repeats (Anthropic alternates roles). */
function pushTurn(messages: AnthropicRequestMessage[], role: 'user' | 'assistant', blocks: AnthropicRequestBlock[]): void {
  if (blocks.length === 0) return;
  const last = messages[messages.length - 1];
  if (last !== undefined && last.role === role) last.content.push(...blocks);
  else messages.push({ role, content: blocks });
}

function convertMessages(messages: readonly ChatMessage[], warnings: string[]): { system: AnthropicRequestBody['system']; turns: AnthropicRequestMessage[] } {
  const system: NonNullable<AnthropicRequestBody['system']> = [];
  const turns: AnthropicRequestMessage[] = [];
  for (const message of messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        // Anthropic has one system prompt; every system message joins it, in order.
        for (const block of convertContent(message.content, warnings)) if (block.type === 'text') system.push(block);
        break;
      case 'user':
        pushTurn(turns, 'user', convertContent(message.content, warnings));
        break;
      case 'assistant': {
        const blocks = convertContent(message.content, warnings);
        for (const call of message.tool_calls ?? []) {
          blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseToolArguments(call.function.arguments) });
        }
        pushTurn(turns, 'assistant', blocks);
        break;
      }
      case 'tool':
        pushTurn(turns, 'user', [{ type: 'tool_result', tool_use_id: message.tool_call_id, content: toolResultContent(message.content) }]);
        break;
    }
  }
  return { system: system.length > 0 ? system : undefined, turns };
}

/** Options a catalog provider may set for this protocol. */
export interface AnthropicRequestOptions {
  defaultMaxTokens: number;
}

/** The Messages body and the warnings for what could not be expressed. */
export function convertToAnthropicRequest(init: {
  request: ChatRequest;
  upstreamModel: string;
  dropped: readonly string[];
  stream: boolean;
  options: AnthropicRequestOptions;
}): { body: AnthropicRequestBody; warnings: string[]; exposeReasoning: boolean } {
  const { request, warnings } = dropParameters(init.request, init.dropped);
  const { system, turns } = convertMessages(request.messages, warnings);

  let maxTokens = requestedMaxTokens(request) ?? init.options.defaultMaxTokens;
  const body: AnthropicRequestBody = { model: init.upstreamModel, max_tokens: maxTokens, messages: turns };
  if (system !== undefined) body.system = system;

  const reasoning = request.reasoning;
  const thinking = reasoning !== undefined && reasoning.enabled !== false && reasoning.effort !== 'none' && (reasoning.enabled === true || reasoning.effort !== undefined || reasoning.max_tokens !== undefined);
  if (thinking) {
    const budget = Math.max(1024, reasoning?.max_tokens ?? THINKING_BUDGETS[reasoning?.effort ?? 'medium'] ?? 8192);
    if (maxTokens <= budget) {
      // The budget counts toward max_tokens; leave the answer the room the client asked for.
      maxTokens = budget + (requestedMaxTokens(request) ?? init.options.defaultMaxTokens);
      warnings.push(`raised \`max_tokens\` to ${maxTokens} to fit a thinking budget of ${budget}`);
      body.max_tokens = maxTokens;
    }
    body.thinking = { type: 'enabled', budget_tokens: budget };
  }

  if (request.temperature !== undefined) {
    if (thinking) warnings.push('dropped `temperature`: Anthropic requires the default with extended thinking');
    else if (request.temperature > 1) {
      warnings.push(`clamped \`temperature\` ${request.temperature} to 1 (Anthropic's range is 0..1)`);
      body.temperature = 1;
    } else body.temperature = request.temperature;
  }
  if (request.top_p !== undefined) body.top_p = request.top_p;
  if (request.top_k !== undefined) {
    if (thinking) warnings.push('dropped `top_k`: not allowed with extended thinking');
    else body.top_k = request.top_k;
  }
  const stops = stopList(request.stop)?.filter((sequence) => sequence.trim() !== '');
  if (stops !== undefined && stops.length > 0) body.stop_sequences = stops;
  if (request.user !== undefined) body.metadata = { user_id: request.user };

  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      name: tool.function.name,
      ...(tool.function.description === undefined ? {} : { description: tool.function.description }),
      input_schema: tool.function.parameters ?? { type: 'object', properties: {} },
    }));
    const choice = convertToolChoice(request.tool_choice, request.parallel_tool_calls);
    if (choice !== undefined) body.tool_choice = choice;
  }

  const format = request.response_format;
  if (format?.type === 'json_schema') {
    body.output_config = { format: { type: 'json_schema', schema: format.json_schema.schema ?? { type: 'object' } } };
  } else if (format?.type === 'json_object') {
    warnings.push('`response_format: json_object` has no Anthropic equivalent; asked for JSON in the system prompt');
    body.system = [...(body.system ?? []), { type: 'text', text: 'Respond only with a single valid JSON object.' }];
  }

  for (const field of UNSUPPORTED) {
    if (request[field] !== undefined) warnings.push(`dropped parameter \`${field}\`: Anthropic does not support it`);
  }
  if (init.stream) body.stream = true;
  return { body, warnings, exposeReasoning: reasoning?.exclude !== true };
}
