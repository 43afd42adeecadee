/**
 * Anthropic Messages API wire types (provider-wire-formats.md section 2), nullish-tolerant where
 * the adapter reads. Request types are exact; response types accept what may be missing.
 */

/** A prompt-cache breakpoint, passed through from the client's content parts. */
export interface AnthropicCacheControl {
  type: 'ephemeral';
  ttl?: string;
}

/** Request content blocks the adapter sends. */
export type AnthropicRequestBlock =
  | { type: 'text'; text: string; cache_control?: AnthropicCacheControl }
  | { type: 'image'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } }
  | { type: 'document'; source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string } }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string | Array<{ type: 'text'; text: string }> };

/** One turn; roles alternate (the adapter merges repeats). */
export interface AnthropicRequestMessage {
  role: 'user' | 'assistant';
  content: AnthropicRequestBlock[];
}

/** A custom tool: OpenAI's `function.parameters` become `input_schema`. */
export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

/** `tool_choice` forms; `disable_parallel_tool_use` is OpenAI's `parallel_tool_calls: false`. */
export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

/** `POST /v1/messages` body. */
export interface AnthropicRequestBody {
  model: string;
  max_tokens: number;
  messages: AnthropicRequestMessage[];
  system?: Array<{ type: 'text'; text: string; cache_control?: AnthropicCacheControl }>;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
  stream?: boolean;
  metadata?: { user_id: string };
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: { type: 'enabled'; budget_tokens: number };
  output_config?: { format: { type: 'json_schema'; schema: Record<string, unknown> } };
}

/** `usage` on a message or a message_delta (cumulative). */
export interface AnthropicWireUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  output_tokens_details?: { thinking_tokens?: number | null } | null;
}

/** Response content blocks (only the fields the adapter reads). */
export interface AnthropicWireBlock {
  type?: string | null;
  text?: string | null;
  id?: string | null;
  name?: string | null;
  input?: unknown;
  thinking?: string | null;
}

/** A non-streaming Message. */
export interface AnthropicWireMessage {
  id?: string | null;
  type?: string | null;
  model?: string | null;
  content?: AnthropicWireBlock[] | null;
  stop_reason?: string | null;
  stop_sequence?: string | null;
  usage?: AnthropicWireUsage | null;
}

/** One streamed event's data; `type` repeats the SSE event name. */
export interface AnthropicWireEvent {
  type?: string | null;
  message?: AnthropicWireMessage | null;
  index?: number | null;
  content_block?: AnthropicWireBlock | null;
  delta?: {
    type?: string | null;
    text?: string | null;
    partial_json?: string | null;
    thinking?: string | null;
    stop_reason?: string | null;
  } | null;
  usage?: AnthropicWireUsage | null;
  error?: { type?: string | null; message?: string | null } | null;
}

/** `{"type":"error","error":{type,message},"request_id"}`. */
export interface AnthropicWireErrorBody {
  type?: string | null;
  error?: { type?: string | null; message?: string | null } | null;
  request_id?: string | null;
}
