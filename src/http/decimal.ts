/**
 * `multipleOf` as the contract means it: decimal arithmetic on the number as the client wrote it
 * (0.29 is a multiple of 0.01), never binary division (0.29 / 0.01 is 28.999999999999996 in
 * floating point, and no tolerance is right from 0.01 to 999999999999.99). JSON.parse keeps no
 * text, so the number is read back as its shortest round-trip decimal (what String gives): the
 * text sent, for any number of up to 15 significant digits.
 */
export function isMultipleOf(value: number, step: number): boolean {
  if (!Number.isFinite(value) || !Number.isFinite(step) || step === 0) return false;
  const a = decimalOf(value);
  const b = decimalOf(step);
  const scale = Math.max(a.scale, b.scale);
  return (a.digits * 10n ** BigInt(scale - a.scale)) % (b.digits * 10n ** BigInt(scale - b.scale)) === 0n;
}

/** The decimal places a power of ten such as 0.01 stands for (2); undefined for any other step. */
export function decimalPlacesOf(step: number): number | undefined {
  const { digits, scale } = decimalOf(step);
  return digits === 1n ? scale : undefined;
}

/** A finite number as digits × 10^-scale, from its shortest decimal text ("1.5e-7" is 15 × 10^-8). */
function decimalOf(value: number): { digits: bigint; scale: number } {
  const [mantissa, exponent = '0'] = String(value).split('e');
  const [whole, fraction = ''] = mantissa!.split('.');
  const digits = BigInt(whole! + fraction);
  const scale = fraction.length - Number(exponent);
  return scale >= 0 ? { digits, scale } : { digits: digits * 10n ** BigInt(-scale), scale: 0 };
}
