import type { Diagnostic } from '../types.ts';
import { parentPointer } from './json-pointer.ts';

/** 1-based line and column. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** Which end of a `key: value` pair a diagnostic points at. */
export type PointerTarget = 'key' | 'value';

/**
 * Where each JSON pointer of a parsed document came from. A pointer the map does not know (a
 * property that is missing, or something under an alias) resolves to its nearest known ancestor,
 * so every diagnostic gets a real place.
 */
export class SourceMap {
  constructor(
    readonly file: string,
    private readonly values: ReadonlyMap<string, SourcePosition>,
    private readonly keys: ReadonlyMap<string, SourcePosition>,
    private readonly scalars: ReadonlyMap<string, string>,
  ) {}

  /** Position of the value (default) or of the key naming it. */
  position(pointer: string, target: PointerTarget = 'value'): SourcePosition {
    const own = target === 'key' ? (this.keys.get(pointer) ?? this.values.get(pointer)) : this.values.get(pointer);
    if (own) return own;
    if (pointer === '') return { line: 1, column: 1 };
    return this.position(parentPointer(pointer), target);
  }

  /** The source text of a scalar as written (`0.0000025`, not `2.5e-6`), when the pointer is a scalar. */
  scalarSource(pointer: string): string | undefined {
    return this.scalars.get(pointer);
  }

  /** An empty map for documents that did not come from text. */
  static empty(file: string): SourceMap {
    return new SourceMap(file, new Map(), new Map(), new Map());
  }
}

/** What a stage knows about a problem before it is placed in a file. */
export interface ProblemAt {
  code: string;
  message: string;
  pointer: string;
  severity?: 'error' | 'warning';
  hint?: string;
  /** Point at the key (e.g. a misspelt property) rather than its value. */
  target?: PointerTarget;
}

/** A Diagnostic placed at a pointer of a mapped document. */
export function diagnosticAt(sourceMap: SourceMap, problem: ProblemAt): Diagnostic {
  const { line, column } = sourceMap.position(problem.pointer, problem.target);
  const diagnostic: Diagnostic = {
    code: problem.code,
    severity: problem.severity ?? 'error',
    message: problem.message,
    file: sourceMap.file,
    line,
    column,
    pointer: problem.pointer,
  };
  if (problem.hint !== undefined) diagnostic.hint = problem.hint;
  return diagnostic;
}
