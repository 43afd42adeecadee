/**
 * CPU counters the benches take differences of: a thread's or a process's user + system CPU from
 * its /proc `stat` file (Linux), and what Redis itself spent for the benches that run the Redis
 * accounting state (redis-server's CPU, and the commands it ran from INFO commandstats).
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** User + system CPU so far in a /proc `stat` file (a process's or a thread's), µs; NaN where it cannot be read. */
export function statCpuMicroseconds(path: string): number {
  try {
    // Fields after the command name, which ends at the last ") " (it may hold spaces and parentheses).
    const fields = readFileSync(path, 'utf8').replace(/^.*\) /s, '').split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU time of the calling thread so far, µs (called on the main thread: the event loop's); NaN off Linux. */
export function threadCpuMicroseconds(): number {
  return statCpuMicroseconds('/proc/thread-self/stat');
}

/** redis-server's process id, looked up once (`pgrep`) by the first `redisServerCpu`. */
let redisServerPid: string | undefined;

/** redis-server's user + system CPU so far, µs (NaN where /proc or the process is not there). */
export function redisServerCpu(): number {
  try {
    redisServerPid ??= execSync('pgrep -x redis-server').toString().trim().split('\n')[0];
    return statCpuMicroseconds(`/proc/${redisServerPid}/stat`);
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
