/**
 * Plan execution: attempts in order, retries with backoff, deadlines, and fallback only before the
 * first byte reaches the client.
 *
 * `generatePlan` serves non-streaming requests; `openPlanStream` walks the plan until one attempt
 * produces its first stream part and hands that stream to the caller. Past that point nothing falls
 * back: the caller turns a later failure into an error chunk.
 */
import { SpanKind, SpanStatusCode, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { CompiledCatalog, Plan, PlanAttempt } from '../../engine/index.ts';
import type { CostDetails } from '../accounting/cost.ts';
import type { Clock } from '../clock.ts';
import { GatewayError } from '../http/errors.ts';
import { withoutParameters } from '../http/chat-body.ts';
import type { Logger } from '../logger.ts';
import {
  ProviderCallError,
  type AdapterCall,
  type AdapterRegistry,
  type ChatRequest,
  type GenerateResult,
  type ProviderAdapter,
  type StreamPart,
  type StreamResult,
  type Usage,
} from '../providers/spec.ts';
import type { AttemptRecord } from '../store/generation-record.ts';
import { AttemptAbort } from './attempt-signal.ts';
import { ATTRIBUTES } from '../telemetry/attributes.ts';

/** Provider id -> secret, or undefined for keyless providers / missing keys. Never logged. */
export type CredentialResolver = (providerId: string) => string | undefined;

/**
 * USD cost of a served attempt, as an exact decimal string, with its breakdown for
 * `usage.cost_details` (accounting's `computeCost` by default). Computed once per served attempt:
 * the attempt record keeps `cost`, the response shows both.
 */
export type CostFunction = (usage: Usage, pricing: PlanAttempt['pricing'], finishReason: string | null) => { cost: string; cost_details?: CostDetails };

/** Longest wait the executor honours from a provider's `Retry-After`, ms. */
export const RETRY_AFTER_CAP_MS = 10_000;

export interface ExecutorDependencies {
  adapters: AdapterRegistry;
  credentials: CredentialResolver;
  clock: Clock;
  tracer: Tracer;
  logger: Logger;
  cost: CostFunction;
}

/**
 * What the executor needs of the client's side of a request: whether it went away, and a way to
 * hear it. An AbortSignal satisfies it; the routes pass a `ClientGone`, which costs far less per
 * request (no EventTarget).
 */
export interface ClientSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A one-shot abort flag with listeners: the client-gone signal of one request. */
export class ClientGone implements ClientSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: (() => void)[] = [];

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener();
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    this.#listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.#listeners.indexOf(listener);
    if (index >= 0) this.#listeners.splice(index, 1);
  }
}

export interface ExecutionInput {
  plan: Plan;
  catalog: CompiledCatalog;
  /** Gateway-only fields already removed. */
  request: ChatRequest;
  /** Aborts when the client goes away. */
  clientSignal: ClientSignal;
  /** Parent for attempt spans. */
  parentContext: Context;
  /** Monotonic ms when the request arrived; the total deadline counts from here. */
  startedAt: number;
  /** Where attempt records go as they happen (so a stream's keep-alive can report them); default a new array. */
  log?: AttemptLog;
}

/** What plan walking needs, whatever the operation (chat, embeddings, legacy completions). */
export type PlanInput = Omit<ExecutionInput, 'request'>;

/** The adapter call minus its request: where to send it and how to stop it. */
export type CallTarget = Omit<AdapterCall, 'request'>;

// The two builders below spell their fields out instead of spreading (`{ ...input, request }`): on
// Node 20 an object made by spread on every request kept about a tenth of what was allocated near it
// alive through the next scavenge (`npm run bench:gc-patterns`, the "object spread" row), which made
// scavenges slower and promoted request objects to the old generation.

/** A copy of `input` with `log` (or none). */
export function withLog(input: PlanInput, log: AttemptLog | undefined): PlanInput {
  const copy: PlanInput = { plan: input.plan, catalog: input.catalog, clientSignal: input.clientSignal, parentContext: input.parentContext, startedAt: input.startedAt };
  if (log !== undefined) copy.log = log;
  return copy;
}

