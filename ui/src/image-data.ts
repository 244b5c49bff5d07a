// Pictures in the page without leaving its CSP (img-src 'self' data:): bytes to data URLs, and a start image for
// image-to-image redrawn as a PNG (the worker decodes PNG only) small enough for one request.

export function base64Of(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export const pngDataUrl = (base64: string): string => `data:image/png;base64,${base64}`;

async function pngOf(bitmap: ImageBitmap, width: number, height: number): Promise<Uint8Array> {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw the start image');
  ctx.drawImage(bitmap, 0, 0, width, height);
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('this browser cannot encode the start image as PNG');
  return new Uint8Array(await blob.arrayBuffer());
}

/**
 * The chosen file (PNG, JPEG, WebP …) drawn at the size asked and encoded as PNG; if that is over `maxBytes`, drawn
 * smaller (the worker scales it to the size asked anyway) until it fits. Answers the PNG as base64.
 */
export async function startImagePng(file: Blob, width: number, height: number, maxBytes: number): Promise<string> {
  const bitmap = await createImageBitmap(file).catch(() => { throw new Error('the start image is not a picture this browser can read'); });
  try {
    for (let w = width, h = height; ; w = Math.round(w / 2), h = Math.round(h / 2)) {
      const png = await pngOf(bitmap, Math.max(8, w), Math.max(8, h));
      if (png.length <= maxBytes) return base64Of(png);
      if (w <= 64 || h <= 64) throw new Error(`the start image does not fit in ${Math.round(maxBytes / 1024)} KiB even when small`);
    }
  } finally {
    bitmap.close();
  }
}
