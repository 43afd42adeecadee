/**
 * OpenAI-compatible hosts are configuration, not code. Each preset records what one host does
 * differently (provider-wire-formats.md section 4). A catalog provider picks one with
 * `options.preset`, or by its id (`groq`, `deepinfra/turbo` -> `deepinfra`); otherwise `generic`.
 */
import type { CatalogProvider } from '../../../engine/index.ts';
import type { ChatRequest } from '../spec.ts';

/** Request fields a preset may refuse. */
export type RequestField = keyof ChatRequest;

/** One host's quirks. */
export interface OpenAICompatiblePreset {
  id: string;
  /** Used when the catalog provider has no `base_url`. */
  default_base_url?: string;
  /** Fields the host rejects (400/422) or that are not OpenAI's; dropped with a warning. */
  rejected_parameters: RequestField[];
  /** Field renames on the wire (Mistral `seed` -> `random_seed`). */
  renamed_parameters: Partial<Record<RequestField, string>>;
  /** Which field carries the output limit: OpenAI's reasoning models refuse `max_tokens`. */
  max_tokens_field: 'max_tokens' | 'max_completion_tokens';
  /** How the unified `reasoning` parameter is sent: as `reasoning_effort`, as the object itself (OpenRouter), or dropped with a warning. */
  reasoning: 'reasoning_effort' | 'object' | 'unsupported';
  /** The word for "must call a tool": OpenAI `required`, Mistral `any`. */
  tool_choice_required: 'required' | 'any';
  /** Whether the `developer` role is understood; otherwise it is sent as `system`. */
  developer_role: boolean;
  /** Whether `messages[].name` is accepted (Groq rejects it). */
  message_name: boolean;
  /** Tool-call ids the host insists on: Mistral wants exactly 9 characters `[a-zA-Z0-9]`. */
  tool_call_id_format: 'any' | 'alphanumeric-9';
  /** Streaming usage: ask with `stream_options.include_usage`, or the host always sends it (and may reject the option). */
  stream_usage: 'include_usage' | 'always';
  /** Fields always added to the body (Fireworks: fail on context overflow instead of truncating). */
  extra_body: Record<string, unknown>;
  /** DeepInfra's Gemma/Gemini-family models report `completion_tokens` without reasoning tokens. */
  completion_excludes_reasoning: boolean;
  /** Human notes for the README table. */
  notes: string;
}

const NON_OPENAI_SAMPLING: RequestField[] = ['top_k', 'repetition_penalty', 'min_p', 'top_a'];

const BASE: OpenAICompatiblePreset = {
  id: 'generic',
  rejected_parameters: [],
  renamed_parameters: {},
  max_tokens_field: 'max_tokens',
  reasoning: 'reasoning_effort',
  tool_choice_required: 'required',
  developer_role: true,
  message_name: true,
  tool_call_id_format: 'any',
  stream_usage: 'include_usage',
  extra_body: {},
  completion_excludes_reasoning: false,
  notes: 'Forwards every field; for servers that ignore what they do not know.',
};

function preset(overrides: Partial<OpenAICompatiblePreset> & { id: string; notes: string }): OpenAICompatiblePreset {
  return { ...BASE, ...overrides };
}

