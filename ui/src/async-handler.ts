// Wraps an async UI event handler: the browser ignores what a handler returns, so a failure the handler did not catch is reported on the console, never dropped.

export function asyncHandler<A extends unknown[]>(fn: (...args: A) => Promise<unknown>): (...args: A) => void {
  return (...args) => {
    // The handler's synchronous start (preventDefault and the like) still runs within the event.
    fn(...args).catch((err: unknown) => console.error('a UI action failed', err));
  };
}
