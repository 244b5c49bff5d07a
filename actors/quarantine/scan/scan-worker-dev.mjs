// Boots the scan worker from TypeScript sources (tests, benchmarks): registers tsx in this thread, then loads the worker.
import { register } from 'tsx/esm/api';

register();
await import('./scan-worker.ts');