/** `input` with the request set. */
export function withRequest(input: PlanInput, request: ChatRequest): ExecutionInput {
  const execution = withLog(input, input.log) as ExecutionInput;
  execution.request = request;
  return execution;
}

/** The adapter call: `target` and the request. */
export function adapterCall(target: CallTarget, request: ChatRequest): AdapterCall {
  return { request, attempt: target.attempt, provider: target.provider, credential: target.credential, signal: target.signal };
}

/**
 * One adapter operation the executor can walk a plan with. `supports` false skips the attempt
 * (recorded with a reason), so an adapter without `embed` never receives an embeddings call.
 */
export interface PlanOperation {
  /** Span operation name (`chat`, `embeddings`, `text_completion`). */
  name: string;
  supports(adapter: ProviderAdapter): boolean;
}

/** A non-streaming operation: one call, and what it reports for the attempt record. */
export interface GenerateOperation<R> extends PlanOperation {
  call(adapter: ProviderAdapter, target: CallTarget): Promise<R>;
  summary(result: R): { usage: Usage; finishReason: string | null };
}

/** A streaming operation: opens the upstream stream. */
export interface StreamOperation extends PlanOperation {
  open(adapter: ProviderAdapter, target: CallTarget): Promise<StreamResult>;
}

/** Every attempt so far, in order; also what the attempt log and the generation record show. */
export type AttemptLog = AttemptRecord[];

export type ExecutionFailure = { ok: false; error: GatewayError; cancelled: boolean; attempts: AttemptLog };

export type GenerateOutcome<R = GenerateResult> = { ok: true; attempt: PlanAttempt; result: R; attempts: AttemptLog; costDetails: CostDetails | undefined } | ExecutionFailure;

/** A stream that has produced its first part. */
export interface OpenedStream {
  attempt: PlanAttempt;
  /** Starts with the first part; a thrown or timed-out failure becomes an `error` part. */
  parts: AsyncIterable<StreamPart>;
  warnings: string[];
  /** Monotonic ms of the first part. */
  firstPartAt: number;
  /** Close the attempt: record, span, timers; the served attempt's cost breakdown. Call once, when the stream is over. */
  finish(outcome: { usage: Usage | undefined; finishReason: string | null; error: ProviderCallError | undefined; cancelled: boolean }): { record: AttemptRecord; costDetails: CostDetails | undefined };
}

export type StreamOutcome = { ok: true; stream: OpenedStream; attempts: AttemptLog } | ExecutionFailure;

/** Why a try's controller was aborted by us rather than by the client. */
type Deadline = 'first_byte' | 'attempt' | 'total';

/** One try of one attempt: its controller, deadline timer and span. */
class AttemptTry {
  /** Not Node's AbortController: see attempt-signal.ts. */
  readonly controller = new AttemptAbort();
  deadline: Deadline | undefined;
  readonly startedAt: number;
  readonly span: Span;
  #timer: NodeJS.Timeout | undefined;
  /** Monotonic ms of the attempt deadline, and of the first-byte deadline while no byte arrived. */
  readonly #attemptDue: number;
  readonly #attemptDeadline: Deadline;
  #firstByteDue: number | undefined;
  #firstByteDeadline: Deadline = 'first_byte';
  readonly #clock: Clock;
  readonly #clientSignal: ClientSignal;
  readonly #onClientAbort: () => void;
  /** Rejects what `untilAborted` is waiting on; set while it waits. */
  #rejectWaiter: ((reason: unknown) => void) | undefined;

