// The image gallery: each picture is encrypted vault records in the gateway's own namespace, under gallery/<id>/ (the
// PNG in pieces, then its metadata, written last: an image is listed only once whole); a locked vault refuses (423).
import { serveOp } from '../../../bus/op-ref.js';
import { check, s } from '../../../bus/schema.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { vaultManifest } from '../../../runtime/catalog.js';
import { DIFFUSION_LIMITS, SCHEDULER_KINDS } from '../../../workers/diffusion/protocol.js';
import type { GatewayDeps } from '../deps.js';
import { sendJson, type Route } from '../http.js';
import { newRequestId, sha256 } from './image-common.js';

/** Ids are made here (random, 128 bits, url-safe); anything else is refused before the vault is asked. */
export const IMAGE_ID = /^[A-Za-z0-9_-]{16,64}$/;
export const MAX_IMAGES = 500;
/** One vault record per piece: a record travels in one bus message (at most 1 MiB). */
export const PIECE_BYTES = 512 * 1024;
const PREFIX = 'gallery/';
const metaKey = (id: string) => `${PREFIX}${id}/meta`;
const pieceKey = (id: string, i: number) => `${PREFIX}${id}/png.${i}`;

const metaSchema = s.object({
  id: s.string({ maxLength: 64, pattern: IMAGE_ID.source }),
  created: s.integer({ minimum: 0 }),
  model: s.string({ maxLength: 128 }),
  prompt: s.string({ maxLength: DIFFUSION_LIMITS.promptChars }),
  negativePrompt: s.string({ maxLength: DIFFUSION_LIMITS.promptChars }),
  seed: s.integer({ minimum: 0, maximum: DIFFUSION_LIMITS.maxSeed }),
  width: s.integer({ minimum: 1, maximum: DIFFUSION_LIMITS.maxSide }),
  height: s.integer({ minimum: 1, maximum: DIFFUSION_LIMITS.maxSide }),
  steps: s.integer({ minimum: 0, maximum: DIFFUSION_LIMITS.maxSteps }),
  guidance: s.number({ minimum: 0, maximum: DIFFUSION_LIMITS.maxGuidance }),
  scheduler: s.string({ enum: SCHEDULER_KINDS }),
  img2img: s.boolean(),
  pngBytes: s.integer({ minimum: 1 }),
  pngSha256: s.string({ pattern: '^[0-9a-f]{64}$' }),
  pieces: s.integer({ minimum: 1, maximum: 4096 }),
}, ['negativePrompt']);
/** What is stored beside the PNG (and listed, less the hashes). */
export type GalleryMeta = ReturnType<typeof parseMeta>;
function parseMeta(b: Uint8Array) {
  try {
    return check(metaSchema, JSON.parse(Buffer.from(b).toString('utf8')), 'gallery record');
  } catch (err) {
    throw new SecaiError(ErrorCode.VAULT_CORRUPT, `a gallery record is not one the gateway wrote: ${(err as Error).message}`, { cause: err });
  }
}

/** A gallery entry as GET /api/gallery lists it. */
export interface GalleryItem { id: string; created: number; model: string; prompt: string; seed: number; width: number; height: number; steps: number; scheduler: string }

function imageId(raw: string | undefined): string {
  if (!raw || !IMAGE_ID.test(raw)) throw new SecaiError(ErrorCode.USAGE, 'an image id is 16 to 64 characters of A-Z a-z 0-9 _ -');
  return raw;
}
const notFound = () => new SecaiError(ErrorCode.IMAGE_NOT_FOUND, 'no image in the gallery with that id');

export interface Gallery {
  /** Stores a PNG and what made it; answers its id. Refused (423) while the vault is locked. */
  save(png: Buffer, about: Omit<GalleryMeta, 'id' | 'created' | 'pngBytes' | 'pngSha256' | 'pieces'>): Promise<string>;
  /** Throws VAULT_LOCKED (or VAULT_UNINITIALIZED) unless the vault can store an image now. */
  requireOpen(why: string): Promise<void>;
  list(): Promise<GalleryItem[]>;
  read(id: string): Promise<{ meta: GalleryMeta; png: Buffer }>;
  remove(id: string): Promise<void>;
}

