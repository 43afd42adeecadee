/**
 * The `simulated` protocol: a local provider for the default config, demos, tests and
 * benchmarks. Latency, pace and failures come from `CatalogProvider.options` only.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dropParameters } from '../common.ts';
import { abortError } from '../http.ts';
import type { AdapterCall, ProviderAdapter } from '../spec.ts';
import { readSimulatedOptions, type SimulatedOptions } from './api-types.ts';
import { drawSimulatedFailure } from './errors.ts';
import { planSimulatedResponse, seededRandom, type SimulatedPlan } from './request.ts';
import { convertSimulatedResponse } from './response.ts';
import { simulatedStreamParts } from './stream.ts';

/** Options of the simulated adapter itself (not of a provider). */
export interface SimulatedAdapterOptions {
  /** Random source for failure draws and jitter of providers without `options.seed`. */
  random?: () => number;
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

  /** Waits the time to first token, then either fails like an upstream would or returns the plan. */
  const begin = async (call: AdapterCall): Promise<{ plan: SimulatedPlan; options: SimulatedOptions; warnings: string[]; random: () => number }> => {
    const options = readSimulatedOptions(call.provider.options);
    const random = randomFor(call.provider.id, options);
    const { request, warnings } = dropParameters(call.request, call.attempt.drop_parameters);
    const plan = planSimulatedResponse(request, options);
    const latency = options.latency_ms + (options.latency_jitter_ms > 0 ? random() * options.latency_jitter_ms : 0);
    if (call.signal.aborted) throw abortError(call.signal);
    if (latency > 0) {
      try {
        await sleep(latency, undefined, { signal: call.signal });
      } catch (error) {
        throw abortError(call.signal, error);
      }
    }
    const failure = drawSimulatedFailure(options, plan.promptTokens, random);
    if (failure !== undefined) throw failure;
    return { plan, options, warnings, random };
  };

  return {
    protocol: 'simulated',

    async generate(call) {
      const { plan, options, warnings } = await begin(call);
      const units = plan.reasoningTokens.length + plan.textTokens.length + plan.toolCalls.length;
      if (options.tokens_per_second > 0 && units > 1) {
        try {
          await sleep(((units - 1) * 1000) / options.tokens_per_second, undefined, { signal: call.signal });
        } catch (error) {
          throw abortError(call.signal, error);
        }
      }
      return convertSimulatedResponse(plan, warnings);
    },

    async stream(call) {
      const { plan, options, warnings, random } = await begin(call);
      const failAfter = options.mid_stream_failure_rate > 0 && random() < options.mid_stream_failure_rate ? options.mid_stream_failure_after_tokens : undefined;
      return { parts: simulatedStreamParts(plan, { tokensPerSecond: options.tokens_per_second, failAfter, signal: call.signal }), warnings };
    },
  };
}
