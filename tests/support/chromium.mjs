// Headless Chromium (playwright-core driving the system /usr/bin/chromium) with the flags
// /work/shared/TOOLCHAIN.md gives for offline runs on this machine: no outside network
// (every host name but 127.0.0.1 and localhost fails to resolve), no QUIC, no GPU, no
// background traffic.
//
//   const browser = await launchChromium();                           // as runtimes.test.mjs
//   const browser = await launchChromium({ chromiumSandbox: false }); // extra launch options

import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost',
]);

/**
 * Launch it; `options` are added to (and override) { executablePath, headless: true, args }.
 * @param {import('playwright-core').LaunchOptions} [options]
 * @returns {Promise<import('playwright-core').Browser>}
 */
export function launchChromium(options = {}) {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS], ...options });
}
