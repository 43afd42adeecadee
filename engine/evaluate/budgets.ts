/**
 * Budget scope keys: the one naming of "this budget, this caller, this period" that the engine
 * reads spend under and the sidecar counts spend under. Periods are UTC; weeks are ISO weeks
 * (starting Monday), labelled `YYYY-Www` with the ISO week-numbering year.
 */
import type { Budget, RequestFacts } from '../types.ts';

const DAY_MS = 86_400_000;

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** Labels by period and UTC day number: every request of a day asks for the same few labels. */
const labelCache = new Map<string, string>();
const LABEL_CACHE_LIMIT = 64;

/** `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM` for the UTC period containing `now` (epoch ms). */
export function periodLabel(period: Budget['period'], now: number): string {
  const cacheKey = `${period}${Math.floor(now / DAY_MS)}`;
  const cached = labelCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const label = computePeriodLabel(period, now);
  if (labelCache.size >= LABEL_CACHE_LIMIT) labelCache.clear();
  labelCache.set(cacheKey, label);
  return label;
}

function computePeriodLabel(period: Budget['period'], now: number): string {
  const date = new Date(now);
  const year = date.getUTCFullYear();
  if (period === 'month') return `${year}-${pad(date.getUTCMonth() + 1)}`;
  if (period === 'day') return `${year}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  // ISO week: the week (Monday..Sunday) belongs to the year of its Thursday.
  const dayIndex = (date.getUTCDay() + 6) % 7; // Monday = 0
  const midnight = Date.UTC(year, date.getUTCMonth(), date.getUTCDate());
  const thursday = new Date(midnight + (3 - dayIndex) * DAY_MS);
  const isoYear = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / (7 * DAY_MS)) + 1;
  return `${isoYear}-W${pad(week)}`;
}

/** The scope's value for this request, or null when the request has none (no team, tag not sent). */
function scopeValue(budget: Budget, facts: RequestFacts): string | null {
  switch (budget.scope) {
    case 'key':
      return facts.key;
    case 'user':
      return facts.user;
    case 'team':
      return facts.team;
    case 'tag':
      return budget.tag !== undefined && facts.tags.includes(budget.tag) ? budget.tag : null;
    case 'global':
      return '*';
  }
}

/**
 * The key under which a budget's spend is counted for this request in the period containing `now`,
 * e.g. `team-daily|team=ml|2026-11-25`, `global-weekly|global=*|2026-W48`, `monthly|key=k1|2026-11`.
 * Null when the request has no value for the scope (no team; a tag budget whose tag was not sent):
 * such a budget does not apply to the request.
 */
export function budgetScopeKey(budget: Budget, facts: RequestFacts, now: number): string | null {
  const value = scopeValue(budget, facts);
  if (value === null || !Number.isFinite(now)) return null;
  return `${budget.id}|${budget.scope}=${value}|${periodLabel(budget.period, now)}`;
}
