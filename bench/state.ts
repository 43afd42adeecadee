/**
 * `npm run bench:state`: what the accounting state costs per request, memory vs Redis.
 *
 * Each request admits (rate check + worst-case hold against a key credit limit and a global
 * budget) and settles a cost with a token count, through the state API exactly as
 * sidecar/http/request-accounting.ts calls it, 32 requests in flight. Memory state is the
 * baseline; the Redis state runs against REDIS_URL (default redis://127.0.0.1:6379) under a
 * unique key prefix, deleted afterwards. For each: this process's CPU per request, requests/s,
 * and for Redis the redis-server's own CPU per request (from /proc, Linux), the Redis commands per
 * request (INFO commandstats, commands run inside scripts included) and the script calls per
 * request (EVALSHA). 3 rounds of N (default 20,000); medians. Last line: JSON.
 */
import { Redis } from 'ioredis';
import type { ApiKeyRecord } from '../sidecar/store/keys.ts';
import { budgetScopeLimit, keyLimitScope, openAccountingState, type AccountingState } from '../sidecar/state/index.ts';
import { deleteRedisPrefix } from '../test/accounting/fixtures/services.ts';
import { redisCommands, redisServerCpu } from './cpu-probe.ts';

const N = Number(process.env.N ?? 20_000);
const CONCURRENCY = 32;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const LIMITS = { requestsPerMinute: 100_000_000, tokensPerMinute: 1_000_000_000 };
const KEY: ApiKeyRecord = { hash: 'bench0123456789abcdef', name: 'bench', label: 'bench', limit: '1000000', limit_reset: 'monthly', is_management_key: false, disabled: false, user: null, team: null, created_at: '', updated_at: '', expires_at: null, revoked_at: null };
const BUDGET = { id: 'bench-global', scope: 'global', period: 'month', limit: 1_000_000_000 } as const;

async function drive(state: AccountingState, count: number): Promise<void> {
  const now = new Date();
  const scopes = [keyLimitScope(KEY, now), budgetScopeLimit(BUDGET, 'bench-global|global=all', now)].filter((scope) => scope !== null);
  const settling: Promise<unknown>[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started < count) {
        const index = started++;
        const admitted = await state.admit(KEY.hash, LIMITS, scopes, `0.00${2000 + (index % 997)}`);
        if (!admitted.rate.ok || !admitted.hold?.ok) throw new Error(`refused: ${JSON.stringify(admitted)}`);
        // The provider call: at least one event-loop turn.
        await new Promise((resolve) => setImmediate(resolve));
        settling.push(state.settle(admitted.hold.reservation, `0.000${1000 + (index % 991)}`, { subject: KEY.hash, tokens: 1234 }));
      }
    }),
  );
  await Promise.all(settling);
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function measure(kind: 'memory' | 'redis') {
  const prefix = `switchyard-bench-state-${process.pid}:`;
  const state = await openAccountingState(kind === 'redis' ? { kind: 'redis', url: REDIS_URL, prefix } : { kind: 'memory' });
  const redis = kind === 'redis' ? new Redis(REDIS_URL) : undefined;
  try {
    await drive(state, 2_000);
    const rounds = [];
    for (let round = 0; round < 3; round++) {
      const cpuBefore = process.cpuUsage();
      const serverBefore = redisServerCpu();
      const commandsBefore = redis ? await redisCommands(redis) : { all: 0, scripts: 0 };
      const began = performance.now();
      await drive(state, N);
      const seconds = (performance.now() - began) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const server = redis ? (redisServerCpu() - serverBefore) / N : 0;
      const commandsAfter = redis ? await redisCommands(redis) : { all: 0, scripts: 0 };
      rounds.push({
        cpu: (cpu.user + cpu.system) / N,
        rps: N / seconds,
        server,
        // Less the INFO call itself.
        commands: redis ? (commandsAfter.all - commandsBefore.all - 1) / N : 0,
        scripts: (commandsAfter.scripts - commandsBefore.scripts) / N,
      });
    }
    return {
      cpu_us: Number(median(rounds.map((round) => round.cpu)).toFixed(1)),
      rps: Math.round(median(rounds.map((round) => round.rps))),
      redis_server_cpu_us: Number(median(rounds.map((round) => round.server)).toFixed(1)),
      redis_commands: Number(median(rounds.map((round) => round.commands)).toFixed(2)),
      redis_script_calls: Number(median(rounds.map((round) => round.scripts)).toFixed(3)),
    };
  } finally {
    await state.close();
    if (redis) {
      await deleteRedisPrefix(prefix);
      await redis.quit();
    }
  }
}

const memory = await measure('memory');
const redis = await measure('redis');
console.log(`memory state: ${memory.cpu_us} µs CPU/request, ${memory.rps} requests/s`);
console.log(`redis state:  ${redis.cpu_us} µs CPU/request (${(redis.cpu_us / memory.cpu_us).toFixed(2)}x memory), ${redis.rps} requests/s; redis-server ${redis.redis_server_cpu_us} µs CPU/request; ${redis.redis_commands} Redis commands/request (${redis.redis_script_calls} script calls)`);
console.log(JSON.stringify({ memory, redis, redis_vs_memory_cpu: Number((redis.cpu_us / memory.cpu_us).toFixed(2)), n: N, concurrency: CONCURRENCY }));
