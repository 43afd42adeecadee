/**
 * The decision corpus (test/decisions/*.yaml): every case through the engine via the policy test
 * runner, one subtest per case named by its note. Each case states exactly one expectation.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, runPolicyTestFile, type PolicyTestReport } from '../engine/index.ts';
import { loaderFor } from '../sidecar/cli/files.ts';
import { formatFailure } from '../sidecar/cli/format.ts';

const folder = join(dirname(fileURLToPath(import.meta.url)), 'decisions');
const files = readdirSync(folder).filter((name) => name.endsWith('.yaml')).sort();

function run(name: string): PolicyTestReport {
  const path = resolve(folder, name);
  return runPolicyTestFile(readFileSync(path, 'utf8'), `test/decisions/${name}`, loaderFor(path), { singleExpectation: true });
}

describe('decision corpus', () => {
  it('has at least 60 cases', () => {
    const total = files.reduce((sum, name) => sum + run(name).cases.length, 0);
    expect(total).toBeGreaterThanOrEqual(60);
  });

  for (const name of files) {
    describe(name, () => {
      const report = run(name);
      it('loads', () => {
        expect(report.diagnostics.map(formatDiagnostic)).toEqual([]);
      });
      for (const result of report.cases) {
        it(result.note, () => {
          const explanation = result.failures.flatMap((failure) => formatFailure(failure, '  ')).join('\n');
          expect(result.passed, `${name}:${result.line}\n${explanation}`).toBe(true);
        });
      }
    });
  }
});
