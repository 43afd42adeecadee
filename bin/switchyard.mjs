#!/usr/bin/env node
// The `switchyard` command. Runs the compiled dist/ (bin/build.mjs, run by `npm install`) when it is
// newer than every source; otherwise the TypeScript sources through tsx's loader, so an edited
// checkout never runs stale code. SWITCHYARD_USE_SOURCES=1 forces the sources.
import { isFresh } from './build.mjs';

let main;
if (process.env.SWITCHYARD_USE_SOURCES !== '1' && isFresh()) {
  ({ main } = await import('../dist/switchyard.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../sidecar/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
