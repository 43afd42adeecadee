import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALLOWED_OPERATORS, LOOSE_EQUALITY_OPERATORS, REFUSED_OPERATORS } from '../conditions/operators.ts';
import { ENGINE_ERROR_CODES } from './error-codes.ts';

const engineDirectory = join(import.meta.dirname, '..');
const readme = readFileSync(join(engineDirectory, 'README.md'), 'utf8');

/** Rows `| \`name\` | ... | last |` of the table under a `## heading` (up to the next heading). */
function tableUnder(heading: string, afterLine?: string): Map<string, string> {
  const start = readme.indexOf(heading);
  expect(start, `README has "${heading}"`).toBeGreaterThanOrEqual(0);
  let section = readme.slice(start + heading.length);
  if (afterLine !== undefined) section = section.slice(section.indexOf(afterLine) + afterLine.length);
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    if (line.startsWith('## ')) break;
    const match = /^\| `((?:[^`\\]|\\.)+)` \|(.*)\|\s*$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) {
      if (rows.size > 0 && !line.startsWith('|')) break;
      continue;
    }
    const cells = match[2].split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, '|'));
    rows.set(match[1].replace(/\\\|/g, '|'), cells[cells.length - 1] ?? '');
  }
  return rows;
}

describe('error code registry', () => {
  it('matches the README table both ways, meanings included', () => {
    const documented = tableUnder('## Error codes');
    expect([...documented.keys()].sort()).toEqual(Object.keys(ENGINE_ERROR_CODES).sort());
    for (const [code, meaning] of Object.entries(ENGINE_ERROR_CODES)) expect(documented.get(code), code).toBe(meaning);
  });

  it('registers every code the compiler emits', () => {
    const emitted = new Set<string>();
    for (const folder of ['parse', 'validate', 'compile', 'conditions', 'errors']) {
      for (const name of readdirSync(join(engineDirectory, folder))) {
        if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
        const source = readFileSync(join(engineDirectory, folder, name), 'utf8');
        for (const match of source.matchAll(/'((?:yaml|schema|catalog|policy|condition|lint)_[a-z_]+|internal_error)'/g)) emitted.add(match[1] ?? '');
      }
    }
    expect(emitted.size).toBeGreaterThan(30);
    const missing = [...emitted].filter((code) => !Object.hasOwn(ENGINE_ERROR_CODES, code));
    expect(missing).toEqual([]);
  });

  it('documents exactly the operator allowlist', () => {
    const allowed = tableUnder('## Conditions', 'Allowed operators:');
    expect([...allowed.keys()].sort()).toEqual([...Object.keys(ALLOWED_OPERATORS), ...Object.keys(LOOSE_EQUALITY_OPERATORS)].sort());
    const refused = tableUnder('## Conditions', 'Refused operators:');
    expect([...refused.keys()].sort()).toEqual(Object.keys(REFUSED_OPERATORS).sort());
  });
});
