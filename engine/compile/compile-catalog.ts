import type { CompiledCatalog, Result } from '../types.ts';

/** Parse, validate and index a catalog YAML text. STUB: engine-compile helper replaces this. */
export function compileCatalog(text: string, file: string): Result<CompiledCatalog> {
  void text;
  void file;
  throw new Error('not implemented');
}
