/**
 * A cheap prompt-token estimate: no tokenizer at run time, one pass over the characters.
 *
 * Why not a real tokenizer: the estimate only feeds routing (context-length filter, cost caps,
 * budgets) and every provider tokenizes differently anyway; a BPE pass over a long prompt costs
 * milliseconds, this costs microseconds. The error against real o200k/cl100k counts is measured in
 * `estimate-tokens.test.ts` and documented in engine/README.md.
 *
 * Model: ASCII text packs about 4 characters per token; other scripts pack far fewer, so four
 * classes of UTF-16 code unit are counted apart: digits, other ASCII, alphabetic scripts below U+3000 (accented
 * Latin, Greek, Cyrillic, Hebrew, Arabic, Indic) and everything from U+3000 up (CJK, kana, Hangul,
 * emoji surrogate halves). The per-class rates fit o200k (the tokenizer of current OpenAI models,
 * and close to other modern 100k+ vocabularies); cl100k needs up to 2-3x more for non-Latin text. Each message costs a fixed overhead for its
 * role and separators (OpenAI's documented 3 + 3 for the reply priming); images and other media a
 * fixed amount, since their real cost depends on pixels we never decode.
 */

/** ASCII characters per token (English prose, code and JSON sit between 3.5 and 4.5). */
export const ASCII_CHARS_PER_TOKEN = 4;
/** Tokens per digit: both o200k and cl100k split digit runs into groups of at most three. */
export const DIGIT_TOKENS_PER_CHAR = 1 / 3;
/** Tokens per code unit of alphabetic scripts below U+3000 (o200k: Cyrillic 0.21, Greek/Arabic 0.38; cl100k about twice). */
export const ALPHABETIC_TOKENS_PER_CHAR = 0.3;
/** Tokens per code unit from U+3000 up (o200k: CJK 0.69, emoji 0.72 per code unit). */
export const IDEOGRAPHIC_TOKENS_PER_CHAR = 0.75;
/** Role and separator tokens per message. */
export const TOKENS_PER_MESSAGE = 3;
/** Tokens priming the reply (`<|start|>assistant<|message|>`). */
export const REPLY_PRIMING_TOKENS = 3;
/** An image at `detail: auto|high`: OpenAI's cost of a 512px-tiled 1024x1024 image. */
export const IMAGE_TOKENS = 765;
/** An image at `detail: low`. */
export const LOW_DETAIL_IMAGE_TOKENS = 85;
/** Audio, file and video parts: a flat charge; their real size is unknown without decoding. */
export const OTHER_MEDIA_TOKENS = 1000;

/** Token estimate of one string. */
export function estimateTextTokens(text: string): number {
  let ascii = 0;
  let digits = 0;
  let alphabetic = 0;
  let ideographic = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= 0x30 && code <= 0x39) digits++;
    else if (code < 0x80) ascii++;
    else if (code < 0x3000) alphabetic++;
    else ideographic++;
  }
  return Math.ceil(ascii / ASCII_CHARS_PER_TOKEN + digits * DIGIT_TOKENS_PER_CHAR + alphabetic * ALPHABETIC_TOKENS_PER_CHAR + ideographic * IDEOGRAPHIC_TOKENS_PER_CHAR);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Tokens of one content part (`text`, `image_url`, `input_audio`, `file`, `video_url`). */
function estimatePartTokens(part: unknown): number {
  if (typeof part === 'string') return estimateTextTokens(part);
  if (!isRecord(part)) return 0;
  if (typeof part.text === 'string') return estimateTextTokens(part.text);
  if (part.type === 'image_url' || part.image_url !== undefined) {
    const image = part.image_url;
    return isRecord(image) && image.detail === 'low' ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_TOKENS;
  }
  if (part.type === 'input_audio' || part.type === 'file' || part.type === 'video_url') return OTHER_MEDIA_TOKENS;
  return 0;
}

function estimateContentTokens(content: unknown): number {
  if (typeof content === 'string') return estimateTextTokens(content);
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const part of content) total += estimatePartTokens(part);
  return total;
}

/** Tool calls an assistant message carries: names and argument JSON are prompt text on the next turn. */
function estimateToolCallTokens(toolCalls: unknown): number {
  if (!Array.isArray(toolCalls)) return 0;
  let total = 0;
  for (const call of toolCalls) {
    if (!isRecord(call) || !isRecord(call.function)) continue;
    if (typeof call.function.name === 'string') total += estimateTextTokens(call.function.name);
    if (typeof call.function.arguments === 'string') total += estimateTextTokens(call.function.arguments);
  }
  return total;
}

/**
 * Cheap estimate of the prompt tokens of an OpenAI/OpenRouter chat (or legacy `prompt`) body:
 * message text + per-message overhead + fixed media costs + tool definitions as JSON text.
 * Never throws; anything unrecognized counts zero.
 */
export function estimatePromptTokens(body: unknown): number {
  if (!isRecord(body)) return 0;
  let total = 0;
  if (Array.isArray(body.messages)) {
    for (const message of body.messages) {
      if (!isRecord(message)) continue;
      total += TOKENS_PER_MESSAGE + estimateContentTokens(message.content);
      if (typeof message.name === 'string') total += 1 + estimateTextTokens(message.name);
      total += estimateToolCallTokens(message.tool_calls);
    }
    total += REPLY_PRIMING_TOKENS;
  } else if (typeof body.prompt === 'string') {
    total += estimateTextTokens(body.prompt);
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) total += estimateTextTokens(JSON.stringify(body.tools));
  return total;
}