export function gallery(d: GatewayDeps): Gallery {
  // Writes go put → ticket → commit: the ticket comes back only to the gateway's own inbox.
  const write = async (key: string, value?: Uint8Array) => {
    const { ticket } = value ? await d.bus.call(serveOp(vaultManifest, 'put'), { key, value }) : await d.bus.call(serveOp(vaultManifest, 'delete'), { key });
    await d.bus.call(serveOp(vaultManifest, 'commit'), { ticket });
  };
  const get = async (key: string): Promise<Uint8Array> => {
    try {
      return (await d.bus.call(serveOp(vaultManifest, 'get'), { key })).value;
    } catch (err) {
      // The vault says UNKNOWN_OP for a key it does not hold.
      if ((err as SecaiError).code === ErrorCode.UNKNOWN_OP) throw notFound();
      throw err;
    }
  };
  const keys = async () => (await d.bus.call(serveOp(vaultManifest, 'list'), { prefix: PREFIX })).keys;
  const idsOf = (all: string[]) => all.filter((k) => k.endsWith('/meta')).map((k) => k.slice(PREFIX.length, -'/meta'.length)).filter((id) => IMAGE_ID.test(id));
  const readMeta = async (id: string) => {
    const meta = parseMeta(await get(metaKey(id)));
    if (meta.id !== id) throw new SecaiError(ErrorCode.VAULT_CORRUPT, 'a gallery record names another image');
    return meta;
  };

  return {
    async requireOpen(why) {
      const st = await d.bus.call(serveOp(vaultManifest, 'status'), {});
      if (st.state === 'unlocked') return;
      if (!st.initialized) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, `${why}: the gallery is kept in the vault, and no vault has been set up yet`);
      throw new SecaiError(ErrorCode.VAULT_LOCKED, `${why}: the gallery is kept in the vault, and the vault is locked (unlock it, or ask for the image itself)`);
    },
    async save(png, about) {
      const all = await keys();
      if (idsOf(all).length >= MAX_IMAGES) throw new SecaiError(ErrorCode.INVALID_STATE, `${MAX_IMAGES} images are in the gallery: delete some first`);
      const id = newRequestId();
      const pieces = Math.ceil(png.length / PIECE_BYTES);
      let written = 0;
      try {
        for (; written < pieces; written++) await write(pieceKey(id, written), png.subarray(written * PIECE_BYTES, (written + 1) * PIECE_BYTES));
        // The metadata last: until it is there, the pieces are not an image.
        const meta: GalleryMeta = { ...about, id, created: Date.now(), pngBytes: png.length, pngSha256: sha256(png), pieces };
        await write(metaKey(id), Buffer.from(JSON.stringify(check(metaSchema, meta, 'gallery record')), 'utf8'));
      } catch (err) {
        // What was written of it is removed (best effort: a vault that just locked keeps unlisted pieces until a delete).
        for (let i = 0; i < written; i++) await write(pieceKey(id, i)).catch((e: unknown) => d.log.warn({ id, err: (e as Error).message }, 'a piece of an unsaved image was not removed'));
        throw err;
      }
      return id;
    },
    async list() {
      const metas = await Promise.all(idsOf(await keys()).map(async (id) => {
        try {
          return await readMeta(id);
        } catch (err) {
          const code = (err as SecaiError).code;
          if (code === ErrorCode.UNKNOWN_OP) return null;
          // One unreadable record does not hide the others (reading it says why).
          if (code === ErrorCode.VAULT_CORRUPT) { d.log.warn({ id, err: (err as Error).message }, 'gallery record not listed'); return null; }
          throw err;
        }
      }));
      return metas.filter((m) => m !== null)
        .map(({ id, created, model, prompt, seed, width, height, steps, scheduler }) => ({ id, created, model, prompt, seed, width, height, steps, scheduler }))
        .sort((a, b) => b.created - a.created || a.id.localeCompare(b.id));
    },
    async read(id) {
      const meta = await readMeta(id);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < meta.pieces; i++) parts.push(await get(pieceKey(id, i)));
      const png = Buffer.concat(parts);
      if (png.length !== meta.pngBytes || sha256(png) !== meta.pngSha256) throw new SecaiError(ErrorCode.VAULT_CORRUPT, 'the stored image does not match its record');
      return { meta, png };
    },
    async remove(id) {
      const mine = (await keys()).filter((k) => k.startsWith(`${PREFIX}${id}/`));
      if (!mine.length) throw notFound();
      // The metadata first: a removal cut short leaves no listed image with missing pieces.
      for (const k of [...mine.filter((k) => k.endsWith('/meta')), ...mine.filter((k) => !k.endsWith('/meta'))]) await write(k);
    },
  };
}

export function galleryRoutes(d: GatewayDeps, g: Gallery = gallery(d)): Route[] {
  return [
    {
      method: 'GET', path: '/api/gallery', access: 'session',
      handler: async ({ res }) => sendJson(res, 200, { images: await g.list() }),
    },
    {
      // Whoever may call the local model API may fetch an image by its id: /v1/images/generations answers its `url`
      // form with this route, and a program must be able to follow it (the id is random: unguessable, and listed only
      // to the session).
      method: 'GET', path: '/api/gallery/:id', access: 'local-client',
      handler: async ({ res, params }) => {
        const { png } = await g.read(imageId(params.id));
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length, 'x-content-type-options': 'nosniff', 'content-disposition': 'inline' });
        res.end(png);
      },
    },
    {
      method: 'DELETE', path: '/api/gallery/:id', access: 'session',
      handler: async ({ res, params }) => {
        await g.remove(imageId(params.id));
        sendJson(res, 200, { deleted: true });
      },
    },
  ];
}
