/**
 * Accounting periods, all in UTC: days start at 00:00, weeks on Monday, months on the 1st.
 * These are the windows of key limits (`limit_reset`) and of `usage_daily/weekly/monthly`.
 */

/** OpenRouter's `limit_reset` values. */
export type LimitReset = 'daily' | 'weekly' | 'monthly';

export const LIMIT_RESETS: readonly LimitReset[] = ['daily', 'weekly', 'monthly'];

/** Start (inclusive) of the period containing `now`. */
export function periodStart(reset: LimitReset, now: Date): Date {
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth();
  const day = now.getUTCDate();
  switch (reset) {
    case 'daily':
      return new Date(Date.UTC(year, month, day));
    case 'weekly': {
      // getUTCDay: Sunday 0 .. Saturday 6; days since Monday = (weekday + 6) % 7.
      const sinceMonday = (now.getUTCDay() + 6) % 7;
      return new Date(Date.UTC(year, month, day - sinceMonday));
    }
    case 'monthly':
      return new Date(Date.UTC(year, month, 1));
  }
}

/** End (exclusive) of the period containing `now`: the next period's start. */
export function periodEnd(reset: LimitReset, now: Date): Date {
  const start = periodStart(reset, now);
  switch (reset) {
    case 'daily':
      return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1));
    case 'weekly':
      return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 7));
    case 'monthly':
      return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  }
}

export function isLimitReset(value: unknown): value is LimitReset {
  return value === 'daily' || value === 'weekly' || value === 'monthly';
}