  constructor(
    readonly attempt: PlanAttempt,
    readonly index: number,
    readonly retry: number,
    input: PlanInput,
    dependencies: ExecutorDependencies,
    fallbackReason: string | undefined,
    streaming: boolean,
    operation: string,
  ) {
    this.#clock = dependencies.clock;
    this.startedAt = dependencies.clock.monotonic();
    const totalLeft = input.startedAt + input.plan.limits.total_ms - this.startedAt;
    this.#clientSignal = input.clientSignal;
    // A bound method, not an arrow function: with the arrow, the gateway's paced runs
    // (`--trace-gc-nvp`) showed this try and what it reaches outliving scavenges on Node 20.
    this.#onClientAbort = this.#clientAborted.bind(this);
    input.clientSignal.addEventListener('abort', this.#onClientAbort, { once: true });
    const attemptLimit = Math.min(attempt.timeouts.attempt_ms, totalLeft);
    this.#attemptDue = this.startedAt + Math.max(0, attemptLimit);
    this.#attemptDeadline = attemptLimit === totalLeft ? 'total' : 'attempt';
    // A non-streamed answer's first byte is its last; only the attempt deadline applies to it.
    if (streaming) {
      const firstByteLimit = Math.min(attempt.timeouts.first_byte_ms, totalLeft);
      this.#firstByteDue = this.startedAt + Math.max(0, firstByteLimit);
      this.#firstByteDeadline = firstByteLimit === totalLeft ? 'total' : 'first_byte';
    }
    this.#arm();
    this.span = dependencies.tracer.startSpan(`${operation} ${attempt.model}`, { kind: SpanKind.CLIENT }, input.parentContext);
    if (this.span.isRecording()) {
      this.span.setAttributes({
        [ATTRIBUTES.operationName]: operation,
        [ATTRIBUTES.providerName]: attempt.provider,
        [ATTRIBUTES.requestModel]: attempt.upstream_model,
        [ATTRIBUTES.requestStream]: streaming,
        [ATTRIBUTES.endpoint]: attempt.endpoint,
        [ATTRIBUTES.attempt]: index + 1,
        [ATTRIBUTES.retry]: retry,
      });
      if (fallbackReason) this.span.setAttribute(ATTRIBUTES.fallbackReason, fallbackReason);
    }
  }

  /** One timer for the earliest pending deadline (first byte, then attempt). */
  #arm(): void {
    const firstByte = this.#firstByteDue !== undefined && this.#firstByteDue < this.#attemptDue;
    const due = firstByte ? (this.#firstByteDue as number) : this.#attemptDue;
    const deadline = firstByte ? this.#firstByteDeadline : this.#attemptDeadline;
    this.#timer = setTimeout(() => this.#expire(deadline), Math.max(0, due - this.#clock.monotonic()));
  }

  #expire(deadline: Deadline): void {
    this.#timer = undefined;
    this.deadline ??= deadline;
    this.#abort(new Error(`deadline: ${deadline}`));
  }

