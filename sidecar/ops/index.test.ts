import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.ts';
import { MemoryGenerationStore, type GenerationStore } from '../store/generation-record.ts';
import { generationRecord } from './__test-helpers__/records.ts';
import { GatewayMetrics, Ops } from './index.ts';
import type { PolicyReloader } from './policy-reloader.ts';

function ops(): Ops {
  const clock = { now: () => Date.UTC(2026, 10, 25, 12), monotonic: () => 0 };
  return new Ops({} as PolicyReloader, { clock, logger: silentLogger, files: {} as never }, new GatewayMetrics({ processMetrics: false }));
}

describe('observed store', () => {
  it('appends to the inner store and observes the record', async () => {
    const inner = new MemoryGenerationStore();
    const front = ops();
    const store = front.observeStore(inner);
    store.append(generationRecord({ id: 'gen-1', createdAt: '2026-11-25T12:00:00.000Z' }));
    expect(await inner.get('gen-1')).toMatchObject({ id: 'gen-1' });
    expect(front.health.endpoints()).toEqual(['openai/gpt-4o-mini@sim-fast']);
  });

  it('has durable() exactly when the inner store has it, and forwards it', async () => {
    expect(ops().observeStore(new MemoryGenerationStore()).durable).toBeUndefined();
    let settle: () => void = () => {};
    const pending = new Promise<void>((resolve) => (settle = resolve));
    let calls = 0;
    const memory = new MemoryGenerationStore();
    const journaled: GenerationStore = {
      append: (record) => memory.append(record),
      durable() {
        calls++;
        // `this` is the inner store.
        return this === journaled ? pending : undefined;
      },
      get: (id) => memory.get(id),
      list: (options) => memory.list(options),
      flush: () => memory.flush(),
      close: () => memory.close(),
    };
    const store = ops().observeStore(journaled);
    expect(store.durable).toBeTypeOf('function');
    const durable = store.durable?.();
    expect(durable).toBe(pending);
    expect(calls).toBe(1);
    settle();
    await durable;
  });
});
