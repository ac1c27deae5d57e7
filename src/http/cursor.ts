import { createHmac, timingSafeEqual } from 'node:crypto';
import { invalidRequest } from './problem.js';

const MAC_LENGTH = 16; // base64url characters: 96 bits of HMAC-SHA256

/**
 * Keyset cursors on the wire: base64url of a JSON array of the last row's sort key, followed by a
 * MAC. Opaque to clients and tamper-evident: anything the server did not issue is a 400, never a
 * query from a forged position.
 */
export class CursorCodec {
  private key: Promise<Buffer> | undefined;

  /** The key is fetched on first use (not at start-up, so the app starts while the database is down). */
  constructor(private readonly loadKey: () => Promise<Buffer>) {}

  async encode(position: readonly (string | number)[]): Promise<string> {
    const payload = Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
    return payload + (await this.mac(payload));
  }

  /**
   * `parse` checks the decoded array's shape; the MAC already proves the server issued it. `path`
   * names the parameter in the 400 (`/query/cursor` unless told).
   */
  async decode<T>(cursor: string, parse: (position: unknown[]) => T | undefined, path = '/query/cursor'): Promise<T> {
    const payload = cursor.slice(0, -MAC_LENGTH);
    const given = Buffer.from(cursor.slice(-MAC_LENGTH));
    const expected = Buffer.from(await this.mac(payload));
    let value: T | undefined;
    if (payload.length > 0 && given.length === expected.length && timingSafeEqual(given, expected)) {
      try {
        const position: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
        value = Array.isArray(position) ? parse(position) : undefined;
      } catch {
        value = undefined;
      }
    }
    if (value === undefined) {
      throw invalidRequest([{ path, message: 'is not a cursor returned by this API' }]);
    }
    return value;
  }

  private async mac(payload: string): Promise<string> {
    this.key ??= this.loadKey().catch((error: unknown) => {
      this.key = undefined; // try again on the next request
      throw error;
    });
    return createHmac('sha256', await this.key)
      .update(payload)
      .digest('base64url')
      .slice(0, MAC_LENGTH);
  }
}
