/**
 * The decision corpus (test/decisions/*.yaml) through the sidecar's dry-run route: every case
 * with a request is sent over real HTTP to `POST /api/v1/plan` of an app from `createApp`, built
 * with the case's compiled policy and catalog, snapshot, clock, seed and identity, and the answer
 * is checked with the runner's own `compareOutcome`. The engine's outcome for the same inputs is
 * computed too, and the two must agree (the plan, or the no-route error's code, status, message,
 * exclusions and matched rules), so the corpus pins the route and the engine to one behaviour.
 *
 * Not applicable over HTTP: cases that only check policy diagnostics (no request is ever routed)
 * and `facts:` cases (facts no request body produces).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { CompiledCatalog, CompiledPolicy, Identity, Plan, Snapshot } from '../engine/index.ts';
import { compareOutcome, type CaseOutcome } from '../engine/testing/expectations.ts';
import { evaluatePreparedCase, preparePolicyTestFile, type PreparedCaseInputs, type PreparedPolicyTestCase } from '../engine/testing/run-policy-tests.ts';
import { createApp } from '../sidecar/app.ts';
import { loaderFor } from '../sidecar/cli/files.ts';
import { formatFailure } from '../sidecar/cli/format.ts';
import { createKeyVerifier, sha256Hex, type GatewayKeyVerifier } from '../sidecar/http/auth.ts';
import type { ErrorEnvelope } from '../sidecar/http/errors.ts';
import { seedOf } from '../sidecar/http/gateway-context.ts';
import { createAdapterRegistry } from '../sidecar/providers/index.ts';

const folder = join(dirname(fileURLToPath(import.meta.url)), 'decisions');
const files = readdirSync(folder).filter((name) => name.endsWith('.yaml')).sort();

// ---------------------------------------------------------------------------------------------
// Generation ids with a chosen seed.
//
// The route seeds the engine with `seedOf(newId())`, 32-bit FNV-1a of the generation id. FNV-1a is
// not a one-way function: each step `h' = (h ^ c) * PRIME` inverts as `h = (h' * PRIME^-1) ^ c`.
// So an id with any seed is found by meeting in the middle: hash a fixed prefix forward through
// every 3-character tail (62^3 = 238,328 states), walk back from the wanted seed through every
// 3-character ending, and join where the two meet (about 13 joins expected per seed, ~20 ms).
// That lets the test inject `newId` and exercise the route's own seed derivation, rather than
// wrapping the engine to swap in the case's seed.
// ---------------------------------------------------------------------------------------------

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const FNV_PRIME = 0x01000193;
/** The inverse of the FNV prime modulo 2^32 (Newton's iteration doubles the correct bits each step). */
const FNV_PRIME_INVERSE = (() => {
  let inverse = FNV_PRIME;
  for (let step = 0; step < 5; step++) inverse = Math.imul(inverse, 2 - Math.imul(FNV_PRIME, inverse));
  return inverse >>> 0;
})();

function fnvStep(hash: number, code: number): number {
  return Math.imul(hash ^ code, FNV_PRIME) >>> 0;
}

function fnvBack(hash: number, code: number): number {
  return (Math.imul(hash, FNV_PRIME_INVERSE) ^ code) >>> 0;
}

/** Forward states after a prefix: hash -> index of the 3 characters that reach it (62^2 a + 62 b + c). */
const forwardTables = new Map<string, Map<number, number>>();
const idsBySeed = new Map<string, string>();

function forwardTable(prefix: string): Map<number, number> {
  let table = forwardTables.get(prefix);
  if (table) return table;
  table = new Map();
  let base = 0x811c9dc5;
  for (let index = 0; index < prefix.length; index++) base = fnvStep(base, prefix.charCodeAt(index));
  const size = ALPHABET.length;
  for (let first = 0; first < size; first++) {
    const one = fnvStep(base, ALPHABET.charCodeAt(first));
    for (let second = 0; second < size; second++) {
      const two = fnvStep(one, ALPHABET.charCodeAt(second));
      for (let third = 0; third < size; third++) table.set(fnvStep(two, ALPHABET.charCodeAt(third)), (first * size + second) * size + third);
    }
  }
  forwardTables.set(prefix, table);
  return table;
}

