/**
 * Start-up of a memory state from the generation log (issue #6): `spendSince` on every backend
 * (pages, period filter, zero costs left out, tags on request), and `seedBudgetSpend` giving each
 * budget scope exactly the spend that settling the same records would have produced.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetScopeKey, type Budget, type RequestFacts } from '../../engine/index.ts';
import type { GenerationBackend, SpendRow } from '../../sidecar/store/generation-backend.ts';
import type { GenerationRecord } from '../../sidecar/store/generation-record.ts';
import { MemoryGenerationBackend } from '../../sidecar/store/memory-backend.ts';
import { openPostgresPool, PostgresGenerationBackend } from '../../sidecar/store/postgres.ts';
import { openSqliteDatabase, SqliteGenerationBackend } from '../../sidecar/store/sqlite.ts';
import { budgetScopeLimit, MemoryAccountingState, seedBudgetSpend } from '../../sidecar/state/index.ts';
import { DATABASE_URL, dropSchema, makeRecord, requirePostgres, uniqueName } from './fixtures/services.ts';

/** Wednesday: the ISO week started Monday 2026-11-23, the month on 2026-11-01. */
const NOW = Date.parse('2026-11-25T15:00:00.000Z');

function record(created_at: string, total_cost: string, who: Partial<GenerationRecord> = {}): GenerationRecord {
  return makeRecord({ created_at, total_cost, key: 'k1', user: 'u1', team: 't1', tags: ['batch'], ...who });
}

const RECORDS: GenerationRecord[] = [
  record('2026-10-31T23:59:59.999Z', '5'),
  record('2026-11-01T00:00:00.000Z', '0.000000000000000001'),
  record('2026-11-22T23:59:59.999Z', '0.1', { tags: [] }),
  record('2026-11-23T00:00:00.000Z', '0.02', { team: null }),
  record('2026-11-24T23:59:59.999Z', '0.003', { user: 'u2', tags: ['other', 'batch'] }),
  record('2026-11-25T00:00:00.000Z', '0.0004', { key: 'k2' }),
  record('2026-11-25T00:00:00.000Z', '0.00005'),
  record('2026-11-25T14:00:00.000Z', '0', { key: 'k3' }),
  record('2026-11-25T14:59:59.000Z', '1.000000000000000001', { key: null, user: null, team: null, tags: [] }),
];

const BUDGETS: Budget[] = [
  { id: 'key-day', scope: 'key', period: 'day', limit: 10 },
  { id: 'user-week', scope: 'user', period: 'week', limit: 10 },
  { id: 'team-month', scope: 'team', period: 'month', limit: 10 },
  { id: 'tag-day', scope: 'tag', tag: 'batch', period: 'day', limit: 10 },
  { id: 'tag-month', scope: 'tag', tag: 'batch', period: 'month', limit: 10 },
  { id: 'global-week', scope: 'global', period: 'week', limit: 10 },
];

function factsOf(record: GenerationRecord): RequestFacts {
  return { key: record.key, user: record.user, team: record.team, tags: record.tags } as unknown as RequestFacts;
}

async function collect(backend: GenerationBackend, since: string, tags: boolean): Promise<{ pages: number; rows: SpendRow[] }> {
  let pages = 0;
  const rows: SpendRow[] = [];
  for await (const page of backend.spendSince(since, { tags, pageSize: 2 })) {
    pages += 1;
    rows.push(...page);
  }
  return { pages, rows };
}

