import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDecimals, compareDecimals, formatUnits, parseUnits } from '../../sidecar/accounting/decimal.ts';
import type { AccountingState, ScopeLimit } from '../../sidecar/state/accounting-state.ts';
import { budgetScopeLimit, keyLimitScope, openAccountingState } from '../../sidecar/state/index.ts';
import { MemoryAccountingState } from '../../sidecar/state/memory-state.ts';
import { RedisAccountingState } from '../../sidecar/state/redis-state.ts';
import { runLoad } from './state-load.ts';
import { deleteRedisPrefix, REDIS_URL, requireRedis, uniqueName } from './fixtures/services.ts';

/** A clock the test moves. */
function manualClock(start = Date.UTC(2026, 10, 25, 12, 0, 30)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

let scopeSequence = 0;
function scope(limit: string, extra: Partial<ScopeLimit> = {}): ScopeLimit {
  scopeSequence += 1;
  return { scopeKey: `budget-${scopeSequence}|team=ml|2026-11-25`, limit, ...extra };
}

type Open = (clock: () => number) => Promise<AccountingState>;

function conformance(name: string, open: Open): void {
  describe(`accounting state on ${name}`, () => {
    it('holds the worst case, then settles the real cost', async () => {
      const clock = manualClock();
      const state = await open(clock.now);
      const budget = scope('1');
      const first = await state.reserve([budget], '0.3');
      expect(first.ok).toBe(true);
      expect(await state.headroom([budget])).toEqual([{ scopeKey: budget.scopeKey, limit: '1', spent: '0', reserved: '0.3', remaining: '0.7' }]);
      if (!first.ok) return;
      const settled = await state.settle(first.reservation, '0.1234');
      expect(settled).toEqual({ recorded: true, spent: { [budget.scopeKey]: '0.1234' }, alerts: [] });
      expect(await state.headroom([budget])).toEqual([{ scopeKey: budget.scopeKey, limit: '1', spent: '0.1234', reserved: '0', remaining: '0.8766' }]);
      expect(await state.snapshotSpend([budget.scopeKey, 'never-used'])).toEqual({ [budget.scopeKey]: 0.1234, 'never-used': 0 });
      await state.close();
    });

    it('refuses what does not fit, naming the scope and what remains, and holds nothing then', async () => {
      const state = await open(manualClock().now);
      const roomy = scope('10');
      const tight = scope('0.5');
      const held = await state.reserve([roomy, tight], '0.4');
      expect(held.ok).toBe(true);
      const refused = await state.reserve([roomy, tight], '0.2');
      expect(refused).toEqual({ ok: false, reason: 'limit_exceeded', exceeded: { scopeKey: tight.scopeKey, limit: '0.5', spent: '0', reserved: '0.4', remaining: '0.1' } });
      // All or nothing: the roomy scope did not keep a hold for the refused request.
      expect((await state.headroom([roomy]))[0]?.reserved).toBe('0.4');
      // Exactly the remainder fits.
      expect((await state.reserve([roomy, tight], '0.1')).ok).toBe(true);
      await state.close();
    });

    it('accepts a request that counts under no scope', async () => {
      const state = await open(manualClock().now);
      const held = await state.reserve([], '5');
      expect(held).toMatchObject({ ok: true, reservation: { scopes: [], enforced: true } });
      if (held.ok) expect(await state.settle(held.reservation, '1')).toEqual({ recorded: true, spent: {}, alerts: [] });
      await state.close();
    });

    it('seeds a counter only when the scope has none', async () => {
      const state = await open(manualClock().now);
      const budget = scope('1');
      expect(await state.seedSpend(budget, '0.75')).toBe(true);
      expect(await state.seedSpend(budget, '0.1')).toBe(false);
      expect((await state.headroom([budget]))[0]).toMatchObject({ spent: '0.75', remaining: '0.25' });
      expect((await state.reserve([budget], '0.26')).ok).toBe(false);
      expect((await state.reserve([budget], '0.25')).ok).toBe(true);
      await state.close();
    });

    it('refuses even a free request once a scope is spent', async () => {
      const state = await open(manualClock().now);
      const budget = scope('0.01');
      const held = await state.reserve([budget], '0.01');
      if (!held.ok) throw new Error('expected a hold');
      await state.settle(held.reservation, '0.01');
      const refused = await state.reserve([budget], '0');
      expect(refused.ok).toBe(false);
      await state.close();
    });

    it('stops counting holds that were never settled once they expire', async () => {
      const clock = manualClock();
      const state = await open(clock.now);
      const budget = scope('1');
      expect((await state.reserve([budget], '0.9')).ok).toBe(true);
      expect((await state.reserve([budget], '0.2')).ok).toBe(false);
      clock.advance(10 * 60_000 + 1);
      expect((await state.headroom([budget]))[0]?.reserved).toBe('0');
      expect((await state.reserve([budget], '0.2')).ok).toBe(true);
      await state.close();
    });

    it('counts an expired hold nowhere, whether it is settled late or a later hold needs its room', async () => {
      const clock = manualClock();
      const state = await open(clock.now);
      const budget = scope('1');
      const late = await state.reserve([budget], '0.5');
      if (!late.ok) throw new Error('expected a hold');
      clock.advance(10 * 60_000 + 1);
      expect((await state.reserve([budget], '0.1')).ok).toBe(true);
      expect(await state.settle(late.reservation, '0.3')).toMatchObject({ recorded: true, spent: { [budget.scopeKey]: '0.3' } });
      expect(await state.headroom([budget])).toMatchObject([{ spent: '0.3', reserved: '0.1', remaining: '0.6' }]);
      const crashed = await state.reserve([budget], '0.6');
      expect(crashed.ok).toBe(true);
      clock.advance(10 * 60_000 + 1);
      // The 0.1 and the 0.6 expired: 0.7 fits only once they are dropped.
      expect((await state.reserve([budget], '0.7')).ok).toBe(true);
      expect(await state.headroom([budget])).toMatchObject([{ spent: '0.3', reserved: '0.7', remaining: '0' }]);
      await state.close();
    });

    it('fires each alert threshold once per scope key', async () => {
      const state = await open(manualClock().now);
      const budget = scope('1', { alerts: [0.8, 0.5, 1] });
      const spend = async (amount: string) => {
        const held = await state.reserve([budget], amount);
        if (!held.ok) throw new Error(`expected a hold for ${amount}`);
        return (await state.settle(held.reservation, amount)).alerts.map((alert) => [alert.threshold, alert.spent]);
      };
      expect(await spend('0.4999')).toEqual([]);
      expect(await spend('0.0001')).toEqual([[0.5, '0.5']]);
      expect(await spend('0.1')).toEqual([]);
      // One settlement can cross two thresholds: both fire, in order.
      expect(await spend('0.4')).toEqual([
        [0.8, '1'],
        [1, '1'],
      ]);
      // The next period is a new scope key, so its thresholds fire again.
      const nextPeriod = { ...budget, scopeKey: budget.scopeKey.replace('2026-11-25', '2026-11-26') };
      const held = await state.reserve([nextPeriod], '0.6');
      if (!held.ok) throw new Error('expected a hold');
      expect((await state.settle(held.reservation, '0.6')).alerts).toEqual([{ scopeKey: nextPeriod.scopeKey, threshold: 0.5, spent: '0.6', limit: '1' }]);
      await state.close();
    });

    it('keeps sub-micro-dollar amounts exact across many settlements', async () => {
      const state = await open(manualClock().now);
      const budget = scope('1000000');
      const amount = '0.000000123456789012';
      let expected = 0n;
      for (let index = 0; index < 300; index += 1) {
        const held = await state.reserve([budget], amount);
        if (!held.ok) throw new Error('expected a hold');
        await state.settle(held.reservation, amount);
        expected += parseUnits(amount);
      }
      const big = await state.reserve([budget], '999999.9');
      if (!big.ok) throw new Error('expected a hold');
      await state.settle(big.reservation, '999999.876543210987654321');
      expected += parseUnits('999999.876543210987654321');
      expect((await state.headroom([budget]))[0]?.spent).toBe(formatUnits(expected));
      expect(formatUnits(expected)).toBe('999999.876580248024357921');
      await state.close();
    });

    it('limits requests and tokens per minute, with remaining and reset', async () => {
      const clock = manualClock(Date.UTC(2026, 10, 25, 12, 0, 15));
      const state = await open(clock.now);
      const subject = uniqueName('key');
      const limits = { requestsPerMinute: 3, tokensPerMinute: 1000 };
      const windowEnd = Date.UTC(2026, 10, 25, 12, 1, 0);
      const first = await state.checkRate(subject, limits);
      expect(first).toEqual({ ok: true, requests: { limit: 3, remaining: 2, resetAt: windowEnd }, tokens: { limit: 1000, remaining: 1000, resetAt: windowEnd } });
      await state.checkRate(subject, limits);
      expect((await state.checkRate(subject, limits)).ok).toBe(true);
      const refused = await state.checkRate(subject, limits);
      expect(refused).toMatchObject({ ok: false, reason: 'rate_limited', limited: 'requests', retryAfterSeconds: 45, requests: { remaining: 0 } });
      // A new minute starts over.
      clock.advance(45_000);
      expect((await state.checkRate(subject, limits)).ok).toBe(true);
      await state.recordTokens(subject, 1000);
      const tokens = await state.checkRate(subject, limits);
      expect(tokens).toMatchObject({ ok: false, limited: 'tokens', tokens: { remaining: 0 }, retryAfterSeconds: 60 });
      expect((await state.checkRate(uniqueName('other'), limits)).ok).toBe(true);
      expect((await state.checkRate(subject, {})).ok).toBe(true);
      await state.close();
    });

    it('admits in one step: the rate check, then the hold; a refused hold still counts the request', async () => {
      const clock = manualClock(Date.UTC(2026, 10, 25, 12, 0, 15));
      const state = await open(clock.now);
      const subject = uniqueName('key');
      const limits = { requestsPerMinute: 2, tokensPerMinute: 100 };
      const budget = scope('0.5');
      const first = await state.admit(subject, limits, [budget], '0.4');
      expect(first.rate).toMatchObject({ ok: true, requests: { remaining: 1 }, tokens: { remaining: 100 } });
      expect(first.hold).toMatchObject({ ok: true, reservation: { amount: '0.4', enforced: true } });
      const refusedHold = await state.admit(subject, limits, [budget], '0.2');
      expect(refusedHold.rate).toMatchObject({ ok: true, requests: { remaining: 0 } });
      expect(refusedHold.hold).toMatchObject({ ok: false, reason: 'limit_exceeded', exceeded: { remaining: '0.1' } });
      const limited = await state.admit(subject, limits, [budget], '0.05');
      expect(limited).toEqual({ rate: expect.objectContaining({ ok: false, reason: 'rate_limited', limited: 'requests' }) });
      // Neither refusal held anything.
      expect((await state.headroom([budget]))[0]?.reserved).toBe('0.4');
      await state.close();
    });

    it('counts tokens with the settlement, in the current window', async () => {
      const clock = manualClock(Date.UTC(2026, 10, 25, 12, 0, 15));
      const state = await open(clock.now);
      const subject = uniqueName('key');
      const limits = { tokensPerMinute: 100 };
      const budget = scope('1');
      const admitted = await state.admit(subject, limits, [budget], '0.3');
      if (!admitted.hold?.ok) throw new Error('expected a hold');
      expect(await state.settle(admitted.hold.reservation, '0.2', { subject, tokens: 60 })).toEqual({ recorded: true, spent: { [budget.scopeKey]: '0.2' }, alerts: [] });
      expect(await state.checkRate(subject, limits)).toMatchObject({ ok: true, tokens: { remaining: 40 } });
      const next = await state.reserve([budget], '0.1');
      if (!next.ok) throw new Error('expected a hold');
      await state.settle(next.reservation, '0.1', { subject, tokens: 40 });
      expect(await state.checkRate(subject, limits)).toMatchObject({ ok: false, limited: 'tokens' });
      clock.advance(45_000);
      expect(await state.checkRate(subject, limits)).toMatchObject({ ok: true, tokens: { remaining: 100 } });
      await state.close();
    });

    it('never lets 200 concurrent requests overspend a $1.00 limit, and counts settled costs exactly', async () => {
      const state = await open(Date.now);
      const budget = scope('1');
      const outcome = await runLoad(state, budget, 200, 1);
      expect(outcome.refused).toBeGreaterThan(0);
      const [headroom] = await state.headroom([budget]);
      expect(headroom?.reserved).toBe('0');
      expect(headroom?.spent).toBe(addDecimals(...outcome.settled));
      expect(compareDecimals(headroom?.spent ?? '0', '1')).toBeLessThanOrEqual(0);
      await state.close();
    });
  });
}

conformance('memory', async (clock) => new MemoryAccountingState({ clock }));

/**
 * When each of the state's script calls was sent (`performance.now()`), recorded as it is sent;
 * `delayFirstMs` holds the first one back that long before it reaches Redis, as a slow network would.
 */
function watchScriptCalls(state: RedisAccountingState, delayFirstMs = 0): number[] {
  const redis = state.redis as unknown as { sendCommand(command: { name: string }): unknown };
  const send = redis.sendCommand.bind(redis);
  const scriptCalls: number[] = [];
  redis.sendCommand = (command) => {
    if (command.name !== 'evalsha' && command.name !== 'eval') return send(command);
    scriptCalls.push(performance.now());
    if (scriptCalls.length === 1 && delayFirstMs > 0) {
      setTimeout(() => send(command), delayFirstMs);
      return (command as unknown as { promise: Promise<unknown> }).promise;
    }
    return send(command);
  };
  return scriptCalls;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('redis', () => {
  const prefix = `${uniqueName('sy_state')}:`;
  beforeAll(async () => {
    await requireRedis();
  });
  afterAll(async () => {
    await deleteRedisPrefix(prefix);
  });

  conformance('redis', (clock) => openAccountingState({ kind: 'redis', url: REDIS_URL, prefix, clock }));

  it('lays keys out as documented, and expires a finished period', async () => {
    // One instant for both holds below, so that they share their expiry.
    const now = Date.now();
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix, clock: () => now })) as RedisAccountingState;
    const budget = scope('5', { periodEndsAt: now + 60_000 });
    const key = `${prefix}scope:${budget.scopeKey}`;
    // Taken in one call at one instant: one group field holds both.
    const [first, second] = await Promise.all([state.reserve([budget], '1'), state.reserve([budget], '0.000000000000000001')]);
    if (!first.ok || !second.ok) throw new Error('expected two holds');
    const holdExpiry = await state.redis.hget(key, 'next');
    expect(holdExpiry).toBe(String(now + 10 * 60_000));
    const fields = await state.redis.hgetall(key);
    const groups = Object.keys(fields).filter((field) => field.startsWith('h:'));
    expect(groups).toHaveLength(1);
    const group = groups[0] as string;
    expect(group).toMatch(/^h:[\w-]+\.[0-9a-z]+$/);
    expect(fields).toEqual({ reserved_m: '1000000', reserved_a: '1', next: holdExpiry, [group]: `1000000000000000001 ${holdExpiry}` });
    await state.settle(first.reservation, '0.25');
    expect(await state.redis.hget(key, group)).toBe(`1 ${holdExpiry}`);
    await state.settle(second.reservation, '0');
    // The group is gone with its last hold; `next` stays, an early bound that only a purge tightens.
    expect(await state.redis.hgetall(key)).toEqual({ spent_m: '250000', spent_a: '0', reserved_m: '0', reserved_a: '0', next: holdExpiry });
    expect(await state.redis.keys(`${prefix}*${budget.scopeKey}`)).toEqual([key]);
    const ttl = await state.redis.pttl(key);
    expect(ttl).toBeGreaterThan(24 * 3_600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3_600_000 + 60_000);
    await state.close();
  });

  it("drops a crashed replica's expired holds exactly, though `next` may lag behind settled holds", async () => {
    const clock = manualClock();
    const holdTtlMs = 60_000;
    const open = async () => {
      const opened = new RedisAccountingState({ url: REDIS_URL, prefix, clock: clock.now, holdTtlMs });
      await opened.ready();
      return opened;
    };
    const crashed = await open();
    const survivor = await open();
    const budget = scope('1');
    const key = `${prefix}scope:${budget.scopeKey}`;
    const first = await crashed.reserve([budget], '0.3');
    const firstExpiry = clock.now() + holdTtlMs;
    clock.advance(1000);
    const second = await crashed.reserve([budget], '0.3');
    const secondExpiry = clock.now() + holdTtlMs;
    if (!first.ok || !second.ok) throw new Error('expected two holds');
    await crashed.settle(first.reservation, '0.3');
    expect(await crashed.redis.hget(key, 'next')).toBe(String(firstExpiry));
    // `next` says a hold may have expired: the scan finds the second still held, and `next` is exact again.
    clock.advance(holdTtlMs - 1);
    expect(await survivor.reserve([budget], '0.5')).toMatchObject({ ok: false, exceeded: { spent: '0.3', reserved: '0.3' } });
    expect(await survivor.redis.hget(key, 'next')).toBe(String(secondExpiry));
    // One millisecond later the second hold (never settled: its replica crashed) has expired: dropped, and its room is free.
    clock.advance(1);
    const third = await survivor.reserve([budget], '0.5');
    if (!third.ok) throw new Error('expected the expired hold to make room');
    const fields = await survivor.redis.hgetall(key);
    expect(Object.keys(fields).filter((field) => field.startsWith('h:'))).toHaveLength(1);
    expect(fields).toMatchObject({ reserved_m: '500000', reserved_a: '0', next: String(clock.now() + holdTtlMs) });
    // A late settlement of the expired hold releases nothing more (nor does settling it twice).
    expect(await crashed.settle(second.reservation, '0.1')).toMatchObject({ recorded: true, spent: { [budget.scopeKey]: '0.4' } });
    expect(await crashed.settle(second.reservation, '0')).toMatchObject({ recorded: true, spent: { [budget.scopeKey]: '0.4' } });
    expect(await survivor.headroom([budget])).toMatchObject([{ spent: '0.4', reserved: '0.5', remaining: '0.1' }]);
    // A read drops expired holds too, and forgets `next` when none is left.
    clock.advance(holdTtlMs);
    expect(await survivor.headroom([budget])).toMatchObject([{ spent: '0.4', reserved: '0' }]);
    expect(Object.keys(await survivor.redis.hgetall(key)).sort()).toEqual(['reserved_a', 'reserved_m', 'spent_a', 'spent_m']);
    await crashed.close();
    await survivor.close();
  });

  it('releases a hold only through the reservation it handed out, and once', async () => {
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix })) as RedisAccountingState;
    const budget = scope('1');
    const held = await state.reserve([budget], '0.5');
    if (!held.ok) throw new Error('expected a hold');
    // A copy (as if serialized) counts its spend, but cannot release the hold: that expires.
    const copy = JSON.parse(JSON.stringify(held.reservation)) as typeof held.reservation;
    expect(copy).toEqual(held.reservation);
    expect(await state.settle(copy, '0.1')).toEqual({ recorded: true, spent: { [budget.scopeKey]: '0.1' }, alerts: [] });
    expect(await state.headroom([budget])).toMatchObject([{ spent: '0.1', reserved: '0.5' }]);
    await state.settle(held.reservation, '0.2');
    expect(await state.headroom([budget])).toMatchObject([{ spent: '0.3', reserved: '0' }]);
    await state.settle(held.reservation, '0.2');
    expect(await state.headroom([budget])).toMatchObject([{ spent: '0.5', reserved: '0' }]);
    await state.close();
  });

  it('sends settlements started together in one script call, each with its own result', async () => {
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix })) as RedisAccountingState;
    const first = scope('10', { alerts: [0.5] });
    const second = scope('10');
    const holds = await Promise.all([state.reserve([first], '1'), state.reserve([first, second], '6'), state.reserve([second], '2')]);
    const reservations = holds.map((held) => {
      if (!held.ok) throw new Error('expected a hold');
      return held.reservation;
    });
    const calls: string[] = [];
    const monitor = await state.redis.monitor();
    monitor.on('monitor', (_time: string, args: string[]) => {
      // Only this test's calls: the Redis may serve others meanwhile.
      if (String(args[0]).toLowerCase().startsWith('eval') && args.some((arg) => arg.includes(first.scopeKey) || arg.includes(second.scopeKey))) calls.push(String(args[0]));
    });
    const subject = uniqueName('key');
    const settled = await Promise.all([
      state.settle(reservations[0]!, '0.5'),
      state.settle(reservations[1]!, '5', { subject, tokens: 30 }),
      state.settle(reservations[2]!, '1.25'),
    ]);
    // The monitor feed may trail the replies a little.
    await new Promise((resolve) => setTimeout(resolve, 100));
    monitor.disconnect();
    expect(calls).toHaveLength(1);
    expect(settled).toEqual([
      { recorded: true, spent: { [first.scopeKey]: '0.5' }, alerts: [] },
      { recorded: true, spent: { [first.scopeKey]: '5.5', [second.scopeKey]: '5' }, alerts: [{ scopeKey: first.scopeKey, threshold: 0.5, spent: '5.5', limit: '10' }] },
      { recorded: true, spent: { [second.scopeKey]: '6.25' }, alerts: [] },
    ]);
    expect(await state.headroom([first, second])).toMatchObject([{ reserved: '0' }, { reserved: '0' }]);
    expect(await state.checkRate(subject, { tokensPerMinute: 100 })).toMatchObject({ tokens: { remaining: 70 } });
    await state.close();
  });

  it('sends admits started together in one script call, each answered on its own, in order', async () => {
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix })) as RedisAccountingState;
    const budget = scope('1');
    const subject = uniqueName('key');
    const limits = { requestsPerMinute: 3 };
    const calls: string[] = [];
    const monitor = await state.redis.monitor();
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (String(args[0]).toLowerCase().startsWith('eval') && args.some((arg) => arg.includes(budget.scopeKey))) calls.push(String(args[0]));
    });
    const admitted = await Promise.all([
      state.admit(subject, limits, [budget], '0.6'),
      state.admit(subject, limits, [budget], '0.6'),
      state.admit(subject, limits, [budget], '0.4'),
      state.admit(subject, limits, [budget], '0.1'),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    monitor.disconnect();
    expect(calls).toHaveLength(1);
    expect(admitted[0]).toMatchObject({ rate: { ok: true, requests: { remaining: 2 } }, hold: { ok: true, reservation: { amount: '0.6' } } });
    expect(admitted[1]).toMatchObject({ rate: { ok: true, requests: { remaining: 1 } }, hold: { ok: false, reason: 'limit_exceeded', exceeded: { reserved: '0.6', remaining: '0.4' } } });
    expect(admitted[2]).toMatchObject({ rate: { ok: true, requests: { remaining: 0 } }, hold: { ok: true } });
    expect(admitted[3]).toEqual({ rate: expect.objectContaining({ ok: false, reason: 'rate_limited', limited: 'requests' }) });
    expect(await state.headroom([budget])).toMatchObject([{ reserved: '1', remaining: '0' }]);
    await state.close();
  });

  it('merges admits of one subject and settlements of one hold group into one operation each, answering every request as if run one by one', async () => {
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix })) as RedisAccountingState;
    const budget = scope('10', { alerts: [0.5, 0.8] });
    const subject = uniqueName('key');
    const limits = { requestsPerMinute: 10 };
    const operations: unknown[][][] = [];
    const monitor = await state.redis.monitor();
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (String(args[0]).toLowerCase().startsWith('eval') && args.some((arg) => arg.includes(budget.scopeKey))) operations.push(JSON.parse(String(args[args.length - 1])) as unknown[][]);
    });
    const admitted = await Promise.all(['2', '2', '2', '5'].map((amount) => state.admit(subject, limits, [budget], amount)));
    expect(admitted.map((each) => each.rate.ok && each.rate.requests?.remaining)).toEqual([9, 8, 7, 6]);
    expect(admitted.map((each) => each.hold?.ok)).toEqual([true, true, true, false]);
    const reservations = admitted.slice(0, 3).map((each) => {
      if (!each.hold?.ok) throw new Error('expected a hold');
      return each.hold.reservation;
    });
    const settled = await Promise.all(['1', '4', '0.5'].map((actual, index) => state.settle(reservations[index]!, actual, { subject, tokens: 10 + index })));
    await new Promise((resolve) => setTimeout(resolve, 100));
    monitor.disconnect();
    // One call of one admit operation (four amounts), then one call of one settlement operation.
    expect(operations.map((call) => call.map((operation) => operation[0]))).toEqual([['a'], ['s']]);
    expect(operations[0]![0]!.length).toBe(10 + 4 * 2);
    // The settlement operation carried the sums: 6 held, 5.5 spent, 33 tokens.
    expect(operations[1]![0]!.slice(2, 9)).toEqual([33, expect.any(Number), expect.any(String), 6_000_000, 0, 5_500_000, 0]);
    // Each request's spent total as if settled in order; the 0.5 alert goes to the one that
    // crossed it (5 of 10), the middle one, not the last.
    expect(settled).toEqual([
      { recorded: true, spent: { [budget.scopeKey]: '1' }, alerts: [] },
      { recorded: true, spent: { [budget.scopeKey]: '5' }, alerts: [{ scopeKey: budget.scopeKey, threshold: 0.5, spent: '5', limit: '10' }] },
      { recorded: true, spent: { [budget.scopeKey]: '5.5' }, alerts: [] },
    ]);
    expect(await state.headroom([budget])).toMatchObject([{ spent: '5.5', reserved: '0' }]);
    expect(await state.checkRate(subject, { tokensPerMinute: 100 })).toMatchObject({ tokens: { remaining: 67 } });
    await state.close();
  });

  it('holds admits and settlements started while a script call is in flight, then sends them together in one call', async () => {
    // No spacing between calls here: only the call in flight holds the later ones back.
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix, callSpacingMs: 0 })) as RedisAccountingState;
    const budget = scope('1');
    const subject = uniqueName('key');
    const limits = { requestsPerMinute: 10 };
    const settledFirst = await state.reserve([budget], '0.2');
    if (!settledFirst.ok) throw new Error('expected a hold');
    // The first script call below takes 50 ms to reach Redis, as it would behind a slow network.
    const scriptCalls = watchScriptCalls(state, 50);
    const first = state.admit(subject, limits, [budget], '0.3');
    await nextTurn();
    await nextTurn();
    // Started in three later turns while the first call is out: none goes on its own.
    const second = state.admit(subject, limits, [budget], '0.3');
    await nextTurn();
    const settled = state.settle(settledFirst.reservation, '0.05');
    await nextTurn();
    const third = state.admit(subject, limits, [budget], '0.3');
    const answers = await Promise.all([first, second, settled, third]);
    expect(scriptCalls).toHaveLength(2);
    // In the order started: 0.2 held (then settled at 0.05), 0.3 + 0.3 fit, the last 0.3 only after the settlement freed 0.15.
    expect(answers[0]).toMatchObject({ rate: { ok: true, requests: { remaining: 9 } }, hold: { ok: true } });
    expect(answers[1]).toMatchObject({ rate: { ok: true, requests: { remaining: 8 } }, hold: { ok: true } });
    expect(answers[2]).toEqual({ recorded: true, spent: { [budget.scopeKey]: '0.05' }, alerts: [] });
    expect(answers[3]).toMatchObject({ rate: { ok: true, requests: { remaining: 7 } }, hold: { ok: true } });
    expect(await state.headroom([budget])).toMatchObject([{ spent: '0.05', reserved: '0.9', remaining: '0.05' }]);
    // With nothing in flight, a call goes at the end of its turn as before (headroom was a call of its own).
    const before = scriptCalls.length;
    const alone = await state.admit(subject, limits, [budget], '0.05');
    expect(alone).toMatchObject({ hold: { ok: true } });
    expect(scriptCalls).toHaveLength(before + 1);
    await state.close();
  });

  it('spaces script calls out under load: after a call of many operations, admits wait and go together; one at a time, they go at once', async () => {
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix, callSpacingMs: 100 })) as RedisAccountingState;
    const budget = scope('10');
    const subject = uniqueName('key');
    const limits = { requestsPerMinute: 100 };
    const scriptCalls = watchScriptCalls(state);
    // One client at a time: each admit is a call of one operation, and the next goes at once.
    for (let index = 0; index < 3; index++) expect(await state.admit(subject, limits, [budget], '0.1')).toMatchObject({ hold: { ok: true } });
    expect(scriptCalls).toHaveLength(3);
    expect((scriptCalls[2] as number) - (scriptCalls[0] as number)).toBeLessThan(100);
    // Under load: eight admits of one turn make one call of eight operations...
    const burst = await Promise.all(Array.from({ length: 8 }, () => state.admit(subject, limits, [budget], '0.1')));
    expect(burst.every((answer) => answer.hold?.ok)).toBe(true);
    expect(scriptCalls).toHaveLength(4);
    // ...so three admits started in the next turns wait for the spacing and go in one call.
    const later = [state.admit(subject, limits, [budget], '0.1')];
    await nextTurn();
    later.push(state.admit(subject, limits, [budget], '0.1'));
    await nextTurn();
    later.push(state.admit(subject, limits, [budget], '0.1'));
    const answers = await Promise.all(later);
    expect(scriptCalls).toHaveLength(5);
    expect((scriptCalls[4] as number) - (scriptCalls[3] as number)).toBeGreaterThanOrEqual(99);
    expect(answers.map((answer) => answer.rate.ok && answer.rate.requests?.remaining)).toEqual([88, 87, 86]);
    expect(answers.every((answer) => answer.hold?.ok)).toBe(true);
    // That call carried three: the next admit goes at once again.
    const before = performance.now();
    expect(await state.admit(subject, limits, [budget], '0.1')).toMatchObject({ hold: { ok: true } });
    expect(scriptCalls).toHaveLength(6);
    expect((scriptCalls[5] as number) - before).toBeLessThan(50);
    await state.close();
  });

  it('runs a call\'s settlements first, then its admits and holds in order, each seeing the ones before it', async () => {
    const clock = manualClock();
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix, clock: clock.now })) as RedisAccountingState;
    const budget = scope('1', { alerts: [0.5, 0.8], periodEndsAt: clock.now() + 60_000 });
    const subject = uniqueName('key');
    const limits = { requestsPerMinute: 3, tokensPerMinute: 50 };
    const first = await state.admit(subject, limits, [budget], '0.6');
    if (!first.hold?.ok) throw new Error('expected a hold');
    const [settled, second, third, fourth] = await Promise.all([
      state.settle(first.hold.reservation, '0.55', { subject, tokens: 50 }),
      state.admit(subject, limits, [budget], '0.3'),
      state.reserve([budget], '0.1'),
      state.settle(first.hold.reservation, '0.3'),
    ]);
    // Both settlements ran before the admit and the hold, though started between them: the first
    // released the 0.6 hold, the second added 0.3 without a hold to release (0.85 spent); the token
    // window is full, and 0.1 more still fits (0.2 would not).
    expect(settled).toEqual({ recorded: true, spent: { [budget.scopeKey]: '0.55' }, alerts: [{ scopeKey: budget.scopeKey, threshold: 0.5, spent: '0.55', limit: '1' }] });
    expect(second).toEqual({ rate: expect.objectContaining({ ok: false, limited: 'tokens' }) });
    expect(third).toMatchObject({ ok: true });
    // Settling the same reservation again releases nothing more; 0.8 fires once.
    expect(fourth).toEqual({ recorded: true, spent: { [budget.scopeKey]: '0.85' }, alerts: [{ scopeKey: budget.scopeKey, threshold: 0.8, spent: '0.85', limit: '1' }] });
    expect(await state.headroom([budget])).toMatchObject([{ spent: '0.85', reserved: '0.1' }]);
    const fields = await state.redis.hgetall(`${prefix}scope:${budget.scopeKey}`);
    expect(fields).toMatchObject({ 'alert:0.5': '1', 'alert:0.8': '1' });
    // The hold still held is a field of the scope hash, under its time to live.
    expect(Object.keys(fields).filter((field) => field.startsWith('h:'))).toHaveLength(1);
    expect(await state.redis.pttl(`${prefix}scope:${budget.scopeKey}`)).toBeGreaterThan(24 * 3_600_000);
    const rateKeys = await state.redis.keys(`${prefix}rate:${subject}:*`);
    expect(rateKeys).toHaveLength(2);
    for (const key of rateKeys) expect(await state.redis.pttl(key)).toBeGreaterThan(0);
    expect(await state.checkRate(subject, limits)).toMatchObject({ ok: false, limited: 'tokens', requests: { remaining: 2 } });
    await state.close();
  });

  it('fails one operation of a script call alone when its keys are broken', async () => {
    const errors: unknown[] = [];
    const state = (await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix, onError: (error) => errors.push(error) })) as RedisAccountingState;
    const broken = scope('1');
    const sound = scope('1');
    await state.redis.set(`${prefix}scope:${broken.scopeKey}`, 'not a hash');
    const [refused, held] = await Promise.all([state.reserve([broken], '0.1'), state.reserve([sound], '0.1')]);
    expect(refused).toMatchObject({ ok: false, reason: 'state_unavailable', message: expect.stringMatching(/WRONGTYPE/) });
    expect(held).toMatchObject({ ok: true, reservation: { enforced: true } });
    expect(errors).toHaveLength(1);
    await state.close();
  });

  it('shares one ledger between two processes: 200 concurrent requests never overspend $1.00', async () => {
    const budget: ScopeLimit = { scopeKey: `two-process|global=all|${uniqueName('p')}`, limit: '1' };
    const startWorker = (seed: number) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'reserve-worker.ts'), REDIS_URL, prefix, JSON.stringify(budget), '100', String(seed)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      let output = '';
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString('utf8');
          if (output.includes('READY\n')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
      });
      const result = new Promise<{ settled: string[]; refused: number }>((resolve, reject) => {
        child.once('exit', (code) => {
          const line = /^RESULT (.+)$/m.exec(output);
          if (code === 0 && line) resolve(JSON.parse(line[1]!) as { settled: string[]; refused: number });
          else reject(new Error(`worker exited with ${code}: ${output}`));
        });
      });
      return { child, ready, result };
    };
    const workers = [startWorker(11), startWorker(29)];
    // Both processes are connected before either sends a request, so they really compete.
    await Promise.all(workers.map((worker) => worker.ready));
    for (const worker of workers) worker.child.stdin.end('GO\n');
    const [first, second] = await Promise.all(workers.map((worker) => worker.result));
    if (!first || !second) throw new Error('expected two results');
    const settled = [...first.settled, ...second.settled];
    expect(settled.length + first.refused + second.refused).toBe(200);
    expect(first.settled.length).toBeGreaterThan(0);
    expect(second.settled.length).toBeGreaterThan(0);
    expect(first.refused + second.refused).toBeGreaterThan(0);
    const state = await openAccountingState({ kind: 'redis', url: REDIS_URL, prefix });
    const [headroom] = await state.headroom([budget]);
    // The ledger equals the sum of what the two processes settled, to 10^-18 USD (so to the micro-dollar).
    expect(headroom?.spent).toBe(addDecimals(...settled));
    expect(headroom?.reserved).toBe('0');
    // Real costs never exceed the worst case held, so the limit itself holds, not just limit + one request.
    expect(compareDecimals(headroom?.spent ?? '0', '1')).toBeLessThanOrEqual(0);
    await state.close();
  });

  describe('when Redis is unreachable', () => {
    const unreachable = 'redis://127.0.0.1:1';
    it('refuses with fail: closed', async () => {
      const errors: unknown[] = [];
      const state = new RedisAccountingState({ url: unreachable, fail: 'closed', onError: (error) => errors.push(error), redis: { retryStrategy: () => null } });
      const result = await state.reserve([scope('1')], '0.1');
      expect(result).toMatchObject({ ok: false, reason: 'state_unavailable' });
      expect(await state.checkRate('k', { requestsPerMinute: 1 })).toMatchObject({ ok: false, reason: 'state_unavailable' });
      expect(await state.admit('k', { requestsPerMinute: 1 }, [scope('1')], '0.1')).toEqual({ rate: expect.objectContaining({ ok: false, reason: 'state_unavailable' }) });
      expect(errors.length).toBeGreaterThan(0);
      state.redis.disconnect();
    });

    it('lets requests through unenforced with fail: open', async () => {
      const state = new RedisAccountingState({ url: unreachable, fail: 'open', redis: { retryStrategy: () => null } });
      const result = await state.reserve([scope('1')], '0.1');
      expect(result).toMatchObject({ ok: true, reservation: { enforced: false, amount: '0.1' } });
      if (result.ok) expect(await state.settle(result.reservation, '0.05')).toEqual({ recorded: false, spent: {}, alerts: [] });
      expect(await state.checkRate('k', { requestsPerMinute: 1 })).toEqual({ ok: true });
      const admitted = await state.admit('k', { requestsPerMinute: 1 }, [scope('1')], '0.1');
      expect(admitted).toMatchObject({ rate: { ok: true }, hold: { ok: true, reservation: { enforced: false } } });
      if (admitted.hold?.ok) expect(await state.settle(admitted.hold.reservation, '0.05', { subject: 'k', tokens: 10 })).toEqual({ recorded: false, spent: {}, alerts: [] });
      state.redis.disconnect();
    });

    it('fails loudly at startup', async () => {
      await expect(openAccountingState({ kind: 'redis', url: unreachable, redis: { retryStrategy: () => null } })).rejects.toThrow(/Redis is unreachable at redis:\/\/127.0.0.1:1/);
    });
  });
});

