// Module hooks: every import of bus/schema resolves to the untyped builders, except the builders' own re-export.
const LEGACY = new URL('./builders.ts', import.meta.url).href;

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (/\/bus\/schema\.(ts|js)$/.test(r.url) && context.parentURL !== LEGACY) return { ...r, url: LEGACY };
  return r;
}
