import { createHash, randomBytes } from 'node:crypto';

/** What a key may do. Reading the catalogue counts as reading orders. */
export const allScopes = ['orders:read', 'orders:write', 'services:write', 'metrics:read', 'events:read'] as const;
export type Scope = (typeof allScopes)[number];

export function isScope(value: string): value is Scope {
  return (allScopes as readonly string[]).includes(value);
}

const KEY_PREFIX = 'osk_'; // recognisable in a leaked config file or a secret scanner

/** A new key: 256 random bits, so a plain SHA-256 is enough to store it (no salt or KDF needed). */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The caller behind a request, once its key is verified. */
export interface Caller {
  keyId: string;
  name: string;
  scopes: readonly string[];
}

/** A key as listed: never the key itself, which is stored only as its hash. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export class DuplicateKeyNameError extends Error {
  constructor(readonly keyName: string) {
    super(`a live key named ${keyName} already exists`);
  }
}