  #clientAborted(): void {
    this.#abort(this.#clientSignal.reason);
  }

  #abort(reason: unknown): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(reason);
    const reject = this.#rejectWaiter;
    this.#rejectWaiter = undefined;
    reject?.(reason);
  }

  /**
   * Settles with the promise, or rejects as soon as this try is aborted (deadline, client gone),
   * so a stuck adapter cannot hold a deadline hostage.
   */
  untilAborted<T>(promise: Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    if (signal.aborted) {
      promise.catch(() => undefined);
      return Promise.reject(signal.reason as Error);
    }
    return new Promise<T>((resolve, reject) => {
      this.#rejectWaiter = reject;
      promise.then(
        (value) => {
          this.#rejectWaiter = undefined;
          resolve(value);
        },
        (error: unknown) => {
          this.#rejectWaiter = undefined;
          reject(error);
        },
      );
    });
  }

  firstByteArrived(): void {
    if (this.#firstByteDue === undefined) return;
    this.#firstByteDue = undefined;
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#arm();
  }

  release(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#clientSignal.removeEventListener('abort', this.#onClientAbort);
  }

  /** Normalise whatever the adapter threw, knowing which of our deadlines fired. */
  classify(error: unknown, logger: Logger): ProviderCallError {
    if (this.deadline) {
      return new ProviderCallError({
        message: `No ${this.deadline === 'first_byte' ? 'first byte' : 'complete answer'} within the ${this.deadline} deadline.`,
        kind: 'timeout',
        errorClass: 'retryable',
        cause: error,
      });
    }
    if (this.#clientSignal.aborted) return new ProviderCallError({ message: 'Client closed the connection.', kind: 'aborted', errorClass: 'final', cause: error });
    if (error instanceof ProviderCallError) return error;
    logger.error({ err: error, provider: this.attempt.provider }, 'adapter threw something other than ProviderCallError');
    return new ProviderCallError({ message: 'The provider adapter failed.', kind: 'malformed', errorClass: 'fallback', cause: error });
  }
}

function sleep(ms: number, signal: ClientSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** `ok`, or the error kind for transport failures and the class for HTTP ones. */
function outcomeOf(error: ProviderCallError): string {
  return error.kind === 'http' ? error.errorClass : error.kind;
}

function contextLengthOf(catalog: CompiledCatalog, endpointId: string): number {
  for (const endpoint of catalog.endpoints) if (endpoint.id === endpointId) return endpoint.context_length;
  return 0;
}

/** The error the client gets when no attempt served. */
export function failureFor(error: ProviderCallError | undefined, attempt: PlanAttempt | undefined): GatewayError {
  if (!error || !attempt) return new GatewayError('provider_unavailable', 'No provider could be called for this request.');
  const metadata: Record<string, unknown> = {
    provider_name: attempt.provider_name,
    provider: attempt.provider,
    provider_status: error.status ?? null,
    raw: error.raw ?? null,
  };
  if (error.kind === 'timeout') return new GatewayError('timeout', 'The provider did not answer in time.', metadata);
  if (error.status === 429) {
    const seconds = error.retryAfterMs === undefined ? 1 : Math.max(1, Math.ceil(error.retryAfterMs / 1000));
    return new GatewayError('rate_limit_exceeded', 'The provider is rate limiting requests.', metadata, seconds);
  }
  if (error.errorClass === 'context_length') return new GatewayError('context_length_exceeded', 'The prompt is longer than the context window.', metadata);
  if (error.errorClass === 'content_policy') return new GatewayError('content_policy_violation', 'The provider refused the content.', metadata);
  if (error.errorClass === 'final' && error.status !== undefined && error.status >= 400 && error.status < 500) {
    return new GatewayError('invalid_request', `The provider rejected the request: ${error.message}`, metadata);
  }
  return new GatewayError('provider_error', 'Provider returned error', metadata);
}

/** Walks the plan; `serve` performs one try and reports success or a classified error. */
async function walkPlan<T>(
  input: PlanInput,
  dependencies: ExecutorDependencies,
  streaming: boolean,
  operation: PlanOperation,
  serve: (attemptTry: AttemptTry, log: AttemptLog) => Promise<{ ok: true; value: T } | { ok: false; error: ProviderCallError }>,
): Promise<{ ok: true; value: T; attempts: AttemptLog } | ExecutionFailure> {
  const { plan } = input;
  const attempts: AttemptLog = input.log ?? [];
  let lastError: ProviderCallError | undefined;
  let lastAttempt: PlanAttempt | undefined;
  let fallbackReason: string | undefined;
  let minimumContext = 0;

  for (let index = 0; index < plan.attempts.length; index++) {
    const attempt = plan.attempts[index];
    if (!attempt) continue;
    if (minimumContext > 0 && contextLengthOf(input.catalog, attempt.endpoint) <= minimumContext) continue;
    const adapter = dependencies.adapters[attempt.protocol];
    if (!adapter) {
      attempts.push(skipped(attempt, index, `no adapter for protocol ${attempt.protocol}`));
      continue;
    }
    if (!operation.supports(adapter)) {
      attempts.push(skipped(attempt, index, `the ${attempt.protocol} adapter does not implement ${operation.name}`));
      continue;
    }
    for (let retry = 0; ; retry++) {
      if (input.clientSignal.aborted) return { ok: false, error: failureFor(lastError, lastAttempt), cancelled: true, attempts };
      if (dependencies.clock.monotonic() >= input.startedAt + plan.limits.total_ms) {
        const timeout = new ProviderCallError({ message: 'Total deadline exceeded.', kind: 'timeout', errorClass: 'retryable' });
        return { ok: false, error: failureFor(timeout, lastAttempt ?? attempt), cancelled: false, attempts };
      }
      const attemptTry = new AttemptTry(attempt, index, retry, input, dependencies, fallbackReason, streaming, operation.name);
      const served = await serve(attemptTry, attempts);
      if (served.ok) return { ok: true, value: served.value, attempts };
      const error = served.error;
      lastError = error;
      lastAttempt = attempt;
      if (error.kind === 'aborted') return { ok: false, error: failureFor(error, attempt), cancelled: true, attempts };
      if (error.errorClass === 'final') return { ok: false, error: failureFor(error, attempt), cancelled: false, attempts };
      fallbackReason = `${attempt.endpoint}: ${outcomeOf(error)}${error.status === undefined ? '' : ` ${error.status}`}`;
      const laterAttemptExists = index < plan.attempts.length - 1;
      // A rate-limited endpoint is left at once when another can serve; waiting only helps when none can.
      const retryHere = error.errorClass === 'retryable' && retry < attempt.retries.max && !(error.status === 429 && laterAttemptExists);
      if (!retryHere) {
        if (error.errorClass === 'context_length') minimumContext = Math.max(minimumContext, contextLengthOf(input.catalog, attempt.endpoint));
        break;
      }
      const backoff = Math.min(attempt.retries.backoff_ms * attempt.retries.multiplier ** retry, attempt.retries.max_backoff_ms);
      const delay = error.retryAfterMs === undefined ? backoff : Math.min(Math.max(error.retryAfterMs, backoff), RETRY_AFTER_CAP_MS);
      await sleep(delay, input.clientSignal);
    }
  }
  if (!lastError) {
    // Nothing was called: say why each planned endpoint was passed over (no adapter, no `embed`...).
    const reasons = attempts.filter((entry) => entry.outcome === 'skipped').map((entry) => `${entry.endpoint}: ${entry.error ?? 'skipped'}`);
    if (reasons.length > 0) {
      return { ok: false, error: new GatewayError('provider_unavailable', `No planned endpoint could be called (${reasons.join('; ')}).`), cancelled: false, attempts };
    }
  }
  return { ok: false, error: failureFor(lastError, lastAttempt), cancelled: false, attempts };
}

function skipped(attempt: PlanAttempt, index: number, reason: string): AttemptRecord {
  return {
    attempt: index + 1,
    retry: 0,
    endpoint: attempt.endpoint,
    provider: attempt.provider,
    provider_name: attempt.provider_name,
    model: attempt.model,
    status: null,
    outcome: 'skipped',
    error: reason,
    latency_ms: 0,
    cost: '0',
  };
}

function record(attemptTry: AttemptTry, now: number, fields: Partial<AttemptRecord> & Pick<AttemptRecord, 'status' | 'outcome' | 'cost'>): AttemptRecord {
  const { attempt } = attemptTry;
  return {
    attempt: attemptTry.index + 1,
    retry: attemptTry.retry,
    endpoint: attempt.endpoint,
    provider: attempt.provider,
    provider_name: attempt.provider_name,
    model: attempt.model,
    latency_ms: Math.round(now - attemptTry.startedAt),
    ...fields,
  };
}

/** An attempt that threw before serving: classified, logged at no cost, its span ended. */
function failAttempt(attemptTry: AttemptTry, thrown: unknown, dependencies: ExecutorDependencies, log: AttemptLog): ProviderCallError {
  attemptTry.release();
  const error = attemptTry.classify(thrown, dependencies.logger);
  const now = dependencies.clock.monotonic();
  log.push(record(attemptTry, now, { status: error.status ?? null, outcome: outcomeOf(error), error: error.message, cost: '0' }));
  endFailedSpan(attemptTry.span, error, now - attemptTry.startedAt);
  return error;
}

function endFailedSpan(span: Span, error: ProviderCallError, latencyMs: number): void {
  span.setAttribute(ATTRIBUTES.errorType, error.status === undefined ? error.kind : String(error.status));
  span.setAttribute(ATTRIBUTES.outcome, outcomeOf(error));
  span.setAttribute(ATTRIBUTES.latencyMs, latencyMs);
  if (error.status !== undefined) span.setAttribute(ATTRIBUTES.httpStatus, error.status);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.kind });
  span.end();
}