/** `gen-<unix seconds>-<20 base-62 characters>` (the shape `newGenerationId` makes) whose `seedOf` is `seed`. */
function generationIdWithSeed(seed: number, now: number): string {
  const cacheKey = `${seed}|${Math.floor(now / 1000)}`;
  const cached = idsBySeed.get(cacheKey);
  if (cached !== undefined) return cached;
  const size = ALPHABET.length;
  for (const filler of ['decisionsHttpA', 'decisionsHttpB', 'decisionsHttpC']) {
    const prefix = `gen-${Math.floor(now / 1000)}-${filler}`;
    const table = forwardTable(prefix);
    for (let sixth = 0; sixth < size; sixth++) {
      const five = fnvBack(seed >>> 0, ALPHABET.charCodeAt(sixth));
      for (let fifth = 0; fifth < size; fifth++) {
        const four = fnvBack(five, ALPHABET.charCodeAt(fifth));
        for (let fourth = 0; fourth < size; fourth++) {
          const middle = table.get(fnvBack(four, ALPHABET.charCodeAt(fourth)));
          if (middle === undefined) continue;
          const head = ALPHABET[Math.floor(middle / (size * size))] ?? '';
          const centre = ALPHABET[Math.floor(middle / size) % size] ?? '';
          const tail = ALPHABET[middle % size] ?? '';
          const id = `${prefix}${head}${centre}${tail}${ALPHABET[fourth] ?? ''}${ALPHABET[fifth] ?? ''}${ALPHABET[sixth] ?? ''}`;
          idsBySeed.set(cacheKey, id);
          return id;
        }
      }
    }
  }
  throw new Error(`no generation id found for seed ${seed}`);
}

// ---------------------------------------------------------------------------------------------
// Apps: one per compiled policy and catalog, serving one case at a time.
// ---------------------------------------------------------------------------------------------

/** What the app in front of a case reads per request: the case's snapshot, clock, id and keys. */
interface CaseInForce {
  snapshot: Snapshot;
  now: number;
  id: string;
  keys: GatewayKeyVerifier;
}

interface RunningApp {
  url: string;
  server: Server;
  /** Set before each request; cases run one after another. */
  current: CaseInForce;
}

const agent = new Agent({ connections: 4 });
const apps = new Map<CompiledPolicy, Map<CompiledCatalog, RunningApp>>();
const keyless = createKeyVerifier([]);

