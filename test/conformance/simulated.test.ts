import type { CatalogProvider } from '../../engine/index.ts';
import { createSimulatedAdapter } from '../../sidecar/providers/simulated/adapter.ts';
import { EXPECTED_TEXT, runAdapterConformance, type ScenarioName } from './adapter.case.ts';

/** Per-scenario provider options: the simulated provider is driven by configuration alone. */
function optionsFor(scenario: ScenarioName): Record<string, unknown> {
  const base = { latency_ms: 0, tokens_per_second: 0, response_text: EXPECTED_TEXT, tool_arguments: { get_time: { timezone: 'Europe/Oslo' } } };
  switch (scenario) {
    case 'finish-content-filter':
      return { ...base, content_filter_phrases: ['say hello'] };
    case 'rate-limit-429':
      return { ...base, failure_rates: { 429: 1 }, retry_after_ms: 2000 };
    case 'overloaded-529':
      return { ...base, failure_rates: { 529: 1 } };
    case 'server-error-5xx':
      return { ...base, failure_rates: { 503: 1 } };
    case 'server-error-stream':
      return { ...base, failure_rates: { 500: 1 } };
    case 'invalid-request-400':
      return { ...base, failure_rates: { 400: 1 } };
    case 'unauthorized-401':
      return { ...base, failure_rates: { 401: 1 } };
    case 'context-length':
      return { ...base, context_length: 5 };
    case 'connection-reset':
      return { ...base, failure_rates: { connection: 1 } };
    case 'mid-stream-cut':
    case 'mid-stream-error-event':
      return { ...base, mid_stream_failure_rate: 1, mid_stream_failure_after_tokens: 2 };
    case 'abort-stream':
      return { ...base, tokens_per_second: 20, response_tokens: 200, response_text: undefined };
    case 'abort-generate':
      return { ...base, latency_ms: 5_000 };
    default:
      return base;
  }
}

runAdapterConformance({
  name: 'simulated',
  createAdapter: () => createSimulatedAdapter(),
  fake: async () => ({
    setup: async (scenario) => {
      const provider: CatalogProvider = {
        id: 'simulated-conformance',
        name: 'Simulated',
        protocol: 'simulated',
        data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true },
        region: 'local',
        status: 'active',
        options: optionsFor(scenario),
      };
      return { provider, calls: () => [] };
    },
    close: async () => undefined,
  }),
  skip: [
    {
      reason: 'token counts and reasoning text are estimated locally, not mapped from a wire payload; simulated.test.ts checks its usage arithmetic instead',
      tests: ['usage-details', 'usage-cache-write', 'reasoning-stream'],
    },
    { reason: 'there is no wire format, so nothing can arrive malformed', tests: ['malformed-chunk'] },
  ],
});
