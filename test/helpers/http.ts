// fetch for tests that also block their event loop (a spawnSync of securectl): one fresh connection per request.
// A pooled keep-alive socket that the gateway closed (its keep-alive timeout is 5 s) while the test's loop was
// blocked would be taken again before its close was read, and the request fail with "other side closed".
export function httpFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('connection', 'close');
  return fetch(url, { ...init, headers });
}