async function appFor(policy: CompiledPolicy, catalog: CompiledCatalog): Promise<RunningApp> {
  const byCatalog = apps.get(policy) ?? new Map<CompiledCatalog, RunningApp>();
  apps.set(policy, byCatalog);
  const known = byCatalog.get(catalog);
  if (known) return known;
  const running: RunningApp = { url: '', server: createServer(), current: { snapshot: {}, now: 0, id: '', keys: keyless } };
  const app = createApp({
    routing: { current: () => ({ policy, catalog }) },
    adapters: createAdapterRegistry(),
    credentials: () => undefined,
    keys: {
      get required() {
        return running.current.keys.required;
      },
      verify: (authorization) => running.current.keys.verify(authorization),
    },
    clock: { now: () => running.current.now, monotonic: () => performance.now() },
    newId: () => running.current.id,
    snapshot: () => running.current.snapshot,
  });
  running.server.on('request', app);
  await new Promise<void>((listening) => running.server.listen(0, '127.0.0.1', listening));
  running.url = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`;
  byCatalog.set(catalog, running);
  return running;
}

afterAll(async () => {
  await agent.close();
  const servers = [...apps.values()].flatMap((byCatalog) => [...byCatalog.values()].map((running) => running.server));
  await Promise.all(servers.map((server) => new Promise<void>((closed) => server.close(() => closed()))));
});

/**
 * The case's identity through the real key check. No identity: the keyless loopback mode (no keys
 * configured, request addressed to 127.0.0.1). Otherwise one gateway key whose name, user and team
 * are the case's. A key always has a name (default: its digest's prefix), so a case that gives a
 * user or team but no key gets the verifier's identity without `key`, as the runner's facts have it.
 */
function gatewayKeyFor(identity: Identity, token: string): { keys: GatewayKeyVerifier; authorization?: string } {
  if (identity.key === undefined && identity.user === undefined && identity.team === undefined) return { keys: keyless };
  const verifier = createKeyVerifier([{ sha256: sha256Hex(token), ...(identity.key !== undefined ? { name: identity.key } : {}), ...(identity.user !== undefined ? { user: identity.user } : {}), ...(identity.team !== undefined ? { team: identity.team } : {}) }]);
  if (identity.key !== undefined) return { keys: verifier, authorization: `Bearer ${token}` };
  return {
    keys: {
      required: verifier.required,
      verify(authorization) {
        const found = verifier.verify(authorization);
        if (!found) return found;
        const { key: _named, ...withoutKey } = found;
        void _named;
        return withoutKey;
      },
    },
    authorization: `Bearer ${token}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The answer as a case outcome.
// ---------------------------------------------------------------------------------------------

/** The engine's no-route code behind each error type the sidecar answers with (gateway-context.ts `noRouteError`). */
const CODE_OF_ERROR_TYPE: Record<string, string> = {
  no_endpoints: 'no_route',
  model_not_found: 'model_not_found',
  payment_required: 'budget_exceeded',
  invalid_request: 'invalid_request',
};

/** A 200 is the plan; an error envelope is the no-route error (or the facts stage's 400) it carries. */
function outcomeOfAnswer(status: number, body: unknown): CaseOutcome {
  if (status === 200) return { kind: 'plan', plan: body as Plan };
  const envelope = (body as ErrorEnvelope).error;
  const metadata = envelope.metadata;
  const errorType = metadata.error_type;
  // A 400 from building facts names the engine's code in `reason`; a no-route 400 has none.
  const code = errorType === 'invalid_request' && typeof metadata['reason'] === 'string' ? metadata['reason'] : (CODE_OF_ERROR_TYPE[errorType] ?? `sidecar:${errorType}`);
  const error: Extract<CaseOutcome, { kind: 'error' }>['error'] = { code, status, message: envelope.message };
  if (Array.isArray(metadata['excluded'])) error.excluded = metadata['excluded'] as NonNullable<typeof error.excluded>;
  if (Array.isArray(metadata['matched_rules'])) error.matched_rules = metadata['matched_rules'] as string[];
  return { kind: 'error', error };
}

/** The parts of an outcome both paths must agree on, as JSON (the route leaves the trace out of errors). */
function comparable(outcome: CaseOutcome): unknown {
  if (outcome.kind === 'plan') return JSON.parse(JSON.stringify(outcome.plan)) as unknown;
  if (outcome.kind === 'diagnostics') return outcome;
  const { code, status, message, excluded, matched_rules } = outcome.error;
  return JSON.parse(
    JSON.stringify({
      code,
      status,
      message,
      excluded: (excluded ?? []).map(({ endpoint, provider, model, reason, detail, source }) => ({ endpoint, provider, model, reason, detail, source })),
      matched_rules: matched_rules ?? [],
    }),
  ) as unknown;
}

async function planOverHttp(inputs: PreparedCaseInputs, body: unknown, index: number): Promise<{ outcome: CaseOutcome; seed: number }> {
  const running = await appFor(inputs.policy, inputs.catalog);
  const { keys, authorization } = gatewayKeyFor(inputs.identity, `sk-decisions-${index}`);
  const id = generationIdWithSeed(inputs.seed, inputs.now);
  running.current = { snapshot: inputs.snapshot, now: inputs.now, id, keys };
  const answer = await request(`${running.url}/api/v1/plan`, {
    method: 'POST',
    dispatcher: agent,
    headers: { ...inputs.headers, 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify(body),
  });
  const parsed = (await answer.body.json()) as unknown;
  if (answer.statusCode !== 200) {
    // The envelope's code is the HTTP status (OpenRouter's shape).
    expect((parsed as ErrorEnvelope).error.code).toBe(answer.statusCode);
  }
  return { outcome: outcomeOfAnswer(answer.statusCode, parsed), seed: seedOf(id) };
}

// ---------------------------------------------------------------------------------------------

type HttpCase = { note: string; line: number; expectation: PreparedPolicyTestCase['expectation']; inputs: PreparedCaseInputs; body: unknown };

const corpus = files.map((name) => {
  const path = resolve(folder, name);
  const prepared = preparePolicyTestFile(readFileSync(path, 'utf8'), `test/decisions/${name}`, loaderFor(path), { singleExpectation: true });
  const overHttp: HttpCase[] = [];
  const notApplicable: Array<{ note: string; reason: string }> = [];
  for (const testCase of prepared.cases) {
    if ('settled' in testCase) {
      notApplicable.push({ note: testCase.note, reason: testCase.expectation.diagnostics !== undefined ? 'diagnostics' : `settled: ${JSON.stringify(testCase.settled.failures)}` });
    } else if (testCase.inputs.source.kind === 'facts') {
      notApplicable.push({ note: testCase.note, reason: 'facts' });
    } else {
      overHttp.push({ note: testCase.note, line: testCase.line, expectation: testCase.expectation, inputs: testCase.inputs, body: testCase.inputs.source.body });
    }
  }
  return { name, diagnostics: prepared.diagnostics, total: prepared.cases.length, overHttp, notApplicable };
});

describe('decision corpus over POST /api/v1/plan', () => {
  it('routes at least 130 cases over HTTP; the rest only check diagnostics or give bare facts', () => {
    const total = corpus.reduce((sum, file) => sum + file.total, 0);
    const checked = corpus.reduce((sum, file) => sum + file.overHttp.length, 0);
    const notApplicable = corpus.flatMap((file) => file.notApplicable.map((entry) => `${file.name}: ${entry.note} (${entry.reason})`));
    console.log(`decision corpus over HTTP: ${checked} of ${total} cases checked; ${notApplicable.length} not applicable`);
    expect(notApplicable.filter((entry) => !entry.endsWith('(diagnostics)') && !entry.endsWith('(facts)'))).toEqual([]);
    expect(checked + notApplicable.length).toBe(total);
    expect(checked).toBeGreaterThanOrEqual(130);
  });

  let index = 0;
  for (const file of corpus) {
    describe(file.name, () => {
      it('loads', () => {
        expect(file.diagnostics).toEqual([]);
      });
      for (const testCase of file.overHttp) {
        const caseIndex = index++;
        it(testCase.note, async () => {
          const { outcome, seed } = await planOverHttp(testCase.inputs, testCase.body, caseIndex);
          expect(seed, 'the generation id carries the case seed').toBe(testCase.inputs.seed);
          const failures = compareOutcome(testCase.expectation, outcome);
          const engine = evaluatePreparedCase(testCase.inputs);
          const explanation = failures.flatMap((failure) => formatFailure(failure, '  ')).join('\n');
          expect(failures.length === 0, `${file.name}:${testCase.line} over HTTP\n${explanation}`).toBe(true);
          // Same inputs through the engine directly: the route must answer exactly that.
          expect(comparable(outcome), `${file.name}:${testCase.line}: the route and the engine disagree`).toEqual(comparable(engine));
        });
      }
    });
  }
});
