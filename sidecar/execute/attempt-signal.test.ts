import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { AttemptAbort } from './attempt-signal.ts';

describe('AttemptAbort', () => {
  it('aborts once, calling function and handleEvent listeners in order, then onabort', () => {
    const controller = new AttemptAbort();
    const calls: string[] = [];
    const listener = (event: { type: string }) => calls.push(`fn:${event.type}`);
    controller.signal.addEventListener('abort', listener);
    controller.signal.addEventListener('abort', listener); // the same listener once only
    controller.signal.addEventListener('abort', { handleEvent: () => calls.push('object') });
    const removed = () => calls.push('removed');
    controller.signal.addEventListener('abort', removed);
    controller.signal.removeEventListener('abort', removed);
    controller.signal.onabort = () => calls.push('onabort');
    expect(() => controller.signal.throwIfAborted()).not.toThrow();

    const reason = new Error('deadline: attempt');
    controller.abort(reason);
    controller.abort(new Error('second'));
    expect(calls).toEqual(['fn:abort', 'object', 'onabort']);
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toBe(reason);
    expect(() => controller.signal.throwIfAborted()).toThrow(reason);
    // Listeners added after the abort are not called.
    controller.signal.addEventListener('abort', () => calls.push('late'));
    expect(calls).toHaveLength(3);
  });

  it('gives an AbortError reason when aborted without one', () => {
    const controller = new AttemptAbort();
    controller.abort();
    expect(controller.signal.reason).toBeInstanceOf(DOMException);
    expect((controller.signal.reason as DOMException).name).toBe('AbortError');
  });

  it('cancels node:timers/promises and undici requests as an AbortSignal does', async () => {
    const timer = new AttemptAbort();
    const slept = sleep(60_000, undefined, { signal: timer.signal.asAbortSignal() });
    timer.abort(new Error('client gone'));
    await expect(slept).rejects.toMatchObject({ name: 'AbortError' });

    // A server that never answers: only the abort can end the request.
    const server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const upstream = new AttemptAbort();
      const pending = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { signal: upstream.signal.asAbortSignal() });
      setTimeout(() => upstream.abort(new Error('deadline: first_byte')), 20);
      await expect(pending).rejects.toThrow('deadline: first_byte');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
