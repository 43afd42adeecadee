/**
 * The JSON Logic operators a Switchyard condition may use, with their arity. Everything else in
 * json-logic-js is refused at compile time (see engine/README.md for why).
 */

export interface OperatorSpec {
  /** Minimum number of arguments. */
  min: number;
  /** Maximum number of arguments; undefined = any. */
  max?: number;
  /** One line for the README and hints. */
  summary: string;
}

export const ALLOWED_OPERATORS: Readonly<Record<string, OperatorSpec>> = {
  var: { min: 0, max: 2, summary: 'read a request fact by dot path, with an optional default' },
  missing: { min: 1, summary: 'the listed fact paths that are null or ""' },
  missing_some: { min: 2, max: 2, summary: '[need, paths]: the missing paths when fewer than `need` are present' },
  if: { min: 1, summary: 'if / else-if / else chain' },
  '===': { min: 2, max: 2, summary: 'strict equality' },
  '!==': { min: 2, max: 2, summary: 'strict inequality' },
  '!': { min: 1, max: 1, summary: 'not (JSON Logic truthiness: [] is false)' },
  '!!': { min: 1, max: 1, summary: 'to boolean (JSON Logic truthiness)' },
  and: { min: 1, summary: 'first falsy argument, or the last' },
  or: { min: 1, summary: 'first truthy argument, or the last' },
  '<': { min: 2, max: 3, summary: 'less than; with 3 arguments, exclusive between' },
  '<=': { min: 2, max: 3, summary: 'at most; with 3 arguments, inclusive between' },
  '>': { min: 2, max: 2, summary: 'greater than' },
  '>=': { min: 2, max: 2, summary: 'at least' },
  in: { min: 2, max: 2, summary: 'membership in an array, or substring of a string' },
  '+': { min: 1, summary: 'sum (parses numeric strings)' },
  '-': { min: 1, max: 2, summary: 'difference, or negation with one argument' },
  '*': { min: 1, summary: 'product' },
  '/': { min: 2, max: 2, summary: 'quotient (division by zero is an evaluation error)' },
  '%': { min: 2, max: 2, summary: 'remainder' },
  min: { min: 1, summary: 'smallest argument' },
  max: { min: 1, summary: 'largest argument' },
  cat: { min: 1, summary: 'concatenate as strings' },
  substr: { min: 2, max: 3, summary: 'substring [string, start, length]' },
  some: { min: 2, max: 2, summary: '[array, condition]: true when any element matches' },
  all: { min: 2, max: 2, summary: '[array, condition]: true when every element matches (false for [])' },
  none: { min: 2, max: 2, summary: '[array, condition]: true when no element matches' },
  merge: { min: 1, summary: 'flatten arguments into one array' },
};

/** Allowed only with `options.loose_equality: true`. */
export const LOOSE_EQUALITY_OPERATORS: Readonly<Record<string, OperatorSpec>> = {
  '==': { min: 2, max: 2, summary: 'loose equality (JS coercion: 1 == "1")' },
  '!=': { min: 2, max: 2, summary: 'loose inequality' },
};

/** Operators json-logic-js has that we refuse, and why (shown as the hint). */
export const REFUSED_OPERATORS: Readonly<Record<string, string>> = {
  log: 'it writes policy data to the console',
  map: 'array-building operators are not needed for routing; use `some`/`all`/`none` with `in`',
  filter: 'array-building operators are not needed for routing; use `some`/`all`/`none` with `in`',
  reduce: 'it rebinds the data to {current, accumulator}, so fact paths cannot be checked; use `some`/`all`/`none`',
  method: 'it called methods on data (removed from json-logic-js 2.0 after a code-execution advisory)',
  '?:': 'use `if`',
};
