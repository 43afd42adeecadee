/**
 * Delivery of budget alerts (`AlertEvent`s returned by `settle`): a structured log line, a metric
 * and, when configured, a webhook POST. The webhook is best effort: bounded by a timeout, never
 * awaited on the response path, failures reported to `onError` and not retried.
 */
import type { AlertEvent } from '../state/accounting-state.ts';

export interface AlertNotifierOptions {
  /** Structured log, e.g. `(event) => logger.warn({ event: 'budget_alert', ...event })`. */
  log: (event: AlertEvent) => void;
  /** Metric, e.g. a prom-client counter's `inc({ threshold })`. */
  count?: (event: AlertEvent) => void;
  /** POSTed `{ type: 'budget_alert', ...event }` as JSON. */
  webhookUrl?: string;
  /** Default 5000 ms. */
  webhookTimeoutMs?: number;
  onError?: (error: unknown, event: AlertEvent) => void;
}

export interface AlertNotifier {
  /** Logs and counts now; the webhook calls run in the background. */
  notify(events: readonly AlertEvent[]): void;
  /** Resolves when every webhook call started so far has finished (tests, shutdown). */
  drain(): Promise<void>;
}

export function createAlertNotifier(options: AlertNotifierOptions): AlertNotifier {
  const pending = new Set<Promise<void>>();
  const post = async (event: AlertEvent, url: string): Promise<void> => {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'budget_alert', ...event }),
        signal: AbortSignal.timeout(options.webhookTimeoutMs ?? 5000),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`alert webhook answered ${response.status}`);
    } catch (error) {
      options.onError?.(error, event);
    }
  };
  return {
    notify(events) {
      for (const event of events) {
        options.log(event);
        options.count?.(event);
        if (options.webhookUrl === undefined) continue;
        const call = post(event, options.webhookUrl);
        pending.add(call);
        void call.finally(() => pending.delete(call));
      }
    },
    async drain() {
      await Promise.all([...pending]);
    },
  };
}
