/**
 * `POST /api/v1/embeddings`: the OpenAI / OpenRouter embeddings body routed by the same engine as
 * chat, against the embeddings models of the catalog, served by the first planned endpoint whose
 * adapter implements `embed` (others are skipped in the attempt log), with fallback as chat has.
 */
import type { ServerResponse } from 'node:http';
import { generatePlanWith } from '../../execute/execute-plan.ts';
import type { EmbeddingResult } from '../../providers/spec.ts';
import { embeddingRequest, estimateInputTokens, parseEmbeddingsBody } from '../embeddings-and-completions-body.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { executorDependencies, fail, inferenceHandler, replyServed, type Exchange } from './chat-completions.ts';

/** The OpenAI embedding list, plus OpenRouter's `provider` and `id`. */
export function embeddingsBody(exchange: Exchange, served: { model: string; provider_name: string }, result: EmbeddingResult, cost: string | undefined) {
  const promptTokens = result.usage.prompt_tokens ?? 0;
  return {
    id: exchange.id,
    object: 'list' as const,
    data: result.data.map((entry) => ({ object: 'embedding' as const, index: entry.index, embedding: entry.embedding })),
    model: served.model,
    provider: served.provider_name,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens, ...(cost === undefined ? {} : { cost: Number(cost) }) },
  };
}

async function serveEmbeddings(gateway: GatewayContext, exchange: Exchange, response: ServerResponse, body: Record<string, unknown>, input: Parameters<typeof generatePlanWith>[0]): Promise<void> {
  const request = embeddingRequest(body);
  const outcome = await generatePlanWith<EmbeddingResult>(input, executorDependencies(gateway), {
    name: 'embeddings',
    supports: (adapter) => adapter.embed !== undefined,
    call: (adapter, target) => {
      if (!adapter.embed) throw new Error('unreachable: supports() checked embed');
      return adapter.embed({ ...target, request });
    },
    // Embeddings generate no tokens (0 is the true count, not a missing one), and a returned vector is
    // a complete answer: 'stop' keeps the zero-completion insurance, meant for empty generations, off.
    summary: (result) => ({ usage: { ...result.usage, completion_tokens: 0 }, finishReason: 'stop' }),
  });
  if (!outcome.ok) {
    fail(gateway, exchange, response, outcome.error, outcome.attempts, outcome.cancelled, false);
    return;
  }
  const { attempt, result, attempts } = outcome;
  const answer = embeddingsBody(exchange, attempt, result, attempts[attempts.length - 1]?.cost);
  replyServed(gateway, exchange, response, exchange.wantsAttemptLog ? { ...answer, switchyard: { attempts } } : answer, {
    attempt,
    attempts,
    finishReason: null,
    nativeFinishReason: null,
    usage: result.usage,
    upstreamId: result.upstream_id ?? null,
  });
}

/** The handler; authentication already established the identity, and the body was read. */
export function embeddingsHandler(gateway: GatewayContext) {
  return inferenceHandler(
    gateway,
    {
      route: '/api/v1/embeddings',
      apiType: 'embeddings',
      kind: 'embeddings',
      parse: parseEmbeddingsBody,
      // requestFacts reads chat bodies: the prompt estimate and the modality come from `input` here.
      adjustFacts: (facts, body) => ({ ...facts, prompt_tokens: estimateInputTokens(body.input), input_modalities: ['text'], stream: false }),
    },
    (routing, exchange, response, body, input) => serveEmbeddings(routing, exchange, response, body, input),
  );
}
