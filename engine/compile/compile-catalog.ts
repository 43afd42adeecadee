import type { CompiledCatalog, Result } from '../types.ts';

/** One catalog YAML text and the file name used in diagnostics. */
export interface CatalogSource {
  text: string;
  file: string;
}

/**
 * Parse, validate, merge and index catalog YAML texts. Later sources add providers and models; a
 * model id seen again adds its endpoints to the earlier model. STUB: engine-compile helper replaces this.
 */
export function compileCatalog(sources: readonly CatalogSource[]): Result<CompiledCatalog> {
  void sources;
  throw new Error('not implemented');
}
