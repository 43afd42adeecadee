/**
 * The legacy `POST /api/v1/completions` (a `prompt` instead of `messages`): routed by the same engine
 * as chat, against the text models of the catalog, served by the first planned endpoint whose adapter
 * implements `complete` (or `completeStream` when streaming). OpenAI `text_completion` shapes.
 */
import type { ServerResponse } from 'node:http';
import { generatePlanWith, openPlanStreamWith, type PlanInput } from '../../execute/execute-plan.ts';
import type { TextCompletionRequest, TextCompletionResult } from '../../providers/spec.ts';
import { estimateInputTokens, parseCompletionsBody, textCompletionRequest } from '../embeddings-and-completions-body.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { TextChunkWriter, textCompletionBody, wireUsage } from '../response-shape.ts';
import { executorDependencies, fail, inferenceHandler, replyServed, servedBy, serveStream, type Exchange, type StreamShape } from './chat-completions.ts';

function textStream(request: TextCompletionRequest): StreamShape {
  return {
    open: (input, dependencies) =>
      openPlanStreamWith(input, dependencies, {
        name: 'text_completion',
        supports: (adapter) => adapter.completeStream !== undefined,
        open: (adapter, target) => {
          if (!adapter.completeStream) throw new Error('unreachable: supports() checked completeStream');
          return adapter.completeStream({ ...target, request });
        },
      }),
    chunks: (served) => new TextChunkWriter(served),
  };
}

async function serveCompletion(gateway: GatewayContext, exchange: Exchange, response: ServerResponse, request: TextCompletionRequest, input: PlanInput): Promise<void> {
  const outcome = await generatePlanWith<TextCompletionResult>(input, executorDependencies(gateway), {
    name: 'text_completion',
    supports: (adapter) => adapter.complete !== undefined,
    call: (adapter, target) => {
      if (!adapter.complete) throw new Error('unreachable: supports() checked complete');
      return adapter.complete({ ...target, request });
    },
    summary: (result) => ({ usage: result.usage, finishReason: result.choices[0]?.finish_reason ?? null }),
  });
  if (!outcome.ok) {
    fail(gateway, exchange, response, outcome.error, outcome.attempts, outcome.cancelled, false);
    return;
  }
  const { attempt, result, attempts } = outcome;
  const finishReason = result.choices[0]?.finish_reason ?? null;
  const usage = wireUsage(result.usage, attempts[attempts.length - 1]?.cost, outcome.costDetails);
  const body = textCompletionBody(servedBy(exchange, attempt), result, usage, exchange.wantsAttemptLog ? attempts : undefined);
  replyServed(gateway, exchange, response, body, {
    attempt,
    attempts,
    finishReason,
    nativeFinishReason: result.choices[0]?.native_finish_reason ?? null,
    usage: result.usage,
    upstreamId: result.upstream_id ?? null,
  });
}

/** The handler; authentication already established the identity, and the body was read. */
export function completionsHandler(gateway: GatewayContext) {
  return inferenceHandler(
    gateway,
    {
      route: '/api/v1/completions',
      apiType: 'completions',
      kind: 'text',
      parse: parseCompletionsBody,
      // requestFacts estimates a string prompt only; an array of prompts counts every entry.
      adjustFacts: (facts, body) => ({ ...facts, prompt_tokens: estimateInputTokens(body.prompt), input_modalities: ['text'] }),
    },
    async (routing, exchange, response, body, input) => {
      const request = textCompletionRequest(body);
      if (request.stream === true) await serveStream(routing, exchange, response, input, textStream(request));
      else await serveCompletion(routing, exchange, response, request, input);
    },
  );
}
