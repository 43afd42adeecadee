/**
 * What the bench's diagnostics say, as text.
 *
 * `node bench/profile-summary.mjs <file.cpuprofile> [pattern ...]`: a CPU profile written by
 * `BENCH_PROFILE_DIR=... npm run bench:gateway`.
 *   - self time by function (top 40), as a share of all samples;
 *   - for each pattern (a regular expression matched against "function-name url"), the share of the
 *     busy time (idle excluded) spent in matching functions or anything they called.
 * `node bench/profile-summary.mjs <file.heapprofile> <requests>`: an allocation profile
 *   (`BENCH_PROFILE_HEAP=1`): bytes sampled per request (the phase's request count, e.g. the
 *   saturation phase's `gateway_rps` x 3), and the top allocation sites.
 * `node bench/profile-summary.mjs --nvp <bench output>`: the output of `BENCH_GATEWAY_STDOUT=1
 *   BENCH_GATEWAY_FLAGS=--trace-gc-nvp npm run bench:gateway`: for the gateway (the pid the bench
 *   prints), per second of its life, the scavenges, their pause time and the bytes they
 *   promoted (the fixed-rate phase is the four seconds at about 15 scavenges a second before the
 *   saturation burst).
 */
import { readFileSync } from 'node:fs';

const [file, ...patterns] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [pattern ...] | <file.heapprofile> <requests> | --nvp <bench output>');
  process.exit(2);
}

if (file === '--nvp') {
  const lines = readFileSync(patterns[0] ?? '', 'utf8').split('\n').filter((line) => line.includes('gc=s'));
  const byProcess = new Map();
  for (const line of lines) {
    const owner = /^\[(\d+):/.exec(line)?.[1];
    if (owner) byProcess.set(owner, [...(byProcess.get(owner) ?? []), line]);
  }
  // The bench names the gateway's pid; without that line, the process with the most scavenges.
  const named = /gateway pid (\d+)/.exec(readFileSync(patterns[0] ?? '', 'utf8'))?.[1];
  const gateway = (named ? byProcess.get(named) : undefined) ?? [...byProcess.values()].sort((left, right) => right.length - left.length)[0] ?? [];
  const seconds = new Map();
  for (const line of gateway) {
    const second = Math.floor(Number(/\]\s+(\d+) ms:/.exec(line)?.[1] ?? 0) / 1000);
    const entry = seconds.get(second) ?? { scavenges: 0, pauseMs: 0, promoted: 0 };
    entry.scavenges += 1;
    entry.pauseMs += Number(/\bpause=([\d.]+)/.exec(line)?.[1] ?? 0);
    entry.promoted += Number(/\bpromoted=(\d+)/.exec(line)?.[1] ?? 0);
    seconds.set(second, entry);
  }
  console.log('second  scavenges  pause ms  promoted KB');
  for (const [second, entry] of [...seconds].sort((left, right) => left[0] - right[0])) {
    console.log(`${String(second).padStart(6)}  ${String(entry.scavenges).padStart(9)}  ${entry.pauseMs.toFixed(1).padStart(8)}  ${String(Math.round(entry.promoted / 1024)).padStart(11)}`);
  }
  process.exit(0);
}

if (file.endsWith('.heapprofile')) {
  const requests = Number(patterns[0]);
  const heap = JSON.parse(readFileSync(file, 'utf8'));
  const sites = new Map();
  let bytes = 0;
  const walk = (node) => {
    bytes += node.selfSize;
    const key = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${node.callFrame.lineNumber + 1}`;
    sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(heap.head);
  console.log(`${(bytes / 1e6).toFixed(1)} MB sampled${requests > 0 ? `, ${Math.round(bytes / requests)} bytes per request` : ''}`);
  for (const [key, size] of [...sites].sort((left, right) => right[1] - left[1]).slice(0, 30)) {
    console.log(`  ${((100 * size) / bytes).toFixed(1).padStart(5)} %  ${requests > 0 ? `${Math.round(size / requests)} B/request  ` : ''}${key}`);
  }
  process.exit(0);
}

const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);

/** Sampled time per node, µs. */
const self = new Map();
let total = 0;
for (let index = 0; index < profile.samples.length; index++) {
  const delta = profile.timeDeltas[index] ?? 0;
  total += delta;
  self.set(profile.samples[index], (self.get(profile.samples[index]) ?? 0) + delta);
}
const label = (node) => `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}`;
let idle = 0;
const byFunction = new Map();
for (const [id, time] of self) {
  const node = nodes.get(id);
  if (node.callFrame.functionName === '(idle)') idle += time;
  const key = `${label(node)}:${node.callFrame.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + time);
}
const share = (time, of) => `${((100 * time) / of).toFixed(1).padStart(5)} %`;

console.log(`${(total / 1000).toFixed(0)} ms sampled, ${share(idle, total)} idle`);
console.log('self time by function, share of all samples:');
for (const [key, time] of [...byFunction].sort((left, right) => right[1] - left[1]).slice(0, 40)) console.log(`  ${share(time, total)}  ${key}`);

if (patterns.length > 0) {
  const busy = total - idle;
  console.log('inclusive time, share of busy time:');
  for (const pattern of patterns) {
    const expression = new RegExp(pattern);
    let time = 0;
    for (const [id, sampled] of self) {
      // Counted once per sample, at its nearest matching frame.
      for (let current = id; current !== undefined; current = parents.get(current)) {
        if (expression.test(label(nodes.get(current)))) {
          time += sampled;
          break;
        }
      }
    }
    console.log(`  ${share(time, busy)}  ${pattern}`);
  }
}
