import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileCatalog, compilePolicy, type CompiledCatalog, type RequestFacts } from '../../engine/index.ts';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string): { text: string; file: string } => ({ text: readFileSync(join(root, path), 'utf8'), file: path });

function shippedCatalog(): CompiledCatalog {
  const result = compileCatalog([read('policies/catalog.yaml'), read('policies/simulated.yaml')]);
  if (!result.ok) throw new Error(result.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
  return result.value;
}

describe('shipped catalog', () => {
  it('compiles without warnings and names its schema on line 1', () => {
    const result = compileCatalog([read('policies/catalog.yaml'), read('policies/simulated.yaml')]);
    expect(result.ok).toBe(true);
    expect(result.ok && result.warnings).toBeUndefined();
    for (const path of ['policies/catalog.yaml', 'policies/simulated.yaml']) {
      expect(read(path).text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/catalog.v1.schema.json');
    }
  });

  it('has at least 12 real models on at least 8 real providers, and simulated endpoints for real models', () => {
    const catalog = shippedCatalog();
    const providers = [...catalog.providers.values()];
    const real = providers.filter((provider) => provider.protocol !== 'simulated');
    const simulated = providers.filter((provider) => provider.protocol === 'simulated');
    expect(real.length).toBeGreaterThanOrEqual(8);
    expect(simulated.length).toBeGreaterThanOrEqual(2);
    for (const provider of real) expect(provider.base_url, provider.id).toMatch(/^https:\/\//);
    for (const provider of simulated) expect(provider.base_url, provider.id).toBeUndefined();
    const realModels = new Set(catalog.endpoints.filter((endpoint) => endpoint.provider.protocol !== 'simulated').map((endpoint) => endpoint.model.id));
    expect(realModels.size).toBeGreaterThanOrEqual(12);
    for (const model of ['openai/gpt-4o', 'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4', 'meta-llama/llama-3.3-70b-instruct']) {
      const endpoints = catalog.endpointsByModel.get(model) ?? [];
      expect(endpoints.some((endpoint) => endpoint.provider.protocol === 'simulated'), model).toBe(true);
      expect(endpoints.some((endpoint) => endpoint.provider.protocol !== 'simulated'), model).toBe(true);
    }
    for (const id of [...catalog.providers.keys()]) expect(id).toMatch(/^[a-z0-9-]+(\/[a-z0-9-]+)?$/);
    // Prices are USD per token: nothing in the catalog costs more than $100 per million tokens.
    for (const endpoint of catalog.endpoints) {
      expect(endpoint.price.prompt, endpoint.id).toBeLessThan(0.0001);
      expect(endpoint.price.completion, endpoint.id).toBeLessThan(0.0001);
      expect(endpoint.price.prompt, endpoint.id).toBeGreaterThan(0);
    }
  });
});

describe('shipped default policy', () => {
  it('compiles cleanly: no errors, no warnings, all rules, defaults applied', () => {
    const source = read('policies/default.yaml');
    expect(source.text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/policy.v1.schema.json');
    const result = compilePolicy(source.text, source.file, shippedCatalog());
    if (!result.ok) throw new Error(result.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
    expect(result.warnings).toBeUndefined();
    const policy = result.value;
    expect(policy.id).toBe('default');
    expect(policy.aliases.get('cheap')).toBe('openai/gpt-4o-mini');
    expect([...policy.aliases.keys()].sort()).toEqual(['cheap', 'fast', 'smart']);
    expect(policy.exposeHeaders).toEqual(['x-confidential', 'x-interactive']);
    expect(policy.defaults.attempts).toBe(4);
    expect([...policy.budgets.keys()]).toEqual(['org-monthly', 'team-daily', 'batch-weekly']);
    expect(policy.rules.map((rule) => rule.rule.id)).toContain('confidential');
  });

  it('evaluates its conditions on realistic facts', () => {
    const source = read('policies/default.yaml');
    const result = compilePolicy(source.text, source.file, shippedCatalog());
    if (!result.ok) throw new Error('compile failed');
    const facts: RequestFacts = {
      model: 'cheap', models: ['cheap'], variants: [null], tags: ['batch'], key: 'k1', user: 'u1', team: 'eu-sales',
      headers: { 'x-confidential': 'true' }, prompt_tokens: 200, max_tokens: 100, tools: false, tool_choice: null, response_format: null,
      input_modalities: ['text'], stream: false, parameters: [], provider: {}, session: null,
    };
    const matched = result.value.rules.filter((rule) => rule.when.evaluate(facts).value).map((rule) => rule.rule.id);
    expect(matched).toEqual(['confidential', 'eu-teams', 'team-budget', 'batch', 'mini-rollout', 'default-fallbacks']);
  });
});
