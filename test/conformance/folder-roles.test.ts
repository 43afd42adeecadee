/**
 * Every adapter folder has the same file roles (AI SDK's konsistent check): a reader who knows
 * one adapter knows where to look in all of them.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const PROVIDERS = new URL('../../sidecar/providers/', import.meta.url);
const ROLES = ['adapter.ts', 'api-types.ts', 'errors.ts', 'finish-reason.ts', 'request.ts', 'response.ts', 'stream.ts'];
const PROTOCOL_FOLDERS = ['anthropic', 'azure-openai', 'gemini', 'openai-compatible', 'simulated'];

function adapterFolders(): string[] {
  return readdirSync(PROVIDERS)
    .filter((entry) => statSync(new URL(entry, PROVIDERS)).isDirectory())
    .sort();
}

describe('adapter folders', () => {
  it('are exactly one per wire protocol', () => {
    expect(adapterFolders()).toEqual(PROTOCOL_FOLDERS);
  });

  it.each(PROTOCOL_FOLDERS)('%s has every role file and a non-empty __fixtures__', (folder) => {
    const base = new URL(`${folder}/`, PROVIDERS);
    const missing = ROLES.filter((role) => !existsSync(new URL(role, base)));
    expect(missing).toEqual([]);
    const fixtures = readdirSync(new URL('__fixtures__/', base));
    expect(fixtures.some((name) => name.endsWith('.json'))).toBe(true);
  });

  it.each(PROTOCOL_FOLDERS)('%s has a conformance test', (folder) => {
    expect(existsSync(new URL(`${folder}.test.ts`, new URL('./', import.meta.url)))).toBe(true);
  });
});
