// Checksums that tell real card numbers and IBANs from random digits.

/** Luhn (ISO/IEC 7812-1) over the ASCII digits in `b[from..to)`, skipping separators. */
export function luhnValid(b: Uint8Array, from: number, to: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = to - 1; i >= from; i--) {
    const c = b[i]!;
    if (c < 48 || c > 57) continue;
    let d = c - 48;
    if (double) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** ISO 13616 IBAN check: move the first four characters to the end, letters to 10..35, mod 97 must be 1. */
export function ibanValid(chars: readonly number[]): boolean {
  if (chars.length < 15 || chars.length > 34) return false;
  let rem = 0;
  const step = (c: number) => {
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else rem = -1;
  };
  for (let i = 4; i < chars.length && rem >= 0; i++) step(chars[i]!);
  for (let i = 0; i < 4 && rem >= 0; i++) step(chars[i]!);
  return rem === 1;
}