function endServedSpan(span: Span, attempt: PlanAttempt, usage: Usage | undefined, finishReason: string | undefined, latencyMs: number): void {
  span.setAttribute(ATTRIBUTES.responseModel, attempt.upstream_model);
  if (usage?.prompt_tokens !== undefined) span.setAttribute(ATTRIBUTES.inputTokens, usage.prompt_tokens);
  if (usage?.completion_tokens !== undefined) span.setAttribute(ATTRIBUTES.outputTokens, usage.completion_tokens);
  if (finishReason) span.setAttribute(ATTRIBUTES.finishReasons, [finishReason]);
  span.setAttribute(ATTRIBUTES.outcome, 'ok');
  span.setAttribute(ATTRIBUTES.latencyMs, latencyMs);
  span.end();
}

/** The cost and its breakdown, or "0" and none with a log line when the prices cannot be read (never fails a served request). */
function costOf(dependencies: ExecutorDependencies, usage: Usage, attempt: PlanAttempt, finishReason: string | null): { cost: string; cost_details?: CostDetails } {
  try {
    return dependencies.cost(usage, attempt.pricing, finishReason);
  } catch (error) {
    dependencies.logger.error({ err: error, endpoint: attempt.endpoint }, 'could not compute the cost');
    return { cost: '0' };
  }
}

