/**
 * `switchyard diff` on a generated 1,000-request sample: the shipped default policy against a
 * candidate that denies one provider, over the shipped catalogs.
 *
 * Prints the median and best time of the replay (both policies, every request), the same for a
 * baseline replay through one policy (so the ratio shows diff costs about two evaluations per
 * request), and the ratio to the 1-second target. Last line: one JSON object with the figures.
 *
 * Run: npx tsx bench/diff.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse, stringify } from 'yaml';
import { compileCatalog, compilePolicy, evaluate, requestFacts, DEFAULT_NOW, type CompiledPolicy } from '../engine/index.ts';
import { DIFF_DEFAULTS, diffPolicies, parseSample, type SampleRequest } from '../sidecar/cli/diff-report.ts';
import { DEFAULT_CATALOG_PATHS, DEFAULT_POLICY_PATH, readCatalogs } from '../sidecar/cli/files.ts';

const SAMPLE_SIZE = 1000;
const RUNS = 15;

function generateSample(size: number): string {
  const models = ['openai/gpt-4o-mini', 'openai/gpt-4o', 'meta-llama/llama-3.3-70b-instruct', 'fast', 'smart', 'auto', 'anthropic/claude-3.5-haiku', 'google/gemini-2.5-flash', 'deepseek/deepseek-chat'];
  const teams = ['ml', 'eu-sales', 'web', undefined];
  const lines: string[] = [];
  for (let index = 0; index < size; index += 1) {
    const request = {
      model: models[index % models.length],
      messages: [{ role: 'user', content: `Question ${index}: ${'context '.repeat((index * 7) % 300)}` }],
      max_tokens: 64 + ((index * 13) % 900),
      stream: index % 4 === 0,
    };
    const team = teams[index % teams.length];
    const headers = index % 5 === 0 ? { 'x-confidential': 'true' } : {};
    lines.push(JSON.stringify(index % 2 === 0 ? request : { request, headers, user: `user-${index % 37}`, ...(team ? { team } : {}) }));
  }
  return lines.join('\n');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function replayOnce(policy: CompiledPolicy, requests: readonly SampleRequest[], catalog: Parameters<typeof evaluate>[1]): number {
  let planned = 0;
  for (const request of requests) {
    const facts = requestFacts(request.body, request.headers, request.identity, { exposeHeaders: policy.exposeHeaders });
    if (facts.ok && evaluate(policy, catalog, facts.facts, {}, { now: DEFAULT_NOW, seed: request.hash }).ok) planned += 1;
  }
  return planned;
}

const catalogResult = compileCatalog(readCatalogs(undefined));
if (!catalogResult.ok) throw new Error(`catalog does not compile: ${catalogResult.diagnostics[0]?.message ?? ''}`);
const catalog = catalogResult.value;
const oldText = readFileSync(DEFAULT_POLICY_PATH, 'utf8');
const candidate = parse(oldText) as { id: string; require?: { providers?: { deny?: string[] } } };
candidate.id = 'default-candidate';
candidate.require = { ...candidate.require, providers: { ...candidate.require?.providers, deny: ['sim-cheap'] } };
const oldPolicy = compilePolicy(oldText, DEFAULT_POLICY_PATH, catalog);
const newPolicy = compilePolicy(stringify(candidate), 'candidate.yaml', catalog);
if (!oldPolicy.ok || !newPolicy.ok) throw new Error('policies do not compile');

const sample = parseSample(generateSample(SAMPLE_SIZE));
const settings = { snapshot: {}, now: DEFAULT_NOW, seed: 0, completionTokens: DIFF_DEFAULTS.completionTokens, defaultLatencyMs: DIFF_DEFAULTS.defaultLatencyMs, limit: DIFF_DEFAULTS.limit };

const diffTimes: number[] = [];
const baselineTimes: number[] = [];
let changed = 0;
for (let run = 0; run < RUNS; run += 1) {
  let started = performance.now();
  replayOnce(oldPolicy.value, sample.requests, catalog);
  baselineTimes.push(performance.now() - started);
  started = performance.now();
  changed = diffPolicies(oldPolicy.value, newPolicy.value, catalog, sample.requests, settings).changed;
  diffTimes.push(performance.now() - started);
}

const diffMedian = median(diffTimes);
const baselineMedian = median(baselineTimes);
console.log(`catalogs: ${DEFAULT_CATALOG_PATHS.map((path) => join('policies', path.split('/').at(-1) ?? '')).join(' + ')}; sample: ${sample.requests.length} requests; ${RUNS} runs`);
console.log(`diff (two policies):      median ${diffMedian.toFixed(1)} ms, best ${Math.min(...diffTimes).toFixed(1)} ms, first run ${diffTimes[0]?.toFixed(1)} ms`);
console.log(`baseline (one policy):    median ${baselineMedian.toFixed(1)} ms`);
console.log(`ratio diff / baseline:    ${(diffMedian / baselineMedian).toFixed(2)}`);
console.log(`ratio to the 1 s target:  ${(diffMedian / 1000).toFixed(3)} (first run ${((diffTimes[0] ?? 0) / 1000).toFixed(3)})`);
console.log(`first provider changed:   ${changed} of ${sample.requests.length}`);
console.log(
  JSON.stringify({
    requests: sample.requests.length,
    diff_median_ms: Number(diffMedian.toFixed(2)),
    diff_first_run_ms: Number((diffTimes[0] ?? 0).toFixed(2)),
    baseline_median_ms: Number(baselineMedian.toFixed(2)),
    ratio_to_baseline: Number((diffMedian / baselineMedian).toFixed(3)),
    ratio_to_one_second: Number((diffMedian / 1000).toFixed(4)),
    changed,
  }),
);
