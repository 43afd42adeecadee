/**
 * A key's spend (lifetime, day, week, month; UTC) from the generation log, exactly.
 */
import { periodStart } from '../accounting/periods.ts';
import type { KeyUsage } from './keys.ts';
import type { TimeRange } from './generation-backend.ts';

/** Anything that can sum one key's costs over a time range (the batching store, a backend). */
export interface CostSummer {
  sumCost(key: string, range: TimeRange): Promise<string>;
}

export async function keyUsage(store: CostSummer, keyHash: string, now: Date): Promise<KeyUsage> {
  const since = (reset: 'daily' | 'weekly' | 'monthly'): TimeRange => ({ since: periodStart(reset, now).toISOString() });
  const [usage, usage_daily, usage_weekly, usage_monthly] = await Promise.all([
    store.sumCost(keyHash, {}),
    store.sumCost(keyHash, since('daily')),
    store.sumCost(keyHash, since('weekly')),
    store.sumCost(keyHash, since('monthly')),
  ]);
  return { usage, usage_daily, usage_weekly, usage_monthly };
}
