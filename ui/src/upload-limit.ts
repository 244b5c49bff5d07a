// The Models page's check of a file before it is uploaded: the quarantine's own size limit, so a refused file never travels.

/** Bytes for people: binary units, one decimal below 10 (`3.0 MiB`, `128 GiB`). */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  if (i === 0) return `${n} bytes`;
  return `${v < 10 ? v.toFixed(1) : Math.floor(v)} ${units[i]}`;
}

/**
 * Why this file must not be uploaded, or null if it may be. `maxFileBytes` is policy
 * `quarantine.max_file_bytes` as the quarantine reports it (`GET /api/models/catalog`); while it is
 * not known (null) nothing is sent: fail closed. The quarantine refuses `size > max` (the limit itself
 * is accepted) and the gateway a body of no bytes; both still check (this only saves the transfer).
 */
export function uploadRefusal(file: { name: string; size: number }, maxFileBytes: number | null): string | null {
  if (maxFileBytes === null || !Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) {
    return 'the upload size limit is not known (the catalog did not load): nothing was sent; reload the page to try again';
  }
  if (!Number.isSafeInteger(file.size) || file.size < 0) return `the size of ${file.name} cannot be read: nothing was sent`;
  if (file.size === 0) return `${file.name} is empty: nothing was sent`;
  if (file.size > maxFileBytes) {
    return `${file.name} is ${formatBytes(file.size)} (${file.size} bytes), over the upload limit of ${formatBytes(maxFileBytes)} `
      + `(${maxFileBytes} bytes, policy quarantine.max_file_bytes): nothing was sent`;
  }
  return null;
}
