import { sortDiagnostics } from '../errors/diagnostic.ts';
import { didYouMean } from '../errors/suggest.ts';
import { parseYaml } from '../parse/parse-yaml.ts';
import { diagnosticAt, type ProblemAt, type SourceMap } from '../parse/source-map.ts';
import type {
  Catalog,
  CatalogEndpoint,
  CatalogModel,
  CatalogProvider,
  CompiledCatalog,
  CompiledEndpoint,
  Diagnostic,
  NumericPricing,
  Pricing,
  Result,
} from '../types.ts';
import { validateSchema } from '../validate/validate-schema.ts';
import { contentVersion } from './sha256.ts';

/** One catalog YAML text and the file name used in diagnostics. */
export interface CatalogSource {
  text: string;
  file: string;
}

/** Model fields the first declaration of a model id must carry; later files may only add endpoints. */
const MODEL_REQUIRED_FIELDS = ['name', 'context_length', 'input_modalities', 'output_modalities'] as const;
const PRICE_KEYS = ['prompt', 'completion', 'request', 'image', 'input_cache_read', 'input_cache_write', 'internal_reasoning'] as const;

interface Placed<T> {
  value: T;
  sourceMap: SourceMap;
  pointer: string;
}

/**
 * Parse, validate, merge and index catalog YAML texts. Later sources add providers and models; a
 * model id seen again (in a later source) adds its endpoints to the earlier model. Prices stay
 * strings (a YAML number keeps its written form) and are also compiled to numbers.
 */
export function compileCatalog(sources: readonly CatalogSource[]): Result<CompiledCatalog> {
  const diagnostics: Diagnostic[] = [];
  const documents: Array<{ data: Partial<Catalog>; sourceMap: SourceMap }> = [];
  for (const source of sources) {
    const parsed = parseYaml(source.text, source.file);
    if (!parsed.ok) {
      diagnostics.push(...parsed.diagnostics);
      continue;
    }
    diagnostics.push(...(parsed.warnings ?? []));
    const schemaProblems = validateSchema('catalog', parsed.value.data, parsed.value.sourceMap);
    diagnostics.push(...schemaProblems);
    if (schemaProblems.length === 0) documents.push({ data: (parsed.value.data ?? {}) as Partial<Catalog>, sourceMap: parsed.value.sourceMap });
  }
  if (hasErrors(diagnostics)) return { ok: false, diagnostics: sortDiagnostics(diagnostics) };

  const report = (sourceMap: SourceMap, problem: ProblemAt): void => {
    diagnostics.push(diagnosticAt(sourceMap, problem));
  };
  const where = (placed: Placed<unknown>): string => {
    const { line, column } = placed.sourceMap.position(placed.pointer);
    return `${placed.sourceMap.file}:${line}:${column}`;
  };

  // Providers first, across every source, so a model may use a provider declared in any file.
  const providers = new Map<string, Placed<CatalogProvider>>();
  for (const { data, sourceMap } of documents) {
    (data.providers ?? []).forEach((provider, index) => {
      const pointer = `/providers/${index}`;
      const earlier = providers.get(provider.id);
      if (earlier) {
        report(sourceMap, { code: 'catalog_duplicate_provider', message: `provider \`${provider.id}\` is declared twice`, pointer: `${pointer}/id`, hint: `first declared at ${where(earlier)}` });
        return;
      }
      providers.set(provider.id, { value: { ...provider, status: provider.status ?? 'active' }, sourceMap, pointer });
    });
  }

  const models = new Map<string, Placed<CatalogModel>>();
  const endpoints: CompiledEndpoint[] = [];
  const endpointIds = new Map<string, Placed<CatalogEndpoint>>();
  for (const { data, sourceMap } of documents) {
    (data.models ?? []).forEach((declared, index) => {
      const pointer = `/models/${index}`;
      let model: CatalogModel;
      const earlier = models.get(declared.id);
      if (!earlier) {
        const missing = MODEL_REQUIRED_FIELDS.filter((field) => declared[field] === undefined);
        if (missing.length > 0) {
          report(sourceMap, {
            code: 'catalog_model_incomplete',
            message: `model \`${declared.id}\` is declared here first but lacks ${missing.map((field) => `\`${field}\``).join(', ')}`,
            pointer,
            hint: 'the first declaration of a model needs name, context_length, input_modalities and output_modalities (is the catalog that declares it loaded first?)',
          });
          return;
        }
        model = { ...declared, endpoints: [] };
        models.set(declared.id, { value: model, sourceMap, pointer });
      } else if (earlier.sourceMap === sourceMap) {
        report(sourceMap, { code: 'catalog_duplicate_model', message: `model \`${declared.id}\` is declared twice in this file`, pointer: `${pointer}/id`, hint: `first declared at ${where(earlier)}` });
        return;
      } else {
        model = earlier.value;
        for (const [field, value] of Object.entries(declared)) {
          if (field === 'id' || field === 'endpoints') continue;
          if (JSON.stringify(value) !== JSON.stringify((model as unknown as Record<string, unknown>)[field])) {
            report(sourceMap, {
              code: 'catalog_model_conflict',
              message: `\`${field}\` of model \`${declared.id}\` differs from its first declaration`,
              pointer: `${pointer}/${field}`,
              target: 'key',
              hint: `a later catalog may only add endpoints; first declared at ${where(earlier)}`,
            });
          }
        }
      }
      declared.endpoints.forEach((endpoint, endpointIndex) => {
        const endpointPointer = `${pointer}/endpoints/${endpointIndex}`;
        const provider = providers.get(endpoint.provider);
        if (!provider) {
          report(sourceMap, {
            code: 'catalog_unknown_provider',
            message: `endpoint of \`${declared.id}\` names unknown provider \`${endpoint.provider}\``,
            pointer: `${endpointPointer}/provider`,
            hint: didYouMean(endpoint.provider, providers.keys()) ?? 'declare it under `providers` in this or an earlier catalog file',
          });
          return;
        }
        const id = `${declared.id}@${endpoint.provider}`;
        const duplicate = endpointIds.get(id);
        if (duplicate) {
          report(sourceMap, { code: 'catalog_duplicate_endpoint', message: `model \`${declared.id}\` already has an endpoint on \`${endpoint.provider}\``, pointer: `${endpointPointer}/provider`, hint: `first declared at ${where(duplicate)}` });
          return;
        }
        const normalized: CatalogEndpoint = { ...endpoint, pricing: normalizePricing(endpoint.pricing, sourceMap, `${endpointPointer}/pricing`) };
        endpointIds.set(id, { value: normalized, sourceMap, pointer: endpointPointer });
        model.endpoints.push(normalized);
        const contextLength = normalized.context_length ?? model.context_length;
        endpoints.push({
          id,
          model,
          provider: provider.value,
          endpoint: normalized,
          context_length: contextLength,
          max_completion_tokens: normalized.max_completion_tokens ?? contextLength,
          price: numericPricing(normalized.pricing),
          parameters: new Set(normalized.supported_parameters),
        });
      });
    });
  }
  for (const placed of models.values()) {
    if (placed.value.endpoints.length === 0) {
      report(placed.sourceMap, { code: 'catalog_model_without_endpoints', severity: 'warning', message: `model \`${placed.value.id}\` has no endpoints and can never be routed`, pointer: placed.pointer });
    }
  }
  if (hasErrors(diagnostics)) return { ok: false, diagnostics: sortDiagnostics(diagnostics) };

  const endpointsByModel = new Map<string, CompiledEndpoint[]>();
  for (const endpoint of endpoints) {
    const list = endpointsByModel.get(endpoint.model.id) ?? [];
    list.push(endpoint);
    endpointsByModel.set(endpoint.model.id, list);
  }
  const catalog: Catalog = {
    providers: [...providers.values()].map((placed) => placed.value),
    models: [...models.values()].map((placed) => placed.value),
  };
  const compiled: CompiledCatalog = {
    catalog,
    version: contentVersion(sources.map((source) => source.text).join('\u0000')),
    providers: new Map(catalog.providers.map((provider) => [provider.id, provider])),
    models: new Map(catalog.models.map((model) => [model.id, model])),
    endpointsByModel,
    endpoints,
  };
  const warnings = sortDiagnostics(diagnostics);
  return warnings.length > 0 ? { ok: true, value: compiled, warnings } : { ok: true, value: compiled };
}

