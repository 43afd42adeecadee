/**
 * The compiled bundle (bin/build.mjs, run by `npm install`): it builds, runs the CLI from outside
 * the source tree with files located next to the sources (default policies, schemas inlined), and
 * counts as fresh only with a stamp newer than every source.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { build, isFresh, newestSourceTime } from '../../bin/build.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const parent = mkdtempSync(join(tmpdir(), 'switchyard-build-'));
const outdir = join(parent, 'dist');
// Dependencies stay external imports: resolved from a node_modules above the bundle.
symlinkSync(join(ROOT, 'node_modules'), join(parent, 'node_modules'), 'dir');

afterAll(() => rmSync(parent, { recursive: true, force: true }));

/** Runs the bundle's `main` as bin/switchyard.mjs does. */
function run(bundle: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `const { main } = await import(${JSON.stringify(pathToFileURL(bundle).href)}); process.exitCode = await main(${JSON.stringify(args)});`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '--eval', script], { cwd: parent, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('bin/build.mjs', () => {
  it('is not fresh without a build', () => {
    expect(isFresh(join(parent, 'nothing-here'))).toBe(false);
  });

  it('bundles a CLI that runs from elsewhere and finds the default policies by their source paths', async () => {
    await build({ outdir });
    expect(isFresh(outdir)).toBe(true);
    expect(newestSourceTime(ROOT)).toBeGreaterThan(0);
    const checked = await run(join(outdir, 'switchyard.js'), ['check']);
    expect(checked.stderr).not.toContain('ExperimentalWarning');
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/checked \d+ files .*0 errors/);
  }, 60_000);
});
