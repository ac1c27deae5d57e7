import type { Db } from '../db/database.js';
import { hashApiKey, type Caller } from './model.js';
import { findCallerByKeyHash, recordKeyUse } from './queries.js';

export interface KeyVerifierOptions {
  /** How long a verification (positive or negative) is trusted: the delay before a revocation bites. */
  cacheTtlMs: number;
  /** `last_used_at` is written at most this often per key. */
  lastUsedIntervalMs?: number;
  maxEntries?: number;
  onBackgroundError?: (error: unknown) => void;
}

interface Entry {
  caller: Promise<Caller | undefined>;
  /** The answer once the lookup has settled (null: no such key). */
  settled?: Caller | null;
  /** Whether `settled` is this entry's own answer (a refreshing entry starts with the previous one). */
  answered?: boolean;
  expiresAt: number;
}

/**
 * Verifies API keys without a database round trip per request: results are cached in-process
 * by key for a short TTL (concurrent misses share one lookup), and each key's last use is
 * recorded at most once a minute, in the background.
 */
export class KeyVerifier {
  private readonly entries = new Map<string, Entry>();
  private readonly lastRecorded = new Map<string, number>();
  private readonly lastUsedIntervalMs: number;
  private readonly maxEntries: number;

  constructor(
    private readonly db: Db,
    private readonly options: KeyVerifierOptions,
  ) {
    this.lastUsedIntervalMs = options.lastUsedIntervalMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  private readonly perRequest = new WeakMap<object, Promise<Caller | undefined>>();

  /**
   * verify(), at most once per request: a failed lookup (database down) must not be waited for
   * twice, whoever asks again during the same request.
   */
  verifyFor(request: object, key: string): Promise<Caller | undefined> {
    let verification = this.perRequest.get(request);
    if (!verification) {
      verification = this.verify(key);
      this.perRequest.set(request, verification);
    }
    return verification;
  }

  /**
   * Who a key was last verified as, without waiting and without database work: undefined when
   * this process has not verified it (or found it invalid last time). Possibly stale: a revoked
   * key shows as valid here until its next verification. Good enough for the rate limiter's
   * bucket; authentication always goes through verify().
   */
  knownCaller(key: string): Caller | undefined {
    return this.entries.get(key)?.settled ?? undefined;
  }

  /**
   * The answer for a key when this process verified it within the cache lifetime: the caller, or
   * null for no such key; undefined when a lookup is due (then verify()). Lets a request whose key
   * is cached be admitted without a promise or a turn of the event loop, the common case.
   */
  freshAnswer(key: string): Caller | null | undefined {
    const entry = this.entries.get(key);
    if (!entry?.answered) return undefined;
    const now = Date.now();
    if (entry.expiresAt <= now) return undefined;
    const caller = entry.settled ?? null;
    if (caller) this.noteUse(caller.keyId, now);
    return caller;
  }

  async verify(key: string): Promise<Caller | undefined> {
    const now = Date.now();
    // Cached by the key as presented: a hit costs no hash (the key is in this process's memory for
    // the request anyway); only a miss hashes it to look it up.
    let entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= now) {
      const fresh: Entry = {
        caller: findCallerByKeyHash(this.db, hashApiKey(key)),
        // The last answer stands for knownCaller() until this lookup settles.
        settled: entry?.settled,
        expiresAt: now + this.options.cacheTtlMs,
      };
      fresh.caller.then(
        (caller) => {
          fresh.settled = caller ?? null;
          fresh.answered = true;
        },
        () => undefined,
      );
      entry = fresh;
      this.remember(key, entry);
    }
    let caller: Caller | undefined;
    try {
      caller = await entry.caller;
    } catch (error) {
      // Never cache a failed lookup (the database was down): the next request asks again.
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw error;
    }
    if (caller) this.noteUse(caller.keyId, now);
    return caller;
  }

  private remember(key: string, entry: Entry): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      // Oldest first (Map keeps insertion order): bounded memory however many bogus keys arrive.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, entry);
  }

  private noteUse(keyId: string, now: number): void {
    if (now - (this.lastRecorded.get(keyId) ?? 0) < this.lastUsedIntervalMs) return;
    this.lastRecorded.set(keyId, now);
    recordKeyUse(this.db, keyId).catch((error: unknown) => this.options.onBackgroundError?.(error));
  }
}
