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
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
/** Sources whose change makes dist/ stale (bin/switchyard.mjs checks the same list). */
export const SOURCE_PATHS = ['engine', 'sidecar', 'schemas', 'bench', 'package.json'];
/** Written last: its modification time is the build's. */
export const STAMP = join(DIST, 'build-stamp.json');

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

const rewriteImportMetaUrl = {
  name: 'source-import-meta-url',
  setup(build) {
    const { readFileSync } = createRequire(import.meta.url)('node:fs');
    build.onLoad({ filter: /[\\/](engine|sidecar)[\\/].*\.ts$/ }, (arguments_) => {
      const text = readFileSync(arguments_.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const fromDist = relative(DIST, arguments_.path).split(sep).join('/');
      const replaced = text.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromDist)}, import.meta.url).href`);
      return { contents: replaced, loader: 'ts' };
    });
  },
};

export async function build() {
  const esbuild = loadEsbuild();
  rmSync(DIST, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });
  const started = Date.now();
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { switchyard: 'sidecar/cli/main.ts', 'bench-gateway': 'bench/gateway.ts' },
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    chunkNames: '[name]-[hash]',
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [rewriteImportMetaUrl],
  });
  writeFileSync(STAMP, JSON.stringify({ built_at: new Date().toISOString(), milliseconds: Date.now() - started }) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await build();
  } catch (error) {
    // A failed build leaves no stamp, so bin/switchyard.mjs keeps running the sources through tsx.
    rmSync(STAMP, { force: true });
    console.error(`switchyard build failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
