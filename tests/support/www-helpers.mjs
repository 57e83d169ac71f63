// Helpers for the browser tool's end-to-end tests (tests/e2e/www.test.mjs): axe-core checks,
// screenshots under results/www-screenshots/, QR decoding with jsQR, storage inspection.
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import jsQR from 'jsqr';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../results/www-screenshots/', import.meta.url));

let axeSource;

/**
 * Runs axe-core in the page (evaluated through the DevTools protocol, so the page's CSP
 * stays as it is) and returns its violations as short strings ("rule: target …").
 * @param {import('playwright-core').Page} page
 */
export async function axeViolations(page) {
  axeSource ??= await readFile(AXE_PATH, 'utf8');
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document);
    return result.violations.map((v) => ({ id: v.id, targets: v.nodes.map((n) => n.target.join(' ')), summary: v.nodes[0]?.failureSummary }));
  });
  return violations.map((v) => `${v.id}: ${v.targets.join(', ')} — ${v.summary ?? ''}`);
}

/** A full-page screenshot saved as results/www-screenshots/<name>.png. */
export async function saveScreenshot(page, name) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, fullPage: true });
}

/**
 * Screenshots `selector` and decodes the QR code in it with jsQR. The PNG is turned into
 * pixels in a blank page of the same browser context (no CSP there).
 * @returns {Promise<string | null>} the decoded text
 */
export async function decodeQrScreenshot(page, selector) {
  const png = await page.locator(selector).screenshot();
  const scratch = await page.context().newPage();
  try {
    const { width, height, data } = await scratch.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      const image = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      return { width: image.width, height: image.height, data: Array.from(image.data) };
    }, png.toString('base64'));
    return jsQR(Uint8ClampedArray.from(data), width, height)?.data ?? null;
  } finally {
    await scratch.close();
  }
}

/** Everything the page could persist: both storages (entries) and cookies. */
export function storageSnapshot(page) {
  return page.evaluate(() => ({
    localStorage: JSON.stringify(Object.entries(localStorage)),
    sessionStorage: JSON.stringify(Object.entries(sessionStorage)),
    cookie: document.cookie,
  }));
}
