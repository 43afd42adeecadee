/**
 * `npm run bench:engine`: how long evaluate() takes on a large catalog with the shipped policy.
 *
 * Catalog: policies/catalog.yaml + simulated.yaml plus generated models and providers, 300 models
 * and 1,000 endpoints in all. Policy: policies/default.yaml. Snapshot: health for every endpoint.
 * Measures one call at a time (hrtime around each call) after a warm-up, for a named model, for
 * `auto` over the policy's candidates and for `auto` over the whole catalog, and the same named
 * request under an empty policy as the baseline. Targets (engine/README.md): named median < 10 us,
 * p99 < 50 us; auto p99 < 200 us. Ends with one JSON line of the figures.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { compileCatalog, compilePolicy, evaluate, requestFacts, type Catalog, type CompiledCatalog, type CompiledPolicy, type RequestFacts, type Snapshot } from '../engine/index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET_MODELS = 300;
const TARGET_ENDPOINTS = 1000;
const WARMUP = 20_000;
const SAMPLES = 50_000;
const NOW = Date.UTC(2026, 10, 25, 12);

function read(relative: string): { text: string; file: string } {
  return { text: readFileSync(join(ROOT, relative), 'utf8'), file: relative };
}

/** A deterministic generator so every run benchmarks the same catalog. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

function generatedCatalog(existingModels: number, existingEndpoints: number): Catalog {
  const random = lcg(7);
  const providerCount = 40;
  const providers: Catalog['providers'] = Array.from({ length: providerCount }, (_, index) => ({
    id: `bench-${index}`,
    name: `Bench Provider ${index}`,
    protocol: 'simulated',
    data_policy: { trains_on_prompts: index % 5 === 0, retention_days: index % 5 === 0 ? 30 : 0, zdr: index % 3 === 0 },
    region: index % 4 === 0 ? 'eu' : 'us',
    status: 'active',
  }));
  const modelCount = TARGET_MODELS - existingModels;
  let endpointsLeft = TARGET_ENDPOINTS - existingEndpoints;
  const models: Catalog['models'] = [];
  for (let index = 0; index < modelCount; index++) {
    const modelsLeft = modelCount - index;
    // Spread the remaining endpoints evenly, 1..6 per model.
    const share = Math.max(1, Math.min(6, Math.round(endpointsLeft / modelsLeft + (random() - 0.5) * 2)));
    const count = index === modelCount - 1 ? Math.max(1, endpointsLeft) : Math.min(share, endpointsLeft - (modelsLeft - 1));
    endpointsLeft -= count;
    const first = Math.floor(random() * providerCount);
    const base = 0.1 + random() * 15;
    models.push({
      id: `bench/model-${index}`,
      name: `Bench Model ${index}`,
      context_length: [8192, 32_768, 131_072, 200_000][index % 4]!,
      input_modalities: index % 3 === 0 ? ['text', 'image'] : ['text'],
      output_modalities: ['text'],
      endpoints: Array.from({ length: count }, (_, offset) => ({
        provider: `bench-${(first + offset * 7) % providerCount}`,
        upstream_model: `model-${index}`,
        pricing: { prompt: ((base * (1 + offset * 0.15)) / 1e6).toFixed(12), completion: ((base * 4 * (1 + offset * 0.15)) / 1e6).toFixed(12) },
        quantization: (['fp8', 'bf16', 'fp16', 'int8'] as const)[offset % 4]!,
        supported_parameters: ['max_tokens', 'temperature', 'top_p', 'stop', 'tools', 'tool_choice', 'response_format'],
      })),
    });
  }
  return { providers, models };
}

function compiled(): { catalog: CompiledCatalog; policy: CompiledPolicy; empty: CompiledPolicy } {
  const shipped = [read('policies/catalog.yaml'), read('policies/simulated.yaml')];
  const base = compileCatalog(shipped);
  if (!base.ok) throw new Error(`shipped catalog does not compile: ${JSON.stringify(base.diagnostics)}`);
  const extra = generatedCatalog(base.value.models.size, base.value.endpoints.length);
  const full = compileCatalog([...shipped, { text: stringify(extra), file: 'bench-generated.yaml' }]);
  if (!full.ok) throw new Error(`generated catalog does not compile: ${JSON.stringify(full.diagnostics.slice(0, 3))}`);
  const policySource = read('policies/default.yaml');
  const policy = compilePolicy(policySource.text, policySource.file, full.value);
  if (!policy.ok) throw new Error(`policies/default.yaml does not compile: ${JSON.stringify(policy.diagnostics.slice(0, 3))}`);
  const empty = compilePolicy('version: 1\nid: empty\n', 'empty.yaml', full.value);
  if (!empty.ok) throw new Error('empty policy does not compile');
  return { catalog: full.value, policy: policy.value, empty: empty.value };
}

function snapshotFor(catalog: CompiledCatalog): Snapshot {
  const random = lcg(11);
  const endpoints: NonNullable<Snapshot['endpoints']> = {};
  for (const endpoint of catalog.endpoints) {
    endpoints[endpoint.id] = {
      error_rate: random() * 0.05,
      recently_failed: random() < 0.03,
      circuit: random() < 0.01 ? 'open' : 'closed',
      latency_ms: { p50: 150 + Math.floor(random() * 900), p90: 400 + Math.floor(random() * 2000) },
      throughput: { p50: 20 + Math.floor(random() * 200), p90: 10 + Math.floor(random() * 100) },
      uptime: 95 + random() * 5,
      rate_limit_remaining: 100,
    };
  }
  return { endpoints, spend: { [`org-monthly|global=*|2026-11`]: 1234.5, [`team-daily|team=ml|2026-11-25`]: 12.5 } };
}

function factsFor(body: Record<string, unknown>, policy: CompiledPolicy): RequestFacts {
  const result = requestFacts(
    { messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'Summarise the attached meeting notes in five bullet points. '.repeat(20) }], max_tokens: 512, temperature: 0.3, user: 'user-42', ...body },
    { 'x-interactive': 'true' },
    { key: 'key-1', team: 'ml' },
    { exposeHeaders: policy.exposeHeaders },
  );
  if (!result.ok) throw new Error(result.error.message);
  return result.facts;
}

interface Figures {
  median: number;
  p99: number;
  mean: number;
}

/** Microseconds per evaluate() call, one call per sample. */
function measure(name: string, policy: CompiledPolicy, catalog: CompiledCatalog, facts: RequestFacts, snapshot: Snapshot): Figures {
  const check = evaluate(policy, catalog, facts, snapshot, { now: NOW, seed: 1 });
  if (!check.ok) throw new Error(`${name}: ${check.error.message}`);
  let sink = 0;
  for (let index = 0; index < WARMUP; index++) sink += evaluate(policy, catalog, facts, snapshot, { now: NOW, seed: index }).ok ? 1 : 0;
  const samples = new Float64Array(SAMPLES);
  for (let index = 0; index < SAMPLES; index++) {
    const start = process.hrtime.bigint();
    const result = evaluate(policy, catalog, facts, snapshot, { now: NOW, seed: index });
    samples[index] = Number(process.hrtime.bigint() - start) / 1000;
    sink += result.ok ? 1 : 0;
  }
  if (sink === 0) throw new Error('no plan produced');
  samples.sort();
  let total = 0;
  for (const sample of samples) total += sample;
  return { median: samples[Math.floor(SAMPLES / 2)]!, p99: samples[Math.floor(SAMPLES * 0.99)]!, mean: total / SAMPLES };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function main(): void {
  const { catalog, policy, empty } = compiled();
  const snapshot = snapshotFor(catalog);
  const named = factsFor({ model: 'openai/gpt-4o' }, policy);
  const auto = factsFor({ model: 'auto' }, policy);
  const allModelsPolicy: CompiledPolicy = { ...policy, auto: { strategy: policy.auto.strategy } };
  const fastestPolicy: CompiledPolicy = { ...policy, auto: { strategy: 'fastest' } };

  console.log(`catalog: ${catalog.models.size} models, ${catalog.endpoints.length} endpoints; policy ${policy.id}@${policy.version} (${policy.rules.length} rules)`);
  console.log(`${SAMPLES} samples per case after ${WARMUP} warm-up calls; microseconds per evaluate()`);
  const cases: Array<[string, Figures]> = [
    ['baseline: named model, empty policy', measure('baseline', empty, catalog, named, snapshot)],
    ['named model (openai/gpt-4o)', measure('named', policy, catalog, named, snapshot)],
    ['auto (policy candidates, cheapest)', measure('auto', policy, catalog, auto, snapshot)],
    ['auto (all 300 models, cheapest)', measure('auto-all', allModelsPolicy, catalog, auto, snapshot)],
    ['auto (all 300 models, fastest)', measure('auto-fastest', fastestPolicy, catalog, auto, snapshot)],
  ];
  for (const [label, figures] of cases) {
    console.log(`${label.padEnd(40)} median ${figures.median.toFixed(2).padStart(7)}  p99 ${figures.p99.toFixed(2).padStart(7)}  mean ${figures.mean.toFixed(2).padStart(7)}`);
  }
  const [baseline, namedFigures, autoFigures, autoAll, autoFastest] = cases.map(([, figures]) => figures) as [Figures, Figures, Figures, Figures, Figures];
  const ratio = namedFigures.median / baseline.median;
  console.log(`named / baseline median ratio: ${ratio.toFixed(2)}x (the cost of the policy's rules, constraints, budgets and targets)`);
  const targetsMet = namedFigures.median < 10 && namedFigures.p99 < 50 && autoFigures.p99 < 200 && autoAll.p99 < 200;
  console.log(`targets (named median < 10, p99 < 50; auto p99 < 200): ${targetsMet ? 'met' : 'MISSED'}`);
  console.log(
    JSON.stringify({
      models: catalog.models.size,
      endpoints: catalog.endpoints.length,
      named_median_us: round(namedFigures.median),
      named_p99_us: round(namedFigures.p99),
      auto_median_us: round(autoFigures.median),
      auto_p99_us: round(autoFigures.p99),
      auto_all_median_us: round(autoAll.median),
      auto_all_p99_us: round(autoAll.p99),
      auto_fastest_p99_us: round(autoFastest.p99),
      baseline_median_us: round(baseline.median),
      baseline_p99_us: round(baseline.p99),
      named_vs_baseline_ratio: round(ratio),
      targets_met: targetsMet,
    }),
  );
}

main();
