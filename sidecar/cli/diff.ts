/**
 * `switchyard diff --old a.yaml --new b.yaml --requests sample.jsonl`: what a policy change does
 * to real traffic. See diff-report.ts for how cost and latency are estimated.
 *
 * Exit codes: 0 the diff was computed (with `--fail-on-change`: and no first provider changed);
 * 1 `--fail-on-change` and some request changed first provider; 2 usage error or invalid input.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Snapshot } from '../../engine/index.ts';
import { DIFF_DEFAULTS, diffPolicies, parseSample, type DiffReport } from './diff-report.ts';
import { loadCatalog, loadPolicy, readData, UsageError } from './files.ts';
import { EXIT, type Output } from './output.ts';
import { parseNow } from './plan.ts';

export interface DiffCommandOptions {
  old: string;
  new: string;
  requests: string;
  catalog?: string[];
  snapshot?: string;
  seed?: number;
  now?: string;
  /** Changed requests to list (default 20). */
  limit?: number;
  completionTokens?: number;
  defaultLatencyMs?: number;
  failOnChange?: boolean;
  json?: boolean;
}

function usd(value: number): string {
  return `${value < 0 ? '-' : ''}$${Math.abs(value).toFixed(6)}`;
}

function signed(value: number, digits: number): string {
  return `${value >= 0 ? '+' : '-'}${Math.abs(value).toFixed(digits)}`;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? 'n/a' : `${signed((part / whole) * 100, 1)}%`;
}

function printHuman(report: DiffReport, elapsedMs: number, output: Output): void {
  const share = report.requests === 0 ? 0 : (report.changed / report.requests) * 100;
  output.out(`replayed ${report.requests} requests through both policies in ${elapsedMs.toFixed(1)} ms`);
  if (report.invalid.length > 0) output.out(`skipped ${report.invalid.length} invalid requests (first: line ${report.invalid[0]?.line}: ${report.invalid[0]?.message})`);
  output.out(`no route: old ${report.no_route.old}, new ${report.no_route.new}`);
  output.out(`first provider changed: ${report.changed} of ${report.requests} (${share.toFixed(1)}%)`);
  for (const change of report.changes) {
    output.out(`  line ${change.line}  ${change.model}: ${change.old ?? '(no route)'} -> ${change.new ?? '(no route)'}`);
  }
  if (report.changed > report.changes.length) output.out(`  ... and ${report.changed - report.changes.length} more (--limit to list more)`);
  output.out(
    `estimated cost: old ${usd(report.cost_usd.old)}, new ${usd(report.cost_usd.new)}, change ${usd(report.cost_usd.change)} (${percent(report.cost_usd.change, report.cost_usd.old)})`,
  );
  output.out(
    `expected latency (mean first-attempt p50 TTFT): old ${report.latency_ms.old_mean.toFixed(0)} ms, new ${report.latency_ms.new_mean.toFixed(0)} ms, change ${signed(report.latency_ms.change, 0)} ms`,
  );
  output.out('per model:');
  const rows = [
    ['model', 'requests', 'changed', 'cost old', 'cost new', 'cost change', 'latency old', 'latency new'],
    ...report.per_model.map((model) => [
      model.model,
      String(model.requests),
      String(model.changed),
      usd(model.cost_usd.old),
      usd(model.cost_usd.new),
      usd(model.cost_usd.change),
      `${model.latency_ms.old_mean.toFixed(0)} ms`,
      `${model.latency_ms.new_mean.toFixed(0)} ms`,
    ]),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  for (const row of rows) output.out(`  ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ')}`);
  output.out(
    `estimates: cost = first attempt's prompt-side estimate + ${report.settings.completion_tokens} completion tokens (or the request's max_tokens / the record's usage if lower/known); latency = snapshot p50, else ${report.settings.default_latency_ms} ms`,
  );
}

export async function diffCommand(options: DiffCommandOptions, output: Output): Promise<number> {
  const catalog = loadCatalog(options.catalog);
  const before = loadPolicy(options.old, catalog);
  const after = loadPolicy(options.new, catalog);
  let sampleText: string;
  try {
    sampleText = readFileSync(options.requests, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${options.requests}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const sample = parseSample(sampleText);
  if (sample.errors.length > 0) throw new UsageError(`${options.requests}: ${sample.errors.slice(0, 5).join('; ')}`);
  const snapshot = (options.snapshot ? readData(options.snapshot, 'snapshot') : {}) as Snapshot;

  const started = performance.now();
  const report = diffPolicies(before, after, catalog, sample.requests, {
    snapshot,
    now: parseNow(options.now),
    seed: options.seed ?? 0,
    completionTokens: options.completionTokens ?? DIFF_DEFAULTS.completionTokens,
    defaultLatencyMs: options.defaultLatencyMs ?? DIFF_DEFAULTS.defaultLatencyMs,
    limit: options.limit ?? DIFF_DEFAULTS.limit,
  });
  const elapsedMs = performance.now() - started;

  if (options.json) output.out(JSON.stringify({ ...report, elapsed_ms: Number(elapsedMs.toFixed(3)) }, null, 2));
  else printHuman(report, elapsedMs, output);
  return options.failOnChange && report.changed > 0 ? EXIT.failures : EXIT.ok;
}
