// The Models page refuses a file over the quarantine's size limit before a byte is sent; the limit unknown means no upload.
import t from 'tap';
import { formatBytes, uploadRefusal } from '../../ui/src/upload-limit.js';

const MAX = 3 * 1024 * 1024;

t.test('ui upload limit — the limit itself is accepted, one byte more is refused with both sizes and the policy key', async (t) => {
  t.equal(uploadRefusal({ name: 'm.gguf', size: 1 }, MAX), null);
  t.equal(uploadRefusal({ name: 'm.gguf', size: MAX }, MAX), null, 'the quarantine refuses size > max, so max itself passes');
  const over = uploadRefusal({ name: 'big.gguf', size: MAX + 1 }, MAX);
  t.type(over, 'string');
  t.match(over, /^big\.gguf is 3\.0 MiB \(3145729 bytes\), over the upload limit of 3\.0 MiB \(3145728 bytes, policy quarantine\.max_file_bytes\): nothing was sent$/);
  t.match(uploadRefusal({ name: 'huge.gguf', size: 200 * 1024 ** 3 }, 137438953472), /huge\.gguf is 200 GiB .* limit of 128 GiB/);
});

t.test('ui upload limit — fail closed: an unknown or nonsensical limit, an empty file or a strange size is refused', async (t) => {
  for (const limit of [null, 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.match(uploadRefusal({ name: 'm.gguf', size: 10 }, limit), /size limit is not known/, `limit ${String(limit)}`);
  }
  t.match(uploadRefusal({ name: 'empty.gguf', size: 0 }, MAX), /empty\.gguf is empty/);
  for (const size of [-1, Number.NaN, 2 ** 53]) t.match(uploadRefusal({ name: 'x', size }, Number.MAX_SAFE_INTEGER), /^the size of x cannot be read: nothing was sent$/, `size ${size}`);
});

t.test('ui upload limit — sizes for people', async (t) => {
  t.equal(formatBytes(0), '0 bytes');
  t.equal(formatBytes(1023), '1023 bytes');
  t.equal(formatBytes(1024), '1.0 KiB');
  t.equal(formatBytes(1536), '1.5 KiB');
  t.equal(formatBytes(10 * 1024), '10 KiB');
  t.equal(formatBytes(137438953472), '128 GiB');
  t.equal(formatBytes(5 * 1024 ** 5), '5.0 PiB');
  t.equal(formatBytes(4096 * 1024 ** 5), '4096 PiB', 'no unit past PiB');
});
