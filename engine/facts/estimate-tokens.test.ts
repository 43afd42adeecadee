// Measures the cheap prompt-token estimator against real BPE counts (o200k_base, cl100k_base) over
// a generated corpus of chat bodies, and asserts the error bounds documented in engine/README.md.
import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../evaluate/random.ts';
import { estimatePromptTokens, estimateTextTokens, IMAGE_TOKENS, LOW_DETAIL_IMAGE_TOKENS, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE } from './estimate-tokens.ts';

const WORDS =
  'the of and to in is that for it as with was on be by this are at from or an have not which but all can more one has its were their will would there been other when into some what than about only also new time very just over such may these after most where could first well any much through because between should each under those both while during without however against within several another around'.split(' ');
const CODE_LINES = [
  'function add(a: number, b: number): number { return a + b; }',
  'for (let index = 0; index < items.length; index++) total += items[index].price * 1.2;',
  "const response = await fetch(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers });",
  'if (!result.ok) throw new Error(`request failed: ${result.status}`);',
  'def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)',
  'SELECT id, name, created_at FROM users WHERE team_id = $1 ORDER BY created_at DESC LIMIT 50;',
];
const CJK = '我们今天讨论的是一个关于路由策略的问题请帮我把这段文字翻译成英文并且解释其中的技术细节東京都の天気は晴れです';
const CYRILLIC = 'Привет как дела сегодня мы обсуждаем маршрутизацию запросов между поставщиками моделей';

type Kind = 'prose' | 'code' | 'json' | 'numbers' | 'cjk' | 'cyrillic' | 'mixed';
const KINDS: Kind[] = ['prose', 'code', 'json', 'numbers', 'cjk', 'cyrillic', 'mixed'];
/** Largest |relative error| allowed per kind of text and tokenizer (engine/README.md). */
const BOUNDS: Record<Kind, { o200k: number; cl100k: number }> = {
  prose: { o200k: 0.2, cl100k: 0.2 },
  code: { o200k: 0.2, cl100k: 0.2 },
  json: { o200k: 0.25, cl100k: 0.25 },
  numbers: { o200k: 0.25, cl100k: 0.25 },
  cjk: { o200k: 0.1, cl100k: 0.45 },
  cyrillic: { o200k: 0.45, cl100k: 0.45 },
  mixed: { o200k: 0.2, cl100k: 0.25 },
};

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

function text(random: () => number, kind: Kind, length: number): string {
  const parts: string[] = [];
  let size = 0;
  while (size < length) {
    let piece: string;
    switch (kind) {
      case 'prose':
        piece = `${pick(random, WORDS)}${random() < 0.1 ? '.' : random() < 0.1 ? ',' : ''}`;
        break;
      case 'code':
        piece = pick(random, CODE_LINES);
        break;
      case 'json':
        piece = JSON.stringify({ id: Math.floor(random() * 1e6), name: pick(random, WORDS), tags: [pick(random, WORDS), pick(random, WORDS)], active: random() < 0.5 });
        break;
      case 'numbers':
        piece = String(Math.floor(random() * 1e9));
        break;
      case 'cjk': {
        const start = Math.floor(random() * (CJK.length - 8));
        piece = CJK.slice(start, start + 8);
        break;
      }
      case 'cyrillic':
        piece = pick(random, CYRILLIC.split(' '));
        break;
      case 'mixed':
        piece = random() < 0.6 ? pick(random, WORDS) : random() < 0.5 ? pick(random, CODE_LINES) : CJK.slice(0, 4);
        break;
    }
    parts.push(piece);
    size += piece.length + 1;
  }
  return parts.join(kind === 'cjk' ? '' : kind === 'code' ? '\n' : ' ');
}

/** Real count with OpenAI's chat accounting: content tokens + 3 per message + 3 reply priming. */
function realCount(messages: Array<{ role: string; content: string }>, count: (input: string) => number): number {
  return messages.reduce((total, message) => total + TOKENS_PER_MESSAGE + count(message.content), REPLY_PRIMING_TOKENS);
}

interface Measurement {
  kind: Kind;
  estimate: number;
  o200k: number;
  cl100k: number;
}

