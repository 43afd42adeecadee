import { didYouMean } from '../errors/suggest.ts';
import { escapePointerSegment } from '../parse/json-pointer.ts';
import type { CompiledCondition, RequestFacts } from '../types.ts';
import { FORBIDDEN_PATH_SEGMENTS, checkFactPath, factsSchemaRoot, itemSchemaOf, literalFitsSchema, type FactSchema } from './fact-paths.ts';
import { ALLOWED_OPERATORS, LOOSE_EQUALITY_OPERATORS, REFUSED_OPERATORS, type OperatorSpec } from './operators.ts';

/** What a condition may use, taken from the policy around it. */
export interface ConditionOptions {
  /** Header names listed in the policy's `expose_headers` (lowercase). */
  exposeHeaders: readonly string[];
  /** `options.loose_equality`: allow `==` and `!=`. */
  looseEquality?: boolean;
  /** Deepest nesting of operations allowed (default 32). */
  maxDepth?: number;
  /** Most nodes (operations, literals, array elements) allowed (default 512). */
  maxNodes?: number;
  /** Refuse `===` / `!==` between a fact and a literal of a type it never has (default true). */
  checkTypes?: boolean;
}

/** A problem in a condition, at a JSON pointer in the enclosing document. */
export interface ConditionProblem {
  code: string;
  message: string;
  pointer: string;
  hint?: string;
  /** `key` when the problem is the operator name itself rather than its arguments. */
  target?: 'key' | 'value';
}

/** A compiled condition that can also report its raw JSON Logic value (for tests against json-logic-js). */
export interface ExecutableCondition extends CompiledCondition {
  /** The JSON Logic value; throws ConditionEvaluationError on non-finite arithmetic. */
  rawValue(data: unknown): unknown;
}

export type ConditionCompileResult = { ok: true; condition: ExecutableCondition } | { ok: false; problems: ConditionProblem[] };

export const DEFAULT_CONDITION_LIMITS = { maxDepth: 32, maxNodes: 512 } as const;

/** Raised inside evaluation, caught by `evaluate` (which never throws). */
export class ConditionEvaluationError extends Error {
  override readonly name = 'ConditionEvaluationError';
}

type Evaluator = (data: unknown) => unknown;

/** JSON Logic truthiness: like JS, except that an empty array is false. */
export function truthy(value: unknown): boolean {
  if (Array.isArray(value) && value.length === 0) return false;
  return Boolean(value);
}

const MATCHED: { value: boolean } = Object.freeze({ value: true });
const NOT_MATCHED: { value: boolean } = Object.freeze({ value: false });

/** The condition used when a rule has no `when`. */
export const ALWAYS: ExecutableCondition = {
  source: true,
  evaluate: () => MATCHED,
  rawValue: () => true,
};

/**
 * Check a JSON Logic condition (operator allowlist, arity, fact paths, depth and size limits) and
 * compile it to closures. `basePointer` is where the condition sits in its document (`/rules/0/when`),
 * so problems carry document pointers. All problems are reported, not only the first.
 */
export function compileCondition(source: unknown, options: ConditionOptions, basePointer = ''): ConditionCompileResult {
  const compiler = new ConditionCompiler(options);
  const evaluator = compiler.compile(source, basePointer, 1, factsSchemaRoot());
  if (compiler.problems.length > 0) return { ok: false, problems: compiler.problems };
  const condition: ExecutableCondition = {
    source,
    evaluate(facts: RequestFacts) {
      try {
        // Shared frozen results: evaluation runs per rule per request and should not allocate.
        return truthy(evaluator(facts)) ? MATCHED : NOT_MATCHED;
      } catch (error) {
        return { value: false, error: error instanceof Error ? error.message : String(error) };
      }
    },
    rawValue: evaluator,
  };
  return { ok: true, condition };
}

function finite(operator: string, value: number): number {
  if (!Number.isFinite(value)) throw new ConditionEvaluationError(`\`${operator}\` produced a non-finite number (${String(value)})`);
  return value;
}

