/**
 * `npm run bench:signal-gc`: why attempts do not use Node's AbortController (see
 * sidecar/execute/attempt-signal.ts). The same paced loop (one iteration per event-loop turn, a
 * few KB of short-lived objects each) three ways: nothing else, one Node `AbortSignal` with a
 * listener per iteration, one plain `EventTarget` with a listener per iteration. Each runs in a
 * child with `--trace-gc-nvp`; printed: the share of allocated bytes that survived a scavenge and
 * the bytes promoted, over the last 15 scavenges. The last line is one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MODES = ['none', 'abort-signal', 'event-target'];

async function child(mode) {
  const body = Buffer.from(JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }));
  for (let i = 0; i < 30_000; i++) {
    const state = { parsed: JSON.parse(body.toString()), list: [1, 2, 3].map((x) => ({ x })) };
    const listener = () => state;
    if (mode === 'abort-signal') {
      const controller = new AbortController();
      controller.signal.addEventListener('abort', listener);
      await null;
      controller.signal.removeEventListener('abort', listener);
    } else if (mode === 'event-target') {
      const target = new EventTarget();
      target.addEventListener('abort', listener);
      await null;
      target.removeEventListener('abort', listener);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

if (process.argv[2]) {
  await child(process.argv[2]);
} else {
  const results = {};
  for (const mode of MODES) {
    const run = spawnSync(process.execPath, ['--max-semi-space-size=4', '--trace-gc-nvp', fileURLToPath(import.meta.url), mode], { encoding: 'utf8' });
    const scavenges = run.stdout.split('\n').filter((line) => line.includes('gc=s')).slice(-15);
    const sum = (field) => scavenges.reduce((total, line) => total + Number(new RegExp(`\\b${field}=(\\d+)`).exec(line)?.[1] ?? 0), 0);
    const allocated = sum('allocated');
    const survived = sum('new_space_survived');
    results[mode] = { survived_share: Number((survived / allocated).toFixed(4)), promoted_kb: Math.round(sum('promoted') / 1024), allocated_kb: Math.round(allocated / 1024) };
    console.log(`${mode.padEnd(13)} survived a scavenge: ${((100 * survived) / allocated).toFixed(1)} % of ${Math.round(allocated / 1024)} KB allocated; promoted ${Math.round(sum('promoted') / 1024)} KB`);
  }
  console.log(JSON.stringify(results));
}
