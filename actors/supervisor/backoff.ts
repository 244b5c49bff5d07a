// Restart delays for the supervisor: the policy itself lives with the slot machine that applies it.
export { DEFAULT_BACKOFF, givesUp, nextDelay, type BackoffPolicy } from '../../machines/supervisor/backoff.js';