describe('scopes', () => {
  const now = new Date('2026-11-25T11:30:00Z');
  it('turns a policy budget into a scope with its period end', () => {
    expect(budgetScopeLimit({ id: 'team-daily', scope: 'team', period: 'day', limit: 25.5, alerts: [0.5, 0.8, 1] }, 'team-daily|team=ml|2026-11-25', now)).toEqual({
      scopeKey: 'team-daily|team=ml|2026-11-25',
      limit: '25.5',
      alerts: [0.5, 0.8, 1],
      periodEndsAt: Date.parse('2026-11-26T00:00:00Z'),
    });
  });

  it('names a key limit scope by its reset period', () => {
    const key = { hash: 'abc', limit: '10', limit_reset: 'weekly' } as const;
    const record = { ...key, name: 'k', label: 'l', is_management_key: false, disabled: false, user: null, team: null, created_at: '', updated_at: '', expires_at: null, revoked_at: null };
    expect(keyLimitScope(record, now)).toMatchObject({ scopeKey: 'key-limit|key=abc|2026-11-23', limit: '10', periodEndsAt: Date.parse('2026-11-30T00:00:00Z') });
    expect(keyLimitScope({ ...record, limit_reset: null }, now)?.scopeKey).toBe('key-limit|key=abc|lifetime');
    expect(keyLimitScope({ ...record, limit: null }, now)).toBeNull();
  });
});
