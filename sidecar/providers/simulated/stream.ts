/**
 * Emits a simulated plan as stream parts at the configured pace. Timers only, batched so that a
 * thousand concurrent streams cost tens of thousands of wake-ups a second, not one per token.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError } from '../http.ts';
import type { StreamPart } from '../spec.ts';
import { simulatedMidStreamError } from './errors.ts';
import { mapSimulatedFinishReason } from './finish-reason.ts';
import type { SimulatedPlan } from './request.ts';

/** Shortest pause between batches, ms: below this, tokens due together go out together. */
const MIN_TICK_MS = 15;
/** Characters of tool-call arguments per fragment (one paced unit each). */
const ARGUMENT_FRAGMENT = 8;

/** The content parts of a plan, in emission order (finish excluded). */
export function simulatedContentParts(plan: SimulatedPlan): StreamPart[] {
  const parts: StreamPart[] = [];
  for (const token of plan.reasoningTokens) parts.push({ type: 'reasoning-delta', delta: token });
  for (const token of plan.textTokens) parts.push({ type: 'text-delta', delta: token });
  plan.toolCalls.forEach((call, index) => {
    parts.push({ type: 'tool-call-delta', index, id: call.id, name: call.function.name, arguments_delta: '' });
    const text = call.function.arguments;
    for (let offset = 0; offset < text.length; offset += ARGUMENT_FRAGMENT) {
      parts.push({ type: 'tool-call-delta', index, arguments_delta: text.slice(offset, offset + ARGUMENT_FRAGMENT) });
    }
  });
  return parts;
}

/**
 * Streams `plan` at `tokensPerSecond` (0 = all at once). `failAfter` cuts the stream with an error
 * part after that many parts. Abort ends it with an `aborted` error part.
 */
export async function* simulatedStreamParts(
  plan: SimulatedPlan,
  init: { tokensPerSecond: number; failAfter: number | undefined; signal: AbortSignal },
): AsyncGenerator<StreamPart> {
  const parts = simulatedContentParts(plan);
  const interval = init.tokensPerSecond > 0 ? 1000 / init.tokensPerSecond : 0;
  const started = performance.now();
  let emitted = 0;
  try {
    while (emitted < parts.length) {
      if (init.signal.aborted) throw init.signal.reason;
      // Everything due by now goes out in this batch; at least one part per wake-up.
      const due = interval === 0 ? parts.length : Math.max(emitted + 1, Math.floor((performance.now() - started) / interval) + 1);
      const batchEnd = Math.min(parts.length, due);
      while (emitted < batchEnd) {
        if (init.signal.aborted) throw init.signal.reason;
        if (init.failAfter !== undefined && emitted >= init.failAfter) {
          yield simulatedMidStreamError();
          return;
        }
        yield parts[emitted] as StreamPart;
        emitted += 1;
      }
      if (emitted < parts.length) {
        const nextDue = started + emitted * interval;
        await sleep(Math.max(MIN_TICK_MS, nextDue - performance.now()), undefined, { signal: init.signal });
      }
    }
    if (init.failAfter !== undefined && emitted >= init.failAfter) {
      yield simulatedMidStreamError();
      return;
    }
  } catch (error) {
    yield { type: 'error', error: abortError(init.signal, error) };
    return;
  }
  yield {
    type: 'finish',
    finish_reason: mapSimulatedFinishReason(plan.finishReason),
    native_finish_reason: plan.finishReason,
    usage: plan.usage,
    upstream_id: plan.id,
  };
}
