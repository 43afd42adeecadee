import { describe, expect, it } from 'vitest';
import { compileTestCatalog, testEndpoint, testModel, testProvider } from './__test-helpers__/builders.ts';
import { catalogIndex } from './catalog-index.ts';
import { matchesProvider } from './provider-match.ts';

const catalog = compileTestCatalog({
  providers: [testProvider('deepinfra', { name: 'DeepInfra' }), testProvider('deepinfra/turbo', { name: 'DeepInfra Turbo' }), testProvider('openai', { name: 'OpenAI' })],
  models: [testModel('m/x', [testEndpoint('deepinfra', 1, 1), testEndpoint('deepinfra/turbo', 1, 1), testEndpoint('openai', 1, 1), testEndpoint('openai', 1, 1, { tier: 'priority' })])],
});
const index = catalogIndex(catalog);
const info = (id: string) => index.endpoints.get(id)!;

describe('matchesProvider', () => {
  it('matches slug or display name, any case', () => {
    expect(matchesProvider('DEEPINFRA', info('m/x@deepinfra'))).toBe(true);
    expect(matchesProvider('DeepInfra Turbo', info('m/x@deepinfra/turbo'))).toBe(true);
    expect(matchesProvider('openai', info('m/x@deepinfra'))).toBe(false);
  });

  it('lets a base slug match sub-slugs, and a full slug only itself', () => {
    expect(matchesProvider('deepinfra', info('m/x@deepinfra/turbo'))).toBe(true);
    expect(matchesProvider('deepinfra/turbo', info('m/x@deepinfra'))).toBe(false);
    expect(matchesProvider('deep', info('m/x@deepinfra'))).toBe(false);
  });

  it('never matches a service tier by base slug or name', () => {
    const priority = info('m/x@openai/priority');
    expect(matchesProvider('openai', priority)).toBe(false);
    expect(matchesProvider('OpenAI', priority)).toBe(false);
    expect(matchesProvider('openai/priority', priority)).toBe(true);
  });
});

describe('catalogIndex', () => {
  it('is built once per catalog and blends prompt + completion prices', () => {
    expect(catalogIndex(catalog)).toBe(index);
    expect(info('m/x@openai').blendedPrice).toBeCloseTo(2e-6, 12);
    expect(index.models.get('m/x')!.anyTools).toBe(true);
    expect(info('m/x@deepinfra/turbo').baseSlug).toBe('deepinfra');
  });
});
