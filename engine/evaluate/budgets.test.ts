import { describe, expect, it } from 'vitest';
import type { Budget } from '../types.ts';
import { testFacts } from './__test-helpers__/builders.ts';
import { budgetScopeKey, periodLabel } from './budgets.ts';

const budget = (overrides: Partial<Budget>): Budget => ({ id: 'b', scope: 'team', period: 'day', limit: 10, ...overrides });

describe('budgetScopeKey', () => {
  const now = Date.UTC(2026, 10, 25, 23, 59, 59); // Wednesday 2026-11-25

  it('formats id, scope value and UTC period', () => {
    const facts = testFacts({ team: 'ml', key: 'k1', user: 'u1', tags: ['batch'] });
    expect(budgetScopeKey(budget({ id: 'team-daily' }), facts, now)).toBe('team-daily|team=ml|2026-11-25');
    expect(budgetScopeKey(budget({ id: 'key-monthly', scope: 'key', period: 'month' }), facts, now)).toBe('key-monthly|key=k1|2026-11');
    expect(budgetScopeKey(budget({ id: 'user-weekly', scope: 'user', period: 'week' }), facts, now)).toBe('user-weekly|user=u1|2026-W48');
    expect(budgetScopeKey(budget({ id: 'g', scope: 'global' }), facts, now)).toBe('g|global=*|2026-11-25');
    expect(budgetScopeKey(budget({ id: 't', scope: 'tag', tag: 'batch' }), facts, now)).toBe('t|tag=batch|2026-11-25');
  });

  it('is null when the request lacks the scope value', () => {
    expect(budgetScopeKey(budget({}), testFacts({ team: null }), now)).toBeNull();
    expect(budgetScopeKey(budget({ scope: 'tag', tag: 'batch' }), testFacts({ tags: ['other'] }), now)).toBeNull();
    expect(budgetScopeKey(budget({ scope: 'tag' }), testFacts({ tags: ['batch'] }), now)).toBeNull();
  });
});

describe('periodLabel', () => {
  it.each([
    [Date.UTC(2026, 0, 1), '2026-W01'], // Thursday
    [Date.UTC(2025, 11, 29), '2026-W01'], // Monday of the week holding 2026-01-01
    [Date.UTC(2025, 11, 28, 23, 59), '2025-W52'], // Sunday before it
    [Date.UTC(2027, 0, 3), '2026-W53'], // Sunday: 2026 has 53 ISO weeks
    [Date.UTC(2027, 0, 4), '2027-W01'],
    [Date.UTC(2026, 10, 23, 0, 0), '2026-W48'], // Monday 00:00 starts the week
    [Date.UTC(2026, 10, 22, 23, 59, 59), '2026-W47'],
  ])('ISO week of %s is %s', (time, label) => {
    expect(periodLabel('week', time)).toBe(label);
  });

  it('uses UTC for days and months', () => {
    expect(periodLabel('day', Date.UTC(2026, 1, 28, 23, 59, 59, 999))).toBe('2026-02-28');
    expect(periodLabel('day', Date.UTC(2026, 2, 1))).toBe('2026-03-01');
    expect(periodLabel('month', Date.UTC(2026, 11, 31, 23, 59))).toBe('2026-12');
  });
});
