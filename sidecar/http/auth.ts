/**
 * Gateway keys: `Authorization: Bearer <key>` checked against SHA-256 digests in constant time.
 * Configured keys are hashed once at start-up and never logged. A header that verified is
 * remembered (`VerifiedHeaders`, bounded, successes only) so that the next request carrying it is
 * not hashed again: the only plaintext kept is that of keys recently presented and accepted.
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto';
import type { Identity } from '../../engine/index.ts';

/** One accepted key, by digest, with who it stands for. */
export interface GatewayKey {
  /** SHA-256 of the key, lowercase hex. */
  sha256: string;
  /** Shown in logs, records and policy facts instead of the key; default: the digest's first 12 hex. */
  name?: string;
  user?: string;
  team?: string;
}

export interface GatewayKeyVerifier {
  /** False when no key is configured: every request is accepted (loopback only, see server.ts). */
  readonly required: boolean;
  /** The caller's identity, or undefined when the header is missing or wrong. */
  verify(authorization: string | undefined): Identity | undefined;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Accepted `Authorization` values remembered per verifier. */
export const VERIFIED_HEADERS_KEPT = 1024;

/**
 * `Authorization` header values that verified, with what they verified as. Only successes are
 * added, so a caller cannot fill it with guesses; when full, the oldest entry goes. The owner
 * clears it whenever what verified could change (a key revoked, disabled or expired).
 */
export class VerifiedHeaders<T> {
  readonly #entries = new Map<string, T>();

  get(authorization: string): T | undefined {
    return this.#entries.get(authorization);
  }

  remember(authorization: string, value: T): void {
    if (this.#entries.size >= VERIFIED_HEADERS_KEPT) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(authorization, value);
  }

  clear(): void {
    this.#entries.clear();
  }
}

export function createKeyVerifier(keys: readonly GatewayKey[]): GatewayKeyVerifier {
  const entries = keys.map((key) => ({
    digest: Buffer.from(key.sha256, 'hex'),
    identity: { key: key.name ?? key.sha256.slice(0, 12), ...(key.user ? { user: key.user } : {}), ...(key.team ? { team: key.team } : {}) } satisfies Identity,
  }));
  const anonymous: Identity = {};
  // The keys never change for this verifier, so an accepted header stays accepted.
  const verified = new VerifiedHeaders<Identity>();
  return {
    required: entries.length > 0,
    verify(authorization) {
      if (entries.length === 0) return anonymous;
      if (!authorization || !authorization.startsWith('Bearer ')) return undefined;
      const known = verified.get(authorization);
      if (known !== undefined) return known;
      const presented = hash('sha256', authorization.slice(7).trim(), 'buffer');
      let found: Identity | undefined;
      // Compare against every key so the time taken does not depend on which one matched.
      for (const entry of entries) if (timingSafeEqual(presented, entry.digest)) found = entry.identity;
      if (found !== undefined) verified.remember(authorization, found);
      return found;
    },
  };
}

/**
 * Whether a `Host` header names this machine (`localhost`, `127.x.x.x`, `[::1]`, any port). Without
 * gateway keys this is checked on every authenticated route: a web page that points its own name
 * at 127.0.0.1 (DNS rebinding) then still cannot use the gateway, because its requests carry its
 * own host name.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  let name = host.toLowerCase();
  if (name.startsWith('[')) name = name.slice(1, name.indexOf(']'));
  else if (name.indexOf(':') === name.lastIndexOf(':')) name = name.split(':')[0] ?? '';
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
