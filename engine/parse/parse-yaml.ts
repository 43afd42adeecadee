import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import type { Diagnostic, Result } from '../types.ts';
import { escapePointerSegment } from './json-pointer.ts';
import { SourceMap, type SourcePosition } from './source-map.ts';

/** A YAML document as plain data, with where every part of it came from. */
export interface ParsedYaml {
  data: unknown;
  sourceMap: SourceMap;
}

export interface ParseYamlOptions {
  /**
   * Cap on alias expansion while building the plain object. The `yaml` default (100) stops
   * "billion laughs" documents long before they exhaust memory; anchors used a few times are fine.
   */
  maxAliasCount?: number;
}

/** Keys that reach an object's prototype when a document is turned into JS objects. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const MERGE_KEY = '<<';

/**
 * YAML text -> plain data + source map. Rejects what YAML allows but a policy must not contain:
 * duplicate keys, `<<` merge keys, prototype-reaching keys, non-scalar keys and alias bombs.
 * Every problem is a Diagnostic placed at file:line:col.
 */
export function parseYaml(text: string, file = '<inline>', options: ParseYamlOptions = {}): Result<ParsedYaml> {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false });
  const at = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const diagnostics: Diagnostic[] = [];
  const report = (code: string, message: string, position: SourcePosition, extra: Partial<Diagnostic> = {}): void => {
    diagnostics.push({ code, severity: 'error', message, file, line: position.line, column: position.column, ...extra });
  };

  for (const error of document.errors) {
    const code = error.code === 'DUPLICATE_KEY' ? 'yaml_duplicate_key' : 'yaml_syntax_error';
    const message = error.code === 'DUPLICATE_KEY' ? 'duplicate key in mapping (keys must be unique)' : firstLine(error.message);
    report(code, message, at(error.pos[0]), error.code === 'DUPLICATE_KEY' ? { hint: 'remove or rename one of the two entries' } : {});
  }
  for (const warning of document.warnings) {
    report('yaml_warning', firstLine(warning.message), at(warning.pos[0]), { severity: 'warning' });
  }
  if (diagnostics.some((diagnostic) => diagnostic.severity === 'error')) return { ok: false, diagnostics };

  const values = new Map<string, SourcePosition>();
  const keys = new Map<string, SourcePosition>();
  const scalars = new Map<string, string>();
  let firstAlias: SourcePosition | undefined;

  const positionOf = (node: YamlNode): SourcePosition => at(node.range?.[0] ?? 0);

  const walk = (node: YamlNode, pointer: string): void => {
    values.set(pointer, positionOf(node));
    if (isAlias(node)) {
      // Children of an alias live at the anchor; diagnostics under it point at the alias itself.
      firstAlias ??= positionOf(node);
      return;
    }
    if (isScalar(node)) {
      if (typeof node.value === 'number' && typeof node.source === 'string') scalars.set(pointer, node.source);
      return;
    }
    if (isSeq(node)) {
      node.items.forEach((item, index) => {
        const child = `${pointer}/${index}`;
        if (isNode(item)) walk(item, child);
      });
      return;
    }
    if (isMap(node)) {
      // `1: a` and `"1": b` are different YAML keys but the same JS property: one would vanish.
      const names = new Set<string>();
      for (const pair of node.items) {
        const key = pair.key;
        if (!isScalar(key)) {
          report('yaml_non_string_key', 'mapping keys must be plain strings', isNode(key) ? positionOf(key) : positionOf(node));
          continue;
        }
        const name = String(key.value);
        const keyPosition = positionOf(key);
        if (name === MERGE_KEY) {
          report('yaml_merge_key', '`<<` merge keys are not supported', keyPosition, { hint: 'repeat the keys, or use an anchor on the whole value' });
          continue;
        }
        if (FORBIDDEN_KEYS.has(name)) {
          report('yaml_forbidden_key', `key \`${name}\` is not allowed (it would reach the object prototype)`, keyPosition);
          continue;
        }
        if (names.has(name)) {
          report('yaml_duplicate_key', `duplicate key \`${name}\` in mapping (keys must be unique)`, keyPosition, { hint: 'remove or rename one of the two entries' });
          continue;
        }
        names.add(name);
        const child = `${pointer}/${escapePointerSegment(name)}`;
        keys.set(child, keyPosition);
        if (isNode(pair.value)) walk(pair.value, child);
        else values.set(child, keyPosition);
      }
    }
  };
  if (isNode(document.contents)) walk(document.contents, '');
  if (diagnostics.some((diagnostic) => diagnostic.severity === 'error')) return { ok: false, diagnostics };

  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: options.maxAliasCount ?? 100 });
  } catch (error) {
    const position = firstAlias ?? { line: 1, column: 1 };
    const message = error instanceof Error ? firstLine(error.message) : 'alias expansion failed';
    report('yaml_alias_limit', `aliases expand too far: ${message}`, position, { hint: 'repeat the content instead of nesting aliases' });
    return { ok: false, diagnostics };
  }
  const sourceMap = new SourceMap(file, values, keys, scalars);
  return diagnostics.length > 0 ? { ok: true, value: { data, sourceMap }, warnings: diagnostics } : { ok: true, value: { data, sourceMap } };
}

function isNode(value: unknown): value is YamlNode {
  return isAlias(value) || isScalar(value) || isSeq(value) || isMap(value);
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.trim() ?? message;
}
