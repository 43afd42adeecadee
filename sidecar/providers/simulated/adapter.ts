/**
 * The `simulated` protocol: a local provider for the default config, demos, tests and
 * benchmarks. Latency, pace and failures come from `CatalogProvider.options` only.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dropParameters } from '../common.ts';
import { abortError } from '../http.ts';
import type { AdapterCall, ProviderAdapter, StreamPart, TextCompletionResult } from '../spec.ts';
import { readSimulatedOptions, type SimulatedOptions } from './api-types.ts';
import { drawSimulatedFailure } from './errors.ts';
import { mapSimulatedFinishReason } from './finish-reason.ts';
import {
  chatRequestForPrompt,
  embeddingInputs,
  estimateTextTokens,
  planSimulatedResponse,
  seededRandom,
  simulatedEmbedding,
} from './request.ts';
import { convertSimulatedResponse } from './response.ts';
import { simulatedStreamParts } from './stream.ts';

/** Options of the simulated adapter itself (not of a provider). */
export interface SimulatedAdapterOptions {
  /** Random source for failure draws and jitter of providers without `options.seed`. */
  random?: () => number;
}

type CallTarget = Pick<AdapterCall, 'provider' | 'signal'>;

async function pause(milliseconds: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw abortError(signal);
  if (milliseconds <= 0) return;
  try {
    await sleep(milliseconds, undefined, { signal });
  } catch (error) {
    throw abortError(signal, error);
  }
}

/** Creates the adapter. Providers with `options.seed` get their own reproducible draw sequence. */
export function createSimulatedAdapter(adapterOptions: SimulatedAdapterOptions = {}): ProviderAdapter {
  const fallbackRandom = adapterOptions.random ?? Math.random;
  const seeded = new Map<string, () => number>();
  const randomFor = (providerId: string, options: SimulatedOptions): (() => number) => {
    if (options.seed === undefined) return fallbackRandom;
    const key = `${providerId}:${options.seed}`;
    let random = seeded.get(key);
    if (random === undefined) {
      random = seededRandom(options.seed);
      seeded.set(key, random);
    }
    return random;
  };

  /** Waits the time to first token, then fails the way an upstream would, or returns. */
  const arrive = async (call: CallTarget, promptTokens: number): Promise<{ options: SimulatedOptions; random: () => number }> => {
    const options = readSimulatedOptions(call.provider.options);
    const random = randomFor(call.provider.id, options);
    await pause(options.latency_ms + (options.latency_jitter_ms > 0 ? random() * options.latency_jitter_ms : 0), call.signal);
    const failure = drawSimulatedFailure(options, promptTokens, random);
    if (failure !== undefined) throw failure;
    return { options, random };
  };

  /** Time the rest of a paced answer takes after its first token. */
  const pacing = (options: SimulatedOptions, units: number): number => (options.tokens_per_second > 0 && units > 1 ? ((units - 1) * 1000) / options.tokens_per_second : 0);

  return {
    protocol: 'simulated',

    async generate(call) {
      const { request, warnings } = dropParameters(call.request, call.attempt.drop_parameters);
      const plan = planSimulatedResponse(request, readSimulatedOptions(call.provider.options));
      const { options } = await arrive(call, plan.promptTokens);
      await pause(pacing(options, plan.reasoningTokens.length + plan.textTokens.length + plan.toolCalls.length), call.signal);
      return convertSimulatedResponse(plan, warnings);
    },

    async stream(call) {
      const { request, warnings } = dropParameters(call.request, call.attempt.drop_parameters);
      const plan = planSimulatedResponse(request, readSimulatedOptions(call.provider.options));
      const { options, random } = await arrive(call, plan.promptTokens);
      const failAfter = options.mid_stream_failure_rate > 0 && random() < options.mid_stream_failure_rate ? options.mid_stream_failure_after_tokens : undefined;
      return { parts: simulatedStreamParts(plan, { tokensPerSecond: options.tokens_per_second, failAfter, signal: call.signal }), warnings };
    },

    async embed(call) {
      const inputs = embeddingInputs(call.request.input);
      const promptTokens = inputs.reduce((sum, text) => sum + estimateTextTokens(text), 0);
      const { options } = await arrive(call, promptTokens);
      const dimensions = call.request.dimensions ?? options.embedding_dimensions;
      return {
        data: inputs.map((text, index) => {
          const vector = simulatedEmbedding(text, dimensions);
          return { index, embedding: call.request.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector };
        }),
        usage: { prompt_tokens: promptTokens },
        warnings: [],
      };
    },

    async complete(call) {
      const prompts = typeof call.request.prompt === 'string' ? [call.request.prompt] : call.request.prompt;
      const options = readSimulatedOptions(call.provider.options);
      const plans = prompts.map((prompt) => planSimulatedResponse(chatRequestForPrompt(prompt, call.request), options));
      const promptTokens = plans.reduce((sum, plan) => sum + plan.promptTokens, 0);
      await arrive(call, promptTokens);
      await pause(pacing(options, Math.max(0, ...plans.map((plan) => plan.textTokens.length))), call.signal);
      const choices: TextCompletionResult['choices'] = plans.map((plan, index) => ({
        index,
        text: plan.textTokens.join(''),
        finish_reason: mapSimulatedFinishReason(plan.finishReason),
        native_finish_reason: plan.finishReason,
      }));
      return {
        choices,
        usage: { prompt_tokens: promptTokens, completion_tokens: plans.reduce((sum, plan) => sum + plan.textTokens.length, 0) },
        warnings: [],
      };
    },

    async completeStream(call) {
      const prompt = typeof call.request.prompt === 'string' ? call.request.prompt : (call.request.prompt[0] ?? '');
      const plan = planSimulatedResponse(chatRequestForPrompt(prompt, call.request), readSimulatedOptions(call.provider.options));
      const { options } = await arrive(call, plan.promptTokens);
      const parts: AsyncIterable<StreamPart> = simulatedStreamParts(plan, { tokensPerSecond: options.tokens_per_second, failAfter: undefined, signal: call.signal });
      return { parts, warnings: Array.isArray(call.request.prompt) && call.request.prompt.length > 1 ? ['streaming returns the first prompt\'s completion only'] : [] };
    },
  };
}
