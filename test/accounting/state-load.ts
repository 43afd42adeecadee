import { formatUnits } from '../../sidecar/accounting/decimal.ts';
import type { AccountingState, ScopeLimit } from '../../sidecar/state/accounting-state.ts';

/**
 * `count` concurrent requests, each holding a worst case between $0.005 and $0.02 and settling a
 * real cost at most that (with sub-micro digits). Returns the settled costs.
 */
export async function runLoad(state: AccountingState, budget: ScopeLimit, count: number, seed: number): Promise<{ settled: string[]; refused: number }> {
  let random = seed;
  const next = () => {
    random = (random * 1_103_515_245 + 12_345) % 2_147_483_648;
    return random;
  };
  const settled: string[] = [];
  let refused = 0;
  await Promise.all(
    Array.from({ length: count }, async () => {
      const worst = 5_000_000_000_000_000n + BigInt(next() % 15_000_000) * 1_000_000_000n;
      const actual = (worst * BigInt(next() % 1000)) / 1000n + 7n;
      const held = await state.reserve([budget], formatUnits(worst));
      if (!held.ok) {
        refused += 1;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, next() % 5));
      const cost = formatUnits(actual > worst ? worst : actual);
      const result = await state.settle(held.reservation, cost);
      if (result.recorded) settled.push(cost);
    }),
  );
  return { settled, refused };
}

