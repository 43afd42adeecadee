/**
 * Alerts after a restart (issue #6: "once per threshold and period"): a scope seeded from the
 * generation log does not fire again the thresholds its seeded spend had already reached before
 * the restart; thresholds above it still fire, once.
 */
import { expect, it } from 'vitest';
import { MemoryAccountingState } from '../../sidecar/state/index.ts';

const scope = { scopeKey: 'team-month|team=t1|2026-11', limit: '1', alerts: [0.5, 0.8, 1] };

async function spend(state: MemoryAccountingState, amount: string): Promise<number[]> {
  const held = await state.reserve([scope], '0');
  if (!held.ok) throw new Error('hold refused');
  return (await state.settle(held.reservation, amount)).alerts.map((alert) => alert.threshold);
}

it('a seeded scope fires only the thresholds its seeded spend had not reached', async () => {
  const before = new MemoryAccountingState();
  expect(await spend(before, '0.6')).toEqual([0.5]);

  // The restart: a fresh state seeded with the same spend from the log.
  const after = new MemoryAccountingState();
  expect(await after.seedSpend(scope, '0.6')).toBe(true);
  expect(await spend(after, '0.1')).toEqual([]);
  expect(await spend(after, '0.1')).toEqual([0.8]);
  expect(await spend(after, '0.2')).toEqual([1]);
});

it('a scope seeded below every threshold fires each of them later, once', async () => {
  const state = new MemoryAccountingState();
  expect(await state.seedSpend(scope, '0.2')).toBe(true);
  expect(await spend(state, '0.7')).toEqual([0.5, 0.8]);
  expect(await spend(state, '0.05')).toEqual([]);
  expect(await spend(state, '0.05')).toEqual([1]);
});
