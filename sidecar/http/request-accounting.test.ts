import { describe, expect, it } from 'vitest';
import type { CompiledCatalog, CompiledPolicy, Plan, PlanAttempt, RequestFacts } from '../../engine/index.ts';
import type { AlertEvent } from '../state/accounting-state.ts';
import { keyLimitScope } from '../state/index.ts';
import { MemoryAccountingState } from '../state/memory-state.ts';
import type { GenerationRecord } from '../store/generation-record.ts';
import type { ApiKeyRecord } from '../store/keys.ts';
import { silentLogger } from '../logger.ts';
import { GatewayError } from './errors.ts';
import { RequestAccounting } from './request-accounting.ts';

const NOW = Date.UTC(2026, 10, 25, 12);

function attempt(endpoint: string, prompt: string, completion: string): PlanAttempt {
  return { endpoint, provider: endpoint, provider_name: endpoint, model: 'm', pricing: { prompt, completion } } as unknown as PlanAttempt;
}

// The first attempt is the cheaper one; a fallback to the second must still be covered.
const plan = { attempts: [attempt('cheap', '0.000001', '0.000002'), attempt('dear', '0.000003', '0.000004')], budgets: [], estimate: { prompt_tokens: 100, max_completion_tokens: 1000 } } as unknown as Plan;
const facts = { prompt_tokens: 100, max_tokens: 1000 } as RequestFacts;
const catalog = { endpoints: [] } as unknown as CompiledCatalog;
const policy = { budgets: new Map() } as unknown as CompiledPolicy;

const key: ApiKeyRecord = {
  hash: 'a'.repeat(64),
  name: 'k',
  label: 'sk-sy-v1-aaa...aaa',
  limit: '0.005',
  limit_reset: null,
  is_management_key: false,
  disabled: false,
  user: null,
  team: null,
  created_at: new Date(NOW).toISOString(),
  updated_at: new Date(NOW).toISOString(),
  expires_at: null,
  revoked_at: null,
};
const identity = { key: key.hash };

function setUp() {
  const state = new MemoryAccountingState({ clock: () => NOW });
  const alerts: AlertEvent[] = [];
  const accounting = new RequestAccounting({
    state,
    generations: { sumCost: async () => '0' },
    storedKeyOf: (who) => (who === identity ? key : undefined),
    rateLimits: {},
    alertThresholds: [0.5, 1],
    alerts: { notify: (events) => void alerts.push(...events), drain: async () => {} },
    logger: silentLogger,
    now: () => NOW,
  });
  const response = { setHeader: () => undefined } as never;
  return { state, alerts, accounting, response };
}

function record(id: string, cost: string): GenerationRecord {
  return { id, total_cost: cost, usage: {}, key: key.hash } as unknown as GenerationRecord;
}

describe('RequestAccounting', () => {
  it('holds the dearest attempt of the plan, not the first', () => {
    const { accounting } = setUp();
    const worst = accounting.worstCase(plan, facts, catalog);
    // 100 x 0.000003 + 1000 x 0.000004
    expect(worst.amount).toBe('0.0043');
    expect(worst.attempt.endpoint).toBe('dear');
  });

  it('refuses what the key limit cannot hold, saying how many tokens fit, and settles the real cost', async () => {
    const { accounting, state, alerts, response } = setUp();
    expect(await accounting.admit('gen-1', identity, plan, facts, policy, catalog, response)).toBeUndefined();
    const refused = await accounting.admit('gen-2', identity, plan, facts, policy, catalog, response);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused?.status).toBe(402);
    // 0.005 - 0.0043 held = 0.0007; minus the prompt (0.0003) leaves 100 tokens at 0.000004.
    expect(refused?.message).toContain('You requested up to 1000 tokens, but can only afford 100.');

    accounting.settle(record('gen-2', '0'));
    accounting.settle(record('gen-1', '0.003'));
    await accounting.drain();
    const scope = keyLimitScope(key, new Date(NOW));
    expect(scope).not.toBeNull();
    const [headroom] = await state.headroom([scope!]);
    expect(headroom).toMatchObject({ spent: '0.003', reserved: '0', remaining: '0.002' });
    expect(alerts.map((alert) => alert.threshold)).toEqual([0.5]);
    expect(accounting.openHolds).toBe(0);
  });
});
