export interface ReadinessOptions {
  /** How long one check may take (waiting for a connection included) before it counts as not ready. */
  timeoutMs: number;
  /** How long a settled answer is reused, so that probes cost at most one check per this period. */
  reuseMs: number;
}

/**
 * Whether the database answers, checked by at most one query at a time in this process. /readyz
 * needs no key and is never rate limited, so a flood of probes (or a misconfigured balancer) must
 * not cost a pooled connection each: concurrent probes share the check in flight, and its answer,
 * ready or not, is reused for `reuseMs` after it settles. A probe then costs at most one query per
 * `reuseMs` however many arrive, and learns of a database that went away within about
 * `reuseMs + timeoutMs`.
 */
export class ReadinessCheck {
  private latest: { ready: Promise<boolean>; reusableUntil: number } | undefined;

  constructor(
    private readonly ping: (timeoutMs: number) => Promise<void>,
    private readonly options: ReadinessOptions,
  ) {}

  isReady(): Promise<boolean> {
    if (this.latest && Date.now() < this.latest.reusableUntil) return this.latest.ready;
    const latest = { ready: this.check(), reusableUntil: Number.POSITIVE_INFINITY };
    this.latest = latest;
    void latest.ready.then(() => {
      latest.reusableUntil = Date.now() + this.options.reuseMs;
    });
    return latest.ready;
  }

  private async check(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    // The ping has its own timeout; this one also bounds waiting for a free connection.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('readiness check timed out')), this.options.timeoutMs);
    });
    try {
      await Promise.race([this.ping(this.options.timeoutMs), timeout]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