/** Own-property dot-path lookup with json-logic-js `var` semantics (null/undefined -> default). */
function readPath(data: unknown, segments: readonly string[], fallback: unknown): unknown {
  let current = data;
  for (const segment of segments) {
    if (current === null || current === undefined) return fallback;
    // Own properties only: never walk into a prototype (json-logic-js follows the chain).
    const holder = Object(current) as Record<string, unknown>;
    if (!Object.hasOwn(holder, segment)) return fallback;
    current = holder[segment];
    if (current === undefined) return fallback;
  }
  return current;
}

class ConditionCompiler {
  readonly problems: ConditionProblem[] = [];
  private nodes = 0;
  private readonly exposeHeaders: ReadonlySet<string>;
  private readonly maxDepth: number;
  private readonly maxNodes: number;
  private tooLargeReported = false;

  constructor(private readonly options: ConditionOptions) {
    this.exposeHeaders = new Set(options.exposeHeaders);
    this.maxDepth = options.maxDepth ?? DEFAULT_CONDITION_LIMITS.maxDepth;
    this.maxNodes = options.maxNodes ?? DEFAULT_CONDITION_LIMITS.maxNodes;
  }

  private problem(code: string, message: string, pointer: string, hint?: string, target?: 'key'): void {
    const problem: ConditionProblem = { code, message, pointer };
    if (hint !== undefined) problem.hint = hint;
    if (target !== undefined) problem.target = target;
    this.problems.push(problem);
  }

