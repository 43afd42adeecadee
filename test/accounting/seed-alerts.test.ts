/**
 * Alerts after a restart (issue #6: "once per threshold and period"): a scope seeded from the
 * generation log does not fire again the thresholds its seeded spend had already reached before
 * the restart; thresholds above it still fire, once. On the memory state and on Redis (where
 * seeding happens when Redis lost the counter).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountingState } from '../../sidecar/state/accounting-state.ts';
import { MemoryAccountingState, openAccountingState } from '../../sidecar/state/index.ts';
import { deleteRedisPrefix, REDIS_URL, requireRedis, uniqueName } from './fixtures/services.ts';

let sequence = 0;
function scope() {
  sequence += 1;
  return { scopeKey: `team-month-${sequence}|team=t1|2026-11`, limit: '1', alerts: [0.5, 0.8, 1] };
}

async function spend(state: AccountingState, budget: ReturnType<typeof scope>, amount: string): Promise<number[]> {
  const held = await state.reserve([budget], '0');
  if (!held.ok) throw new Error('hold refused');
  return (await state.settle(held.reservation, amount)).alerts.map((alert) => alert.threshold);
}

function seeding(name: string, open: () => Promise<AccountingState>): void {
  describe(`seeded alerts (${name})`, () => {
    it('a seeded scope fires only the thresholds its seeded spend had not reached', async () => {
      const before = await open();
      const budget = scope();
      expect(await spend(before, budget, '0.6')).toEqual([0.5]);
      await before.close();

      // The restart (or a Redis that lost the counter): a fresh state seeded with the same spend from the log.
      const after = await open();
      const again = { ...budget, scopeKey: `${budget.scopeKey}-after` };
      expect(await after.seedSpend(again, '0.6')).toBe(true);
      expect(await spend(after, again, '0.1')).toEqual([]);
      expect(await spend(after, again, '0.1')).toEqual([0.8]);
      expect(await spend(after, again, '0.2')).toEqual([1]);
      await after.close();
    });

    it('a scope seeded below every threshold fires each of them later, once', async () => {
      const state = await open();
      const budget = scope();
      expect(await state.seedSpend(budget, '0.2')).toBe(true);
      expect(await spend(state, budget, '0.7')).toEqual([0.5, 0.8]);
      expect(await spend(state, budget, '0.05')).toEqual([]);
      expect(await spend(state, budget, '0.05')).toEqual([1]);
      await state.close();
    });
  });
}

seeding('memory', async () => new MemoryAccountingState());

const prefix = `${uniqueName('sy_seed_alerts')}:`;
beforeAll(async () => {
  await requireRedis();
});
afterAll(async () => {
  await deleteRedisPrefix(prefix);
});
seeding('redis', () => openAccountingState({ kind: 'redis', url: REDIS_URL, prefix }));
