import type { Identity, RequestFacts } from '../types.ts';

export interface FactsOptions {
  /** Lowercase header names the policy exposes to conditions. */
  exposeHeaders: readonly string[];
}

export type FactsResult =
  | { ok: true; facts: RequestFacts }
  | { ok: false; error: { status: 400; code: string; message: string; param?: string } };

/** Request facts from an OpenRouter/OpenAI chat body and headers. STUB: engine-evaluate helper replaces this. */
export function requestFacts(body: unknown, headers: Record<string, string | string[] | undefined>, identity: Identity, options: FactsOptions): FactsResult {
  void body;
  void headers;
  void identity;
  void options;
  throw new Error('not implemented');
}

/** Cheap prompt-token estimate for a chat body. STUB. */
export function estimatePromptTokens(body: unknown): number {
  void body;
  throw new Error('not implemented');
}