function credentialFor(attempt: PlanAttempt, dependencies: ExecutorDependencies): string | undefined {
  return dependencies.credentials(attempt.provider);
}

function providerOf(input: PlanInput, attempt: PlanAttempt) {
  const provider = input.catalog.providers.get(attempt.provider);
  if (!provider) throw new Error(`plan names provider ${attempt.provider}, absent from the catalog`);
  return provider;
}

/** Non-streaming chat execution. */
export function generatePlan(input: ExecutionInput, dependencies: ExecutorDependencies): Promise<GenerateOutcome> {
  return generatePlanWith(input, dependencies, {
    name: 'chat',
    supports: () => true,
    call: (adapter, target) => adapter.generate(adapterCall(target, withoutParameters(input.request, target.attempt.drop_parameters))),
    summary: (result) => ({ usage: result.usage, finishReason: result.finish_reason }),
  });
}

/** Non-streaming execution of any operation: the first attempt that answers serves. */
export async function generatePlanWith<R>(input: PlanInput, dependencies: ExecutorDependencies, operation: GenerateOperation<R>): Promise<GenerateOutcome<R>> {
  const walked = await walkPlan<{ attempt: PlanAttempt; result: R; costDetails: CostDetails | undefined }>(input, dependencies, false, operation, async (attemptTry, log) => {
    const { attempt } = attemptTry;
    const adapter = dependencies.adapters[attempt.protocol];
    try {
      if (!adapter) throw new Error('unreachable: adapter checked by walkPlan');
      const result = await attemptTry.untilAborted(
        operation.call(adapter, {
          attempt,
          provider: providerOf(input, attempt),
          credential: credentialFor(attempt, dependencies),
          signal: attemptTry.controller.signal.asAbortSignal(),
        }),
      );
      attemptTry.release();
      const now = dependencies.clock.monotonic();
      const { usage, finishReason } = operation.summary(result);
      const priced = costOf(dependencies, usage, attempt, finishReason);
      log.push(record(attemptTry, now, { status: 200, outcome: 'ok', usage, cost: priced.cost }));
      endServedSpan(attemptTry.span, attempt, usage, finishReason ?? undefined, now - attemptTry.startedAt);
      return { ok: true, value: { attempt, result, costDetails: priced.cost_details } };
    } catch (thrown) {
      return { ok: false, error: failAttempt(attemptTry, thrown, dependencies, log) };
    }
  });
  if (!walked.ok) return walked;
  return { ok: true, attempt: walked.value.attempt, result: walked.value.result, attempts: walked.attempts, costDetails: walked.value.costDetails };
}

/** Streaming chat execution up to the first part; the caller drains `stream.parts` and calls `finish`. */
export function openPlanStream(input: ExecutionInput, dependencies: ExecutorDependencies): Promise<StreamOutcome> {
  return openPlanStreamWith(input, dependencies, {
    name: 'chat',
    supports: () => true,
    open: (adapter, target) => adapter.stream(adapterCall(target, withoutParameters(input.request, target.attempt.drop_parameters))),
  });
}