function corpus(): Measurement[] {
  const random = mulberry32(20261125);
  const measurements: Measurement[] = [];
  for (let sample = 0; sample < 280; sample++) {
    const kind = KINDS[sample % KINDS.length]!;
    const messageCount = 1 + Math.floor(random() * 4);
    const messages = Array.from({ length: messageCount }, (_, index) => ({
      role: index === 0 ? 'system' : index % 2 === 1 ? 'user' : 'assistant',
      content: text(random, kind, 40 + Math.floor(random() * 3000)),
    }));
    measurements.push({ kind, estimate: estimatePromptTokens({ messages }), o200k: realCount(messages, countO200k), cl100k: realCount(messages, countCl100k) });
  }
  return measurements;
}

function relativeErrors(measurements: Measurement[], key: 'o200k' | 'cl100k'): number[] {
  return measurements.map((measurement) => (measurement.estimate - measurement[key]) / measurement[key]);
}

function quantile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

describe('estimatePromptTokens against real tokenizers', () => {
  const measurements = corpus();

  it('stays within the documented error bounds per kind of text', () => {
    const rows: string[] = [];
    for (const kind of KINDS) {
      const subset = measurements.filter((measurement) => measurement.kind === kind);
      for (const key of ['o200k', 'cl100k'] as const) {
        const errors = relativeErrors(subset, key).map(Math.abs);
        const median = quantile(errors, 0.5);
        const worst = Math.max(...errors);
        const bias = quantile(relativeErrors(subset, key), 0.5);
        rows.push(`${kind.padEnd(8)} ${key.padEnd(6)} median |error| ${(median * 100).toFixed(1)}%  max ${(worst * 100).toFixed(1)}%  median signed ${(bias * 100).toFixed(1)}%`);
      }
    }
    console.log(rows.join('\n'));
    for (const kind of KINDS) {
      const subset = measurements.filter((measurement) => measurement.kind === kind);
      // Bounds documented in engine/README.md ("Prompt-token estimate").
      expect(Math.max(...relativeErrors(subset, 'o200k').map(Math.abs)), `${kind} vs o200k`).toBeLessThan(BOUNDS[kind].o200k);
      expect(Math.max(...relativeErrors(subset, 'cl100k').map(Math.abs)), `${kind} vs cl100k`).toBeLessThan(BOUNDS[kind].cl100k);
    }
  });

  it('is within 20% of o200k for half of all samples and within a factor of 2 for all', () => {
    const errors = relativeErrors(measurements, 'o200k');
    const absolute = errors.map(Math.abs);
    expect(quantile(absolute, 0.5)).toBeLessThan(0.2);
    for (const error of errors) {
      expect(1 + error).toBeGreaterThan(0.5);
      expect(1 + error).toBeLessThan(2);
    }
  });
});

describe('estimatePromptTokens on body shapes', () => {
  it('charges fixed costs for images and other media', () => {
    const base = estimatePromptTokens({ messages: [{ role: 'user', content: [{ type: 'text', text: 'describe' }] }] });
    const withImage = estimatePromptTokens({ messages: [{ role: 'user', content: [{ type: 'text', text: 'describe' }, { type: 'image_url', image_url: { url: 'data:' } }] }] });
    const withLowImage = estimatePromptTokens({ messages: [{ role: 'user', content: [{ type: 'text', text: 'describe' }, { type: 'image_url', image_url: { url: 'x', detail: 'low' } }] }] });
    expect(withImage - base).toBe(IMAGE_TOKENS);
    expect(withLowImage - base).toBe(LOW_DETAIL_IMAGE_TOKENS);
  });

  it('counts tools, tool calls, names and the legacy prompt', () => {
    const plain = estimatePromptTokens({ messages: [{ role: 'user', content: 'hi' }] });
    const tools = estimatePromptTokens({ messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'lookup_weather', parameters: { type: 'object' } } }] });
    expect(tools).toBeGreaterThan(plain + 5);
    const call = estimatePromptTokens({ messages: [{ role: 'assistant', content: null, tool_calls: [{ function: { name: 'lookup', arguments: '{"city":"Paris, France"}' } }] }] });
    expect(call).toBeGreaterThan(TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS);
    expect(estimatePromptTokens({ prompt: 'a'.repeat(400) })).toBe(100);
    expect(estimateTextTokens('日本語')).toBe(Math.ceil(3 * 0.75));
  });

  it('never throws and counts zero for junk', () => {
    expect(estimatePromptTokens(null)).toBe(0);
    expect(estimatePromptTokens('text')).toBe(0);
    expect(estimatePromptTokens({ messages: [null, 3, { content: { odd: true } }] })).toBe(TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS);
  });
});
