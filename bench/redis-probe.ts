/**
 * What Redis itself spends, for the benches that run the Redis accounting state: redis-server's
 * CPU (from /proc, Linux) and the commands it ran (INFO commandstats). Counters only; the benches
 * take differences around what they measure.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** redis-server's user + system CPU so far, µs (NaN where /proc or the process is not there). */
export function redisServerCpu(): number {
  try {
    const pid = execSync('pgrep -x redis-server').toString().trim().split('\n')[0];
    const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100);
  } catch {
    return Number.NaN;
  }
}

/** Total calls in INFO commandstats, and those of EVALSHA (the state's script calls). */
export async function redisCommands(redis: Redis): Promise<{ all: number; scripts: number }> {
  const info = await redis.info('commandstats');
  let all = 0;
  for (const match of info.matchAll(/calls=(\d+)/g)) all += Number(match[1]);
  return { all, scripts: Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0) };
}
