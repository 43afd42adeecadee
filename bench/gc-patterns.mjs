/**
 * `npm run bench:gc-patterns`: code shapes that, on Node 20 (V8 11.3), keep short-lived request
 * objects alive through a scavenge, each next to the shape the gateway uses instead. The same paced
 * loop (one iteration per event-loop turn, a few KB of short-lived objects each, as a request at
 * 1,000 requests/s) runs once per row in a child with `--trace-gc-nvp`; printed: the share of the
 * allocated bytes that survived a scavenge, and the bytes promoted, over the last 15 scavenges.
 * A row far above 0.1 % promotes request objects to the old generation: slower scavenges, more
 * mark-compacts, a worse p99 (README, "Performance"). The last line is one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROWS = {
  'nothing else': () => undefined,
  'AbortController + listener (avoided)': (state) => {
    const controller = new AbortController();
    const listener = () => state;
    controller.signal.addEventListener('abort', listener);
    return () => controller.signal.removeEventListener('abort', listener);
  },
  'EventTarget + listener': (state) => {
    const target = new EventTarget();
    const listener = () => state;
    target.addEventListener('abort', listener);
    return () => target.removeEventListener('abort', listener);
  },
  'object spread (avoided)': (state) => {
    const served = { attempt: { provider: 'p' }, usage: { tokens: 2 }, finishReason: 'stop' };
    state.record = { ...served, status: 200, error: null };
  },
  'object literal': (state) => {
    const served = { attempt: { provider: 'p' }, usage: { tokens: 2 }, finishReason: 'stop' };
    state.record = { attempt: served.attempt, usage: served.usage, finishReason: served.finishReason, status: 200, error: null };
  },
};

async function child(name) {
  const row = ROWS[name];
  const body = Buffer.from(JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }));
  for (let i = 0; i < 30_000; i++) {
    const state = { parsed: JSON.parse(body.toString()), list: [1, 2, 3].map((x) => ({ x })) };
    const undo = row(state);
    await null;
    undo?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

if (process.argv[2]) {
  await child(process.argv[2]);
} else {
  const results = {};
  for (const name of Object.keys(ROWS)) {
    const run = spawnSync(process.execPath, ['--max-semi-space-size=4', '--trace-gc-nvp', fileURLToPath(import.meta.url), name], { encoding: 'utf8' });
    const scavenges = run.stdout.split('\n').filter((line) => line.includes('gc=s')).slice(-15);
    const sum = (field) => scavenges.reduce((total, line) => total + Number(new RegExp(`\\b${field}=(\\d+)`).exec(line)?.[1] ?? 0), 0);
    const allocated = sum('allocated');
    const survived = sum('new_space_survived');
    results[name] = { survived_share: Number((survived / allocated).toFixed(4)), promoted_kb: Math.round(sum('promoted') / 1024) };
    console.log(`${name.padEnd(40)} survived a scavenge: ${((100 * survived) / allocated).toFixed(1).padStart(5)} % of ${String(Math.round(allocated / 1024)).padStart(6)} KB allocated; promoted ${Math.round(sum('promoted') / 1024)} KB`);
  }
  console.log(JSON.stringify({ node: process.version, rows: results }));
}
