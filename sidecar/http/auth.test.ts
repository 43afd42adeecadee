import { describe, expect, it } from 'vitest';
import { createKeyVerifier, isLoopbackHost, sha256Hex } from './auth.ts';

describe('createKeyVerifier', () => {
  const verifier = createKeyVerifier([
    { sha256: sha256Hex('sk-one'), name: 'one', team: 'search' },
    { sha256: sha256Hex('sk-two') },
  ]);

  it('knows the caller by key name, or by digest prefix when unnamed', () => {
    expect(verifier.required).toBe(true);
    expect(verifier.verify('Bearer sk-one')).toEqual({ key: 'one', team: 'search' });
    expect(verifier.verify('Bearer sk-two')).toEqual({ key: sha256Hex('sk-two').slice(0, 12) });
  });

  it('refuses a missing, malformed or wrong key', () => {
    expect(verifier.verify(undefined)).toBeUndefined();
    expect(verifier.verify('sk-one')).toBeUndefined();
    expect(verifier.verify('Basic c2stb25l')).toBeUndefined();
    expect(verifier.verify('Bearer sk-three')).toBeUndefined();
  });

  it('accepts everyone, anonymously, when no key is configured', () => {
    const open = createKeyVerifier([]);
    expect(open.required).toBe(false);
    expect(open.verify(undefined)).toEqual({});
  });
});

describe('isLoopbackHost', () => {
  it('accepts the names of this machine, with or without a port', () => {
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1:8080', '127.0.0.2', '[::1]:8080', 'app.localhost:3000', 'LOCALHOST:1']) expect(isLoopbackHost(host)).toBe(true);
  });

  it('refuses every other name, and a missing header', () => {
    for (const host of [undefined, '', 'example.com', 'evil.example:8080', '127.0.0.1.evil.example', '10.0.0.1:8080', '[fe80::1]:8080', 'localhost.evil.example']) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });
});
