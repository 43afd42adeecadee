import { describe, expect, it } from 'vitest';
import { compileCatalog, type Catalog, type CompiledCatalog } from '../../engine/index.ts';
import { catalogFor, wrongKindError } from './route-catalog.ts';
import type { GatewayContext } from './gateway-context.ts';

const DATA_POLICY = { trains_on_prompts: false, retention_days: 0, zdr: true };

function compiled(): CompiledCatalog {
  const endpoint = { provider: 'p', upstream_model: 'u', pricing: { prompt: '0.000001', completion: '0.000001' }, supported_parameters: [] };
  const source: Catalog = {
    providers: [{ id: 'p', name: 'P', protocol: 'simulated', data_policy: DATA_POLICY, region: 'us', status: 'active' }],
    models: [
      { id: 'a/chat', name: 'chat', context_length: 1000, input_modalities: ['text'], output_modalities: ['text'], endpoints: [endpoint] },
      { id: 'a/embed', name: 'embed', context_length: 1000, input_modalities: ['text'], output_modalities: ['embeddings'], endpoints: [endpoint] },
    ],
  };
  const result = compileCatalog([{ text: JSON.stringify(source), file: 'catalog.yaml' }]);
  if (!result.ok) throw new Error('fixture catalog does not compile');
  return result.value;
}

describe('catalogFor', () => {
  const catalog = compiled();

  it('keeps only the models of the route kind, with their endpoints, and caches the view', () => {
    const text = catalogFor(catalog, 'text');
    const embeddings = catalogFor(catalog, 'embeddings');
    expect([...text.models.keys()]).toEqual(['a/chat']);
    expect(text.endpoints.map((endpoint) => endpoint.id)).toEqual(['a/chat@p']);
    expect([...embeddings.endpointsByModel.keys()]).toEqual(['a/embed']);
    expect(embeddings.catalog.models.map((model) => model.id)).toEqual(['a/embed']);
    expect(catalogFor(catalog, 'text')).toBe(text);
  });

  it('names the route to use when every requested model is of the other kind', () => {
    const gateway = { routing: { current: () => ({ catalog }) } } as unknown as GatewayContext;
    expect(wrongKindError(gateway, { model: 'a/embed' }, 'text', '/chat/completions')?.message).toContain('use /embeddings');
    expect(wrongKindError(gateway, { model: 'a/chat' }, 'embeddings', '/embeddings')?.message).toContain('use /chat/completions');
    expect(wrongKindError(gateway, { model: 'a/chat' }, 'text', '/chat/completions')).toBeUndefined();
    expect(wrongKindError(gateway, { model: 'a/embed', models: ['a/chat'] }, 'text', '/chat/completions')).toBeUndefined();
    expect(wrongKindError(gateway, { model: 'unknown/model' }, 'text', '/chat/completions')).toBeUndefined();
  });
});