/** Streaming execution of any streaming operation, up to the first part (see `openPlanStream`). */
export async function openPlanStreamWith(input: PlanInput, dependencies: ExecutorDependencies, operation: StreamOperation): Promise<StreamOutcome> {
  const walked = await walkPlan<OpenedStream>(input, dependencies, true, operation, async (attemptTry, log) => {
    const { attempt } = attemptTry;
    const adapter = dependencies.adapters[attempt.protocol];
    const signal = attemptTry.controller.signal.asAbortSignal();
    try {
      if (!adapter) throw new Error('unreachable: adapter checked by walkPlan');
      const result = await attemptTry.untilAborted(
        operation.open(adapter, {
          attempt,
          provider: providerOf(input, attempt),
          credential: credentialFor(attempt, dependencies),
          signal,
        }),
      );
      const iterator = result.parts[Symbol.asyncIterator]();
      const first = await attemptTry.untilAborted(iterator.next());
      if (first.done) throw new ProviderCallError({ message: 'The provider closed the stream without any content.', kind: 'malformed', errorClass: 'retryable' });
      if (first.value.type === 'error') throw first.value.error;
      attemptTry.firstByteArrived();
      const firstPartAt = dependencies.clock.monotonic();
      const firstPart = first.value;
      let finished = false;
      const stream: OpenedStream = {
        attempt,
        warnings: result.warnings,
        firstPartAt,
        parts: continueStream(firstPart, iterator, attemptTry, dependencies.logger),
        finish(outcome) {
          if (finished) throw new Error('OpenedStream.finish called twice');
          finished = true;
          attemptTry.release();
          const now = dependencies.clock.monotonic();
          const firstByteMs = Math.round(firstPartAt - attemptTry.startedAt);
          if (outcome.error) {
            const failed = record(attemptTry, now, { status: 200, outcome: outcomeOf(outcome.error), error: outcome.error.message, first_byte_ms: firstByteMs, ...(outcome.usage ? { usage: outcome.usage } : {}), cost: '0' });
            log.push(failed);
            endFailedSpan(attemptTry.span, outcome.error, now - attemptTry.startedAt);
            return { record: failed, costDetails: undefined };
          }
          const usage = outcome.usage ?? {};
          // A cancelled stream is billed for what the provider reported (it may have charged for the
          // prompt); a stream that reported no usage costs nothing, its breakdown says what is unknown.
          const priced = costOf(dependencies, usage, attempt, outcome.finishReason);
          const served = record(attemptTry, now, {
            status: 200,
            outcome: outcome.cancelled ? 'cancelled' : 'ok',
            first_byte_ms: firstByteMs,
            usage,
            cost: outcome.usage ? priced.cost : '0',
          });
          log.push(served);
          endServedSpan(attemptTry.span, attempt, outcome.usage, outcome.finishReason ?? undefined, now - attemptTry.startedAt);
          return { record: served, costDetails: priced.cost_details };
        },
      };
      return { ok: true, value: stream };
    } catch (thrown) {
      return { ok: false, error: failAttempt(attemptTry, thrown, dependencies, log) };
    }
  });
  if (!walked.ok) return walked;
  return { ok: true, stream: walked.value, attempts: walked.attempts };
}

/** The first part, then the rest; failures (thrown, deadlines) arrive as one `error` part. */
async function* continueStream(
  first: StreamPart,
  iterator: AsyncIterator<StreamPart>,
  attemptTry: AttemptTry,
  logger: Logger,
): AsyncGenerator<StreamPart> {
  yield first;
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      if (next.value.type === 'error') {
        yield { type: 'error', error: attemptTry.classify(next.value.error, logger) };
        return;
      }
      yield next.value;
      if (next.value.type === 'finish') return;
    }
  } catch (thrown) {
    yield { type: 'error', error: attemptTry.classify(thrown, logger) };
  } finally {
    // Stop the upstream when the consumer leaves early (client gone, error chunk written).
    if (!attemptTry.controller.signal.aborted && iterator.return) await iterator.return().catch(() => undefined);
  }
}
