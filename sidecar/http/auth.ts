/**
 * Gateway keys: `Authorization: Bearer <key>` checked against SHA-256 digests in constant time.
 * Keys are hashed once at start-up; the plaintext is never kept or logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
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

export function createKeyVerifier(keys: readonly GatewayKey[]): GatewayKeyVerifier {
  const entries = keys.map((key) => ({
    digest: Buffer.from(key.sha256, 'hex'),
    identity: { key: key.name ?? key.sha256.slice(0, 12), ...(key.user ? { user: key.user } : {}), ...(key.team ? { team: key.team } : {}) } satisfies Identity,
  }));
  const anonymous: Identity = {};
  return {
    required: entries.length > 0,
    verify(authorization) {
      if (entries.length === 0) return anonymous;
      if (!authorization || !authorization.startsWith('Bearer ')) return undefined;
      const presented = createHash('sha256').update(authorization.slice(7).trim()).digest();
      let found: Identity | undefined;
      // Compare against every key so the time taken does not depend on which one matched.
      for (const entry of entries) if (timingSafeEqual(presented, entry.digest)) found = entry.identity;
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
