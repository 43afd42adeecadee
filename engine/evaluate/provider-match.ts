/**
 * Provider names in policies and requests (`order`, `only`, `ignore`, `providers.allow/deny`,
 * split arms) match an endpoint by slug or display name, case-insensitively. A base slug also
 * matches that provider's sub-slugs (`deepinfra` matches `deepinfra/turbo`), but a service-tier
 * endpoint (`openai/priority`) is only matched by its full slug (OpenRouter, provider routing 3.3).
 */
import type { EndpointInfo } from './catalog-index.ts';

/** Does `name` (any case) name this endpoint's provider? */
export function matchesProvider(name: string, info: EndpointInfo): boolean {
  const wanted = name.toLowerCase();
  if (info.isTier) return wanted === info.fullSlug;
  return wanted === info.providerId || wanted === info.providerName || info.providerId.startsWith(`${wanted}/`);
}

/** Does any of `names` name this endpoint's provider? */
export function matchesAnyProvider(names: readonly string[], info: EndpointInfo): boolean {
  for (const name of names) if (matchesProvider(name, info)) return true;
  return false;
}
