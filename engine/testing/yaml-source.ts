/**
 * YAML with source positions, for test files: parse once, then answer "where is this value?" and
 * "give me this inline value as its own document, at the same line and column".
 */
import { isAlias, isNode, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Diagnostic } from '../types.ts';

export interface YamlSource {
  text: string;
  file: string;
  document: Document;
  lineCounter: LineCounter;
  /** Plain data (anchors resolved). */
  value: unknown;
  /** Parse errors as diagnostics (code `test_parse_error`). */
  diagnostics: Diagnostic[];
}

export interface SourcePosition {
  line: number;
  column: number;
}

export function parseYamlSource(text: string, file: string, errorCode: string): YamlSource {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const diagnostics: Diagnostic[] = document.errors.map((error) => {
    const position = lineCounter.linePos(error.pos[0]);
    return {
      code: errorCode,
      severity: 'error',
      message: error.message.split('\n')[0] ?? error.message,
      file,
      line: position.line,
      column: position.col,
    };
  });
  const value: unknown = diagnostics.length === 0 ? document.toJS({ maxAliasCount: 1000 }) : null;
  return { text, file, document, lineCounter, value, diagnostics };
}

/** The node at a path of keys and indexes, aliases followed. */
export function nodeAt(source: YamlSource, path: ReadonlyArray<string | number>): Node | null {
  let node: unknown = source.document.contents;
  for (const step of path) {
    if (isAlias(node)) node = node.resolve(source.document);
    if (isMap(node)) node = node.get(String(step), true);
    else if (isSeq(node)) node = node.get(Number(step), true);
    else return null;
  }
  if (isAlias(node)) node = node.resolve(source.document);
  return isNode(node) ? node : null;
}

/** Line and column (1-based) where the value at `path` starts (or its key, for `key`); the nearest existing parent otherwise. */
export function positionAt(source: YamlSource, path: ReadonlyArray<string | number>, target: 'key' | 'value' = 'value'): SourcePosition {
  const last = path.at(-1);
  if (target === 'key' && last !== undefined) {
    const parent = nodeAt(source, path.slice(0, -1));
    const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && String(item.key.value) === String(last)) : undefined;
    const range = pair && isNode(pair.key) ? pair.key.range : undefined;
    if (range) {
      const position = source.lineCounter.linePos(range[0]);
      return { line: position.line, column: position.col };
    }
  }
  for (let length = path.length; length >= 0; length -= 1) {
    const node = nodeAt(source, path.slice(0, length));
    if (node?.range) {
      const position = source.lineCounter.linePos(node.range[0]);
      return { line: position.line, column: position.col };
    }
  }
  return { line: 1, column: 1 };
}

/** Path segments of a JSON pointer (`/cases/2/expect` -> ['cases', '2', 'expect']). */
export function pointerPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * The inline value at `path` as a standalone YAML text that keeps the value's own lines and
 * columns: everything else in the file is blanked to spaces, so diagnostics the engine reports
 * for it point into the test file.
 */
export function inlineText(source: YamlSource, path: ReadonlyArray<string | number>): string | null {
  const node = nodeAt(source, path);
  if (!node?.range) return null;
  const [start, , end] = node.range;
  const blank = (part: string): string => part.replace(/[^\n]/g, ' ');
  return blank(source.text.slice(0, start)) + source.text.slice(start, end) + blank(source.text.slice(end));
}
