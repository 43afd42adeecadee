import type { CompiledCatalog, CompiledPolicy, Result } from '../types.ts';

export interface CompilePolicyOptions {
  /** Stop after a named stage (tests): `parse`, `validate`, `resolve`, `conditions`, `lint`. */
  stopAfter?: 'parse' | 'validate' | 'resolve' | 'conditions' | 'lint';
}

/** Parse, validate and compile a policy YAML text against a catalog. STUB: engine-compile helper replaces this. */
export function compilePolicy(text: string, file: string, catalog: CompiledCatalog, options?: CompilePolicyOptions): Result<CompiledPolicy> {
  void text;
  void file;
  void catalog;
  void options;
  throw new Error('not implemented');
}