/** Prices as strings; a YAML number keeps the digits it was written with. */
function normalizePricing(pricing: Pricing, sourceMap: SourceMap, pointer: string): Pricing {
  const asString = (value: unknown, at: string): string => (typeof value === 'number' ? (sourceMap.scalarSource(at) ?? String(value)) : String(value));
  const normalized: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(pricing)) {
    if (key === 'overrides' && Array.isArray(value)) {
      normalized[key] = value.map((override: Record<string, unknown>, index) =>
        Object.fromEntries(
          Object.entries(override).map(([overrideKey, overrideValue]) => [
            overrideKey,
            overrideKey === 'min_prompt_tokens' ? overrideValue : asString(overrideValue, `${pointer}/overrides/${index}/${overrideKey}`),
          ]),
        ),
      );
    } else {
      normalized[key] = asString(value, `${pointer}/${key}`);
    }
  }
  return normalized as unknown as Pricing;
}

/**
 * Numbers for the hot path. Missing keys: `request` and `image` cost 0, cache reads and writes cost
 * the prompt price, reasoning tokens cost the completion price.
 */
export function numericPricing(pricing: Pricing): NumericPricing {
  const read = (key: (typeof PRICE_KEYS)[number]): number | undefined => {
    const value = pricing[key];
    return value === undefined ? undefined : Number(value);
  };
  const prompt = read('prompt') ?? 0;
  const completion = read('completion') ?? 0;
  return {
    prompt,
    completion,
    request: read('request') ?? 0,
    image: read('image') ?? 0,
    input_cache_read: read('input_cache_read') ?? prompt,
    input_cache_write: read('input_cache_write') ?? prompt,
    internal_reasoning: read('internal_reasoning') ?? completion,
  };
}

function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((diagnostic) => diagnostic.severity === 'error');
}
