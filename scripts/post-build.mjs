// Marks the built command entry points executable (tsc keeps their shebang, not their mode).
import { chmodSync, existsSync } from 'node:fs';

for (const bin of ['dist/bin/secai.js', 'dist/bin/securectl.js']) {
  if (existsSync(bin)) chmodSync(bin, 0o755);
}
