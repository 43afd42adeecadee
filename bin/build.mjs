#!/usr/bin/env node
// `npm run build` (also run by `npm install` / `npm ci` through `prepare`): compiles the CLI and the
// gateway bench to plain JavaScript in dist/, so `switchyard serve` runs without the TypeScript
// loader (tsx registers its hooks on a second thread: ~40 MB of RSS and a transform per module).
// bin/switchyard.mjs uses dist/ when it is newer than every source, else falls back to tsx.
//
// One esbuild bundle (dependencies stay external imports): JSON schemas are inlined, and every
// `import.meta.url` in engine/ and sidecar/ is rewritten to the source file's own URL, so files
// they locate next to themselves (migrations, dashboard assets, policies/) resolve as under tsx.
import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
/** Sources whose change makes dist/ stale (bin/switchyard.mjs checks the same list). */
export const SOURCE_PATHS = ['engine', 'sidecar', 'schemas', 'bench', 'package.json'];

/** Newest modification time (ms) of the sources under `paths`, tests aside (a few hundred stats, ~3 ms). */
export function newestSourceTime(root = ROOT, paths = SOURCE_PATHS) {
  let newest = 0;
  const visit = (path) => {
    const stats = statSync(path, { throwIfNoEntry: false });
    if (!stats) return;
    if (stats.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
      return;
    }
    if (!path.endsWith('.test.ts') && stats.mtimeMs > newest) newest = stats.mtimeMs;
  };
  for (const path of paths) visit(join(root, path));
  return newest;
}

// esbuild comes with tsx (a dependency); resolve it from there so no second copy is needed.
function loadEsbuild() {
  const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'));
  return fromTsx('esbuild');
}

/** Rewrites `import.meta.url` in engine/ and sidecar/ to the source file's URL, seen from `outdir`. */
const rewriteImportMetaUrl = (outdir) => ({
  name: 'source-import-meta-url',
  setup(build) {
    const { readFileSync } = createRequire(import.meta.url)('node:fs');
    build.onLoad({ filter: /[\\/](engine|sidecar)[\\/].*\.ts$/ }, (arguments_) => {
      const text = readFileSync(arguments_.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const fromDist = relative(outdir, arguments_.path).split(sep).join('/');
      const replaced = text.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromDist)}, import.meta.url).href`);
      return { contents: replaced, loader: 'ts' };
    });
  },
});

/** True when `outdir` holds a complete build (its stamp is written last) newer than every source. */
export function isFresh(outdir = DIST) {
  const built = statSync(join(outdir, 'build-stamp.json'), { throwIfNoEntry: false });
  return built !== undefined && built.mtimeMs >= newestSourceTime();
}

/**
 * Builds into a sibling directory, then swaps it in with two renames, so a `switchyard` starting
 * meanwhile sees the old complete build, the new one, or (briefly) none and runs the sources.
 */
export async function build({ outdir = DIST } = {}) {
  const esbuild = loadEsbuild();
  const staging = `${outdir}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const started = Date.now();
  try {
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: { switchyard: 'sidecar/cli/main.ts', 'bench-gateway': 'bench/gateway.ts' },
      outdir: staging,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      chunkNames: '[name]-[hash]',
      sourcemap: 'linked',
      logLevel: 'warning',
      plugins: [rewriteImportMetaUrl(outdir)],
    });
    writeFileSync(join(staging, 'build-stamp.json'), JSON.stringify({ built_at: new Date().toISOString(), milliseconds: Date.now() - started }) + '\n');
    const previous = `${outdir}.previous-${process.pid}`;
    if (statSync(outdir, { throwIfNoEntry: false })) renameSync(outdir, previous);
    renameSync(staging, outdir);
    rmSync(previous, { recursive: true, force: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await build();
  } catch (error) {
    // A failed build leaves the previous dist/ in place; bin/switchyard.mjs runs it only while it is
    // newer than every source, else the sources through tsx.
    console.error(`switchyard build failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
