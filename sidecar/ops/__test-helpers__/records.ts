/** Generation records for ops tests: a served request with an optional failed first attempt. */
import type { AttemptRecord, GenerationRecord } from '../../store/generation-record.ts';

export interface RecordShape {
  id: string;
  createdAt: string;
  model?: string;
  provider?: string;
  /** Provider of a failed first attempt (a fallback), if any. */
  failedProvider?: string;
  failedStatus?: number;
  promptTokens?: number;
  completionTokens?: number;
  cost?: string;
  latencyMs?: number;
  firstByteMs?: number;
  status?: number;
  streamed?: boolean;
}

export function generationRecord(shape: RecordShape): GenerationRecord {
  const model = shape.model ?? 'openai/gpt-4o-mini';
  const provider = shape.provider ?? 'sim-fast';
  const attempts: AttemptRecord[] = [];
  if (shape.failedProvider) {
    attempts.push({ attempt: 1, retry: 0, endpoint: `${model}@${shape.failedProvider}`, provider: shape.failedProvider, provider_name: shape.failedProvider, model, status: shape.failedStatus ?? 503, outcome: 'retryable', error: 'upstream unavailable', latency_ms: 40, cost: '0' });
  }
  const served = (shape.status ?? 200) === 200;
  const usage = { prompt_tokens: shape.promptTokens ?? 12, completion_tokens: shape.completionTokens ?? 30 };
  attempts.push({
    attempt: attempts.length + 1,
    retry: 0,
    endpoint: `${model}@${provider}`,
    provider,
    provider_name: provider,
    model,
    status: served ? 200 : (shape.status ?? 502),
    outcome: served ? 'ok' : 'retryable',
    latency_ms: shape.latencyMs ?? 400,
    ...(shape.firstByteMs === undefined ? {} : { first_byte_ms: shape.firstByteMs }),
    ...(served ? { usage } : {}),
    cost: served ? (shape.cost ?? '0.0001') : '0',
  });
  return {
    id: shape.id,
    created_at: shape.createdAt,
    model,
    requested_models: [model],
    provider: served ? provider : null,
    provider_name: served ? provider : null,
    upstream_id: null,
    api_type: 'completions',
    streamed: shape.streamed ?? false,
    cancelled: false,
    status: shape.status ?? 200,
    finish_reason: served ? 'stop' : null,
    native_finish_reason: served ? 'stop' : null,
    usage: served ? usage : {},
    total_cost: served ? (shape.cost ?? '0.0001') : '0',
    latency_ms: (shape.latencyMs ?? 400) + (shape.failedProvider ? 40 : 0),
    generation_time_ms: null,
    key: 'default',
    user: null,
    team: null,
    tags: [],
    http_referer: null,
    x_title: null,
    policy_id: 'default',
    policy_version: 'abc123',
    attempts,
    error: served ? null : 'no provider answered',
  };
}