/** Every preset, by id. */
export const OPENAI_COMPATIBLE_PRESETS: Readonly<Record<string, OpenAICompatiblePreset>> = {
  generic: BASE,
  openai: preset({
    id: 'openai',
    default_base_url: 'https://api.openai.com/v1',
    rejected_parameters: NON_OPENAI_SAMPLING,
    max_tokens_field: 'max_completion_tokens',
    notes: '`max_tokens` sent as `max_completion_tokens` (reasoning models refuse the old name); non-OpenAI sampling fields dropped.',
  }),
  azure: preset({
    id: 'azure',
    rejected_parameters: NON_OPENAI_SAMPLING,
    max_tokens_field: 'max_completion_tokens',
    notes: 'Used by the `azure-openai` protocol: deployment URLs, `api-version`, `api-key`; first stream chunk has empty `choices`.',
  }),
  groq: preset({
    id: 'groq',
    default_base_url: 'https://api.groq.com/openai/v1',
    rejected_parameters: ['logprobs', 'top_logprobs', 'logit_bias', ...NON_OPENAI_SAMPLING],
    message_name: false,
    notes: '400 on `logprobs`, `top_logprobs`, `logit_bias`, `messages[].name`; usage on the finish chunk (also in `x_groq.usage`); tool calls arrive whole.',
  }),
  together: preset({
    id: 'together',
    default_base_url: 'https://api.together.xyz/v1',
    rejected_parameters: ['top_a'],
    reasoning: 'unsupported',
    notes: '`finish_reason: "eos"` means stop; accepts `top_k`, `repetition_penalty`, `min_p`; errors may be `{"error": "<string>"}`.',
  }),
  fireworks: preset({
    id: 'fireworks',
    default_base_url: 'https://api.fireworks.ai/inference/v1',
    rejected_parameters: ['top_a'],
    extra_body: { context_length_exceeded_behavior: 'error' },
    notes: 'Sends `context_length_exceeded_behavior: "error"` so overflow fails instead of silently truncating; usage on the final chunk; `fault` error bodies.',
  }),
  mistral: preset({
    id: 'mistral',
    default_base_url: 'https://api.mistral.ai/v1',
    rejected_parameters: ['logprobs', 'top_logprobs', 'logit_bias', 'user', ...NON_OPENAI_SAMPLING],
    renamed_parameters: { seed: 'random_seed' },
    reasoning: 'unsupported',
    tool_choice_required: 'any',
    developer_role: false,
    tool_call_id_format: 'alphanumeric-9',
    stream_usage: 'always',
    notes: '`seed` -> `random_seed`, `required` -> `any`, `developer` -> `system`, tool-call ids rewritten to 9 alphanumerics; tool calls stream whole without `index`; flat error body; `model_length` finish.',
  }),
  deepinfra: preset({
    id: 'deepinfra',
    default_base_url: 'https://api.deepinfra.com/v1/openai',
    rejected_parameters: ['top_a'],
    completion_excludes_reasoning: true,
    notes: '422 FastAPI `detail` errors; for some models `completion_tokens` excludes reasoning tokens (added back).',
  }),
  deepseek: preset({
    id: 'deepseek',
    default_base_url: 'https://api.deepseek.com/v1',
    rejected_parameters: ['logit_bias', ...NON_OPENAI_SAMPLING],
    reasoning: 'unsupported',
    notes: '`reasoning_content` in messages and deltas; cache reads reported as `prompt_cache_hit_tokens`.',
  }),
  ollama: preset({
    id: 'ollama',
    default_base_url: 'http://localhost:11434/v1',
    reasoning: 'unsupported',
    notes: 'No key needed; ignores unknown fields; may return tool arguments as an object (re-serialised).',
  }),
  openrouter: preset({
    id: 'openrouter',
    default_base_url: 'https://openrouter.ai/api/v1',
    reasoning: 'object',
    notes: 'Takes the unified `reasoning` object as is and OpenRouter sampling extras; sends `: OPENROUTER PROCESSING` comments (skipped).',
  }),
  vllm: preset({
    id: 'vllm',
    notes: 'Accepts `top_k`, `min_p`, `repetition_penalty`; ignores unknown fields; errors carry a numeric `code`; context overflow is a plain 400.',
  }),
};

/** The preset for a catalog provider: `options.preset`, else its id (before any `/`), else `generic`. */
export function resolveOpenAICompatiblePreset(provider: CatalogProvider): OpenAICompatiblePreset {
  const explicit = provider.options?.['preset'];
  if (typeof explicit === 'string') {
    const chosen = OPENAI_COMPATIBLE_PRESETS[explicit];
    if (chosen !== undefined) return chosen;
  }
  const family = provider.id.split('/')[0] ?? provider.id;
  return OPENAI_COMPATIBLE_PRESETS[family] ?? BASE;
}