function conformance(name: string, open: () => Promise<GenerationBackend>): void {
  describe(`spendSince on ${name}`, () => {
    let backend: GenerationBackend;
    beforeAll(async () => {
      backend = await open();
      await backend.write([...RECORDS].reverse());
    });
    afterAll(() => backend.close());

    it('pages the costing records from `since` on, oldest first, with tags only when asked', async () => {
      const expected = RECORDS.filter((entry) => entry.created_at >= '2026-11-01T00:00:00.000Z' && entry.total_cost !== '0').sort((left, right) =>
        left.created_at < right.created_at ? -1 : left.created_at > right.created_at ? 1 : left.id < right.id ? -1 : 1,
      );
      const withTags = await collect(backend, '2026-11-01T00:00:00.000Z', true);
      expect(withTags.rows).toEqual(expected.map((entry) => ({ created_at: entry.created_at, key: entry.key, user: entry.user, team: entry.team, tags: entry.tags, total_cost: entry.total_cost })));
      expect(withTags.pages).toBe(Math.ceil(expected.length / 2));
      const withoutTags = await collect(backend, '2026-11-01T00:00:00.000Z', false);
      expect(withoutTags.rows.map((row) => row.tags)).toEqual(expected.map(() => []));
      expect((await collect(backend, '2026-12-01T00:00:00.000Z', false)).rows).toEqual([]);
    });

    it('seeds each budget scope with exactly what settlement would have counted', async () => {
      const seeded = new MemoryAccountingState({ clock: () => NOW });
      const result = await seedBudgetSpend(seeded, BUDGETS, backend, NOW);
      expect(result.records).toBe(7);

      // Reference: every record settled against every budget scope it falls under, at its time.
      let clock = 0;
      const settled = new MemoryAccountingState({ clock: () => clock });
      const current = new Map<string, Budget>();
      for (const entry of RECORDS) {
        clock = Date.parse(entry.created_at);
        const scopes = BUDGETS.flatMap((budget) => {
          const scopeKey = budgetScopeKey(budget, factsOf(entry), clock);
          if (scopeKey === null) return [];
          // A scope only ever settled with 0 has nothing to seed.
          if (entry.total_cost !== '0' && scopeKey === budgetScopeKey(budget, factsOf(entry), NOW)) current.set(scopeKey, budget);
          return [budgetScopeLimit(budget, scopeKey, new Date(clock))];
        });
        const held = await settled.reserve(scopes, '0');
        if (!held.ok) throw new Error('reference hold refused');
        await settled.settle(held.reservation, entry.total_cost);
      }
      clock = NOW;
      const scopes = [...current].map(([scopeKey, budget]) => budgetScopeLimit(budget, scopeKey, new Date(NOW)));
      expect(result.scopes).toBe(scopes.length);
      expect(await seeded.headroom(scopes)).toEqual(await settled.headroom(scopes));
      const spent = Object.fromEntries((await seeded.headroom(scopes)).map((entry) => [entry.scopeKey, entry.spent]));
      expect(spent).toMatchObject({
        'key-day|key=k1|2026-11-25': '0.00005',
        'tag-day|tag=batch|2026-11-25': '0.00045',
        'user-week|user=u1|2026-W48': '0.02045',
        'user-week|user=u2|2026-W48': '0.003',
        'team-month|team=t1|2026-11': '0.103450000000000001',
        'tag-month|tag=batch|2026-11': '0.023450000000000001',
        'global-week|global=*|2026-W48': '1.023450000000000001',
      });
      // A counter that exists is left alone.
      expect(await seeded.seedSpend(scopes[0]!, '7')).toBe(false);
    });
  });
}

conformance('memory', async () => new MemoryGenerationBackend());
conformance('sqlite', async () => new SqliteGenerationBackend(openSqliteDatabase(':memory:')));

const schema = uniqueName('seed');
conformance('postgres', async () => {
  await requirePostgres();
  return new PostgresGenerationBackend(await openPostgresPool({ connectionString: DATABASE_URL, schema }));
});
afterAll(() => dropSchema(schema));

/**
 * Records that name their budgets (written since the field exists) count for those only: a budget
 * attached by a rule is seeded with the requests that rule matched, not with its whole scope.
 */
function namedBudgets(name: string, open: () => Promise<GenerationBackend>): void {
  it(`seeds a rule's budget with only the records settled against it (${name})`, async () => {
    const backend = await open();
    const ruleBudget: Budget = { id: 'gpu-team', scope: 'team', period: 'month', limit: 10 };
    const everyone: Budget = { id: 'team-month', scope: 'team', period: 'month', limit: 10 };
    const ruleKey = 'gpu-team|team=t1|2026-11';
    const allKey = 'team-month|team=t1|2026-11';
    await backend.write([
      record('2026-11-25T10:00:00.000Z', '0.5', { budgets: [ruleKey, allKey] }),
      record('2026-11-25T10:00:01.000Z', '0.25', { budgets: [allKey] }),
      record('2026-11-25T10:00:02.000Z', '0.125', { budgets: [] }),
      // Written before records named their budgets: counted for every budget of its scope.
      record('2026-11-25T10:00:03.000Z', '0.0625'),
    ]);
    const rows = (await collect(backend, '2026-11-25T00:00:00.000Z', false)).rows;
    expect(rows.map((row) => row.budgets)).toEqual([[ruleKey, allKey], [allKey], [], undefined]);
    const state = new MemoryAccountingState({ clock: () => NOW });
    await seedBudgetSpend(state, [ruleBudget, everyone], backend, NOW);
    const scopes = [budgetScopeLimit(ruleBudget, ruleKey, new Date(NOW)), budgetScopeLimit(everyone, allKey, new Date(NOW))];
    expect((await state.headroom(scopes)).map((entry) => entry.spent)).toEqual(['0.5625', '0.8125']);
    await backend.close();
  });
}

namedBudgets('memory', async () => new MemoryGenerationBackend());
namedBudgets('sqlite', async () => new SqliteGenerationBackend(openSqliteDatabase(':memory:')));
const namedSchema = uniqueName('seednamed');
namedBudgets('postgres', async () => {
  await requirePostgres();
  return new PostgresGenerationBackend(await openPostgresPool({ connectionString: DATABASE_URL, schema: namedSchema }));
});
afterAll(() => dropSchema(namedSchema));

it('seeds nothing and reads nothing without budgets', async () => {
  const log = { spendSince: () => (async function* () { throw new Error('read'); })() };
  expect(await seedBudgetSpend(new MemoryAccountingState(), [], log, NOW)).toEqual({ records: 0, scopes: 0 });
});
