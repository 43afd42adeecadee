/**
 * Span attribute names. GenAI names follow the OpenTelemetry semantic conventions (development
 * status, as of semconv 1.37); the router's own facts use the `routing.` and `switchyard.` prefixes
 * rather than inventing `gen_ai.*` names. No prompt text and no secrets are ever set.
 */
export const ATTRIBUTES = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  requestStream: 'gen_ai.request.stream',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  finishReasons: 'gen_ai.response.finish_reasons',
  errorType: 'error.type',
  httpStatus: 'http.response.status_code',
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  policyId: 'routing.policy_id',
  policyVersion: 'routing.policy_version',
  matchedRules: 'routing.matched_rules',
  attemptCount: 'routing.attempt_count',
  excludedCount: 'routing.excluded_count',
  endpoint: 'switchyard.endpoint',
  attempt: 'switchyard.attempt',
  retry: 'switchyard.retry',
  outcome: 'switchyard.outcome',
  latencyMs: 'switchyard.latency_ms',
  fallbackReason: 'switchyard.fallback_reason',
  generationId: 'switchyard.generation_id',
} as const;