  /** `scope` is the schema of the data the node sees; undefined inside quantifiers over unknown arrays. */
  compile(node: unknown, pointer: string, depth: number, scope: FactSchema | undefined): Evaluator {
    this.nodes += 1;
    if (this.nodes > this.maxNodes) {
      if (!this.tooLargeReported) {
        this.tooLargeReported = true;
        this.problem('condition_too_large', `condition has more than ${this.maxNodes} nodes`, pointer, 'split it across rules');
      }
      return () => null;
    }
    if (depth > this.maxDepth) {
      this.problem('condition_too_deep', `condition is nested deeper than ${this.maxDepth} levels`, pointer);
      return () => null;
    }
    if (Array.isArray(node)) {
      const items = node.map((item, index) => this.compile(item, `${pointer}/${index}`, depth + 1, scope));
      return (data) => items.map((item) => item(data));
    }
    if (node === null || typeof node !== 'object') return () => node;

    const keys = Object.keys(node);
    if (keys.length !== 1) {
      const message =
        keys.length === 0
          ? 'an empty object is not an operation'
          : `object with several keys (${keys.map((key) => `\`${key}\``).join(', ')}) is not an operation; JSON Logic would treat it as an always-true literal`;
      this.problem('condition_object_literal', message, pointer, keys.length > 1 ? 'wrap each operation in its own object, e.g. inside `and`' : undefined);
      return () => null;
    }
    const operator = keys[0] ?? '';
    const operatorPointer = `${pointer}/${escapePointerSegment(operator)}`;
    const raw = (node as Record<string, unknown>)[operator];
    const args = Array.isArray(raw) ? raw : [raw];
    const spec = this.operatorSpec(operator, pointer);
    if (!spec) return () => null;
    if (args.length < spec.min || (spec.max !== undefined && args.length > spec.max)) {
      const expected = spec.max === undefined ? `at least ${spec.min}` : spec.min === spec.max ? `${spec.min}` : `${spec.min} to ${spec.max}`;
      this.problem('condition_arity', `\`${operator}\` takes ${expected} argument${expected === '1' ? '' : 's'}, got ${args.length}`, operatorPointer, undefined, 'key');
      return () => null;
    }
    const argumentPointer = (index: number): string => (Array.isArray(raw) ? `${operatorPointer}/${index}` : operatorPointer);
    const compileArgument = (index: number, argumentScope: FactSchema | undefined): Evaluator =>
      this.compile(args[index], argumentPointer(index), depth + 1, argumentScope);
    const compileAll = (): Evaluator[] => args.map((_, index) => compileArgument(index, scope));

    switch (operator) {
      case 'var':
        return this.compileVar(args, argumentPointer, depth, scope);
      case 'missing':
      case 'missing_some':
        return this.compileMissing(operator, args, argumentPointer, depth, scope);
      case 'if': {
        const branches = compileAll();
        return (data) => {
          let index = 0;
          for (; index < branches.length - 1; index += 2) {
            if (truthy((branches[index] as Evaluator)(data))) return (branches[index + 1] as Evaluator)(data);
          }
          return index === branches.length - 1 ? (branches[index] as Evaluator)(data) : null;
        };
      }
      case 'and': {
        const operands = compileAll();
        return (data) => {
          let current: unknown;
          for (const operand of operands) {
            current = operand(data);
            if (!truthy(current)) return current;
          }
          return current;
        };
      }
      case 'or': {
        const operands = compileAll();
        return (data) => {
          let current: unknown;
          for (const operand of operands) {
            current = operand(data);
            if (truthy(current)) return current;
          }
          return current;
        };
      }
      case 'some':
      case 'all':
      case 'none':
        return this.compileQuantifier(operator, args, compileArgument, scope);
      case '===':
      case '!==':
        this.checkStrictComparison(operator, args, operatorPointer, scope);
        return this.compileEager(operator, compileAll());
      default:
        return this.compileEager(operator, compileAll());
    }
  }

  private operatorSpec(operator: string, pointer: string): OperatorSpec | undefined {
    if (Object.hasOwn(ALLOWED_OPERATORS, operator)) return ALLOWED_OPERATORS[operator];
    if (Object.hasOwn(LOOSE_EQUALITY_OPERATORS, operator)) {
      if (this.options.looseEquality === true) return LOOSE_EQUALITY_OPERATORS[operator];
      const strict = operator === '==' ? '===' : '!==';
      this.problem(
        'condition_loose_equality',
        `\`${operator}\` compares with type coercion (1 ${operator} "1")`,
        `${pointer}/${escapePointerSegment(operator)}`,
        `use \`${strict}\`, or set \`options.loose_equality: true\``,
        'key',
      );
      // Reported, but the arguments are still checked so one run shows every problem; the
      // closure built for it is never used because the condition fails to compile.
      return LOOSE_EQUALITY_OPERATORS[operator];
    }
    const target = `${pointer}/${escapePointerSegment(operator)}`;
    if (Object.hasOwn(REFUSED_OPERATORS, operator)) {
      this.problem('condition_unknown_operator', `operator \`${operator}\` is not allowed in conditions`, target, REFUSED_OPERATORS[operator], 'key');
    } else {
      this.problem('condition_unknown_operator', `unknown operator \`${operator}\``, target, didYouMean(operator, Object.keys(ALLOWED_OPERATORS)), 'key');
    }
    return undefined;
  }

  /** A strict comparison of a fact with a literal of a type the fact never has is always false (or true). */
  private checkStrictComparison(operator: string, args: unknown[], pointer: string, scope: FactSchema | undefined): void {
    if (scope === undefined || this.options.checkTypes === false) return;
    const [left, right] = args;
    const pairs: Array<[unknown, unknown]> = [[left, right], [right, left]];
    for (const [candidate, literal] of pairs) {
      if (literal !== null && typeof literal === 'object') continue;
      const path = plainVarPath(candidate);
      if (path === undefined) continue;
      const check = checkFactPath(path, scope, this.exposeHeaders);
      if (!check.ok || literalFitsSchema(literal, check.schema)) continue;
      const outcome = operator === '===' ? 'never true' : 'always true';
      this.problem(
        'condition_type_mismatch',
        `\`${path}\` can never be ${JSON.stringify(literal)}, so this \`${operator}\` is ${outcome}`,
        pointer,
        describeSchema(check.schema),
        'key',
      );
      return;
    }
  }

  /** Check a literal path; returns its segments and the schema it reaches (undefined = unchecked). */
  private checkPath(path: unknown, pointer: string, scope: FactSchema | undefined): { segments: string[]; schema: FactSchema | undefined } | undefined {
    if (typeof path !== 'string' && typeof path !== 'number') {
      this.problem('condition_dynamic_path', 'fact paths must be literal strings', pointer, 'write the path as text, e.g. `{var: prompt_tokens}`');
      return undefined;
    }
    const text = String(path);
    const segments = text === '' ? [] : text.split('.');
    if (scope === undefined) {
      const forbidden = segments.find((segment) => FORBIDDEN_PATH_SEGMENTS.has(segment));
      if (forbidden !== undefined) {
        this.problem('condition_forbidden_path', `path segment \`${forbidden}\` is not allowed in \`${text}\``, pointer);
        return undefined;
      }
      return { segments, schema: undefined };
    }
    const check = checkFactPath(text, scope, this.exposeHeaders);
    if (!check.ok) {
      this.problem(check.code, check.message, pointer, check.hint);
      return undefined;
    }
    return { segments, schema: check.schema };
  }

  private compileVar(args: unknown[], argumentPointer: (index: number) => string, depth: number, scope: FactSchema | undefined): Evaluator {
    const path = args[0];
    const whole = path === undefined || path === null || path === '';
    const checked = whole ? { segments: [] } : this.checkPath(path, argumentPointer(0), scope);
    const fallback = args.length > 1 ? this.compile(args[1], argumentPointer(1), depth + 1, scope) : undefined;
    if (!checked) return () => null;
    const segments = checked.segments;
    if (segments.length === 0) return (data) => data;
    if (!fallback) return (data) => readPath(data, segments, null);
    return (data) => {
      const value = readPath(data, segments, undefined);
      if (value !== undefined) return value;
      const alternative = fallback(data);
      return alternative === undefined ? null : alternative;
    };
  }

  private compileMissing(
    operator: 'missing' | 'missing_some',
    args: unknown[],
    argumentPointer: (index: number) => string,
    depth: number,
    scope: FactSchema | undefined,
  ): Evaluator {
    // Paths must be literal so they can be checked; `missing` also takes one array of paths.
    const listIndex = operator === 'missing_some' ? 1 : 0;
    const list = operator === 'missing_some' || (args.length === 1 && Array.isArray(args[0])) ? args[listIndex] : args;
    if (!Array.isArray(list)) {
      this.problem('condition_dynamic_path', `\`${operator}\` needs a literal list of fact paths`, argumentPointer(listIndex));
      return () => null;
    }
    const listPointer = (index: number): string =>
      list === args ? argumentPointer(index) : `${argumentPointer(listIndex)}/${index}`;
    const paths: Array<{ key: unknown; segments: string[] }> = [];
    list.forEach((key, index) => {
      const checked = this.checkPath(key, listPointer(index), scope);
      if (checked) paths.push({ key, segments: checked.segments });
    });
    const findMissing = (data: unknown): unknown[] => {
      const missing: unknown[] = [];
      for (const { key, segments } of paths) {
        const value = segments.length === 0 ? data : readPath(data, segments, null);
        if (value === null || value === '') missing.push(key);
      }
      return missing;
    };
    if (operator === 'missing') return findMissing;
    const needed = this.compile(args[0], argumentPointer(0), depth + 1, scope);
    return (data) => {
      const need = needed(data);
      const missing = findMissing(data);
      return paths.length - missing.length >= (need as number) ? [] : missing;
    };
  }

  private compileQuantifier(
    operator: 'some' | 'all' | 'none',
    args: unknown[],
    compileArgument: (index: number, argumentScope: FactSchema | undefined) => Evaluator,
    scope: FactSchema | undefined,
  ): Evaluator {
    const collection = compileArgument(0, scope);
    // Inside the predicate the data is one element: check paths against the element schema when the
    // array is a plain fact, leave them unchecked (prototype segments still refused) otherwise.
    let elementScope: FactSchema | undefined;
    const first = args[0];
    if (scope !== undefined && first !== null && typeof first === 'object' && !Array.isArray(first) && Object.keys(first).length === 1 && 'var' in first) {
      const path = (first as { var: unknown }).var;
      const literal = Array.isArray(path) ? path[0] : path;
      if (typeof literal === 'string') {
        const check = checkFactPath(literal, scope, this.exposeHeaders);
        if (check.ok) elementScope = itemSchemaOf(check.schema);
      }
    }
    const predicate = compileArgument(1, elementScope);
    if (operator === 'some') {
      return (data) => {
        const items = collection(data);
        if (!Array.isArray(items)) return false;
        for (const item of items) if (truthy(predicate(item))) return true;
        return false;
      };
    }
    if (operator === 'all') {
      return (data) => {
        const items = collection(data);
        if (!Array.isArray(items) || items.length === 0) return false;
        for (const item of items) if (!truthy(predicate(item))) return false;
        return true;
      };
    }
    return (data) => {
      const items = collection(data);
      if (!Array.isArray(items)) return true;
      for (const item of items) if (truthy(predicate(item))) return false;
      return true;
    };
  }

  /** Operators whose arguments are all evaluated first (json-logic-js's depth-first default). */
  private compileEager(operator: string, operands: Evaluator[]): Evaluator {
    const [left = () => undefined, right = () => undefined, third] = operands;
    // The casts below only silence TypeScript: JS coercion is exactly what json-logic-js does.
    switch (operator) {
      case '===':
        return (data) => left(data) === right(data);
      case '!==':
        return (data) => left(data) !== right(data);
      case '==':
        return (data) => left(data) == right(data);
      case '!=':
        return (data) => left(data) != right(data);
      case '!':
        return (data) => !truthy(left(data));
      case '!!':
        return (data) => truthy(left(data));
      case '>':
        return (data) => (left(data) as number) > (right(data) as number);
      case '>=':
        return (data) => (left(data) as number) >= (right(data) as number);
      case '<':
        if (third) {
          return (data) => {
            const a = left(data) as number;
            const b = right(data) as number;
            const c = third(data) as number;
            return a < b && b < c;
          };
        }
        return (data) => (left(data) as number) < (right(data) as number);
      case '<=':
        if (third) {
          return (data) => {
            const a = left(data) as number;
            const b = right(data) as number;
            const c = third(data) as number;
            return a <= b && b <= c;
          };
        }
        return (data) => (left(data) as number) <= (right(data) as number);
      case 'in':
        return (data) => {
          const needle = left(data);
          const haystack = right(data);
          // json-logic-js: an empty string haystack is falsy, so never contains anything.
          if (typeof haystack === 'string') return haystack !== '' && haystack.indexOf(needle as string) !== -1;
          if (Array.isArray(haystack)) return haystack.indexOf(needle) !== -1;
          return false;
        };
      case '+':
        return (data) => {
          let sum = 0;
          for (const operand of operands) sum = parseFloat(String(sum)) + parseFloat(String(operand(data)));
          return finite('+', sum);
        };
      case '*':
        return (data) => {
          const values = operands.map((operand) => operand(data));
          if (values.length === 1) return values[0];
          let product: unknown = values[0];
          for (let index = 1; index < values.length; index += 1) product = parseFloat(String(product)) * parseFloat(String(values[index]));
          return finite('*', product as number);
        };
      case '-':
        if (operands.length === 1) return (data) => finite('-', -(left(data) as number));
        return (data) => finite('-', (left(data) as number) - (right(data) as number));
      case '/':
        return (data) => finite('/', (left(data) as number) / (right(data) as number));
      case '%':
        return (data) => finite('%', (left(data) as number) % (right(data) as number));
      case 'min':
        return (data) => finite('min', Math.min(...(operands.map((operand) => operand(data)) as number[])));
      case 'max':
        return (data) => finite('max', Math.max(...(operands.map((operand) => operand(data)) as number[])));
      case 'cat':
        return (data) => operands.map((operand) => operand(data)).join('');
      case 'substr':
        return (data) => {
          const source = String(left(data));
          const start = right(data) as number;
          const length = third ? (third(data) as number) : undefined;
          if (length !== undefined && length < 0) {
            const rest = source.substr(start);
            return rest.substr(0, rest.length + length);
          }
          return source.substr(start, length);
        };
      case 'merge':
        return (data) => operands.reduce<unknown[]>((merged, operand) => merged.concat(operand(data)), []);
      default:
        throw new Error(`operator \`${operator}\` has no implementation`);
    }
  }
}

/** The path of `{var: "path"}` / `{var: ["path"]}` without a default, else undefined. */
function plainVarPath(node: unknown): string | undefined {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1 || keys[0] !== 'var') return undefined;
  const raw = (node as { var: unknown }).var;
  const args = Array.isArray(raw) ? raw : [raw];
  return args.length === 1 && typeof args[0] === 'string' && args[0] !== '' ? args[0] : undefined;
}

function describeSchema(schema: FactSchema): string {
  const values = schema['enum'];
  if (Array.isArray(values)) return `its values are ${values.map((value) => JSON.stringify(value)).join(', ')}`;
  const type = schema['type'];
  return `it is ${Array.isArray(type) ? type.join(' or ') : String(type)}`;
}
