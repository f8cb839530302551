// Shared by the end-to-end tests: the example servers (examples/run APP LANG) and headless Chromium
// (Debian's /usr/bin/chromium, or env CHROMIUM) driven by playwright-core.
import { chromium } from 'playwright-core';
import { startServer } from '../js/server.mjs';

// Which servers to test: env SIO_E2E_LANGS, default both.
export const LANGS = (process.env.SIO_E2E_LANGS || 'python,lua').split(',').filter(Boolean);

// Starts examples/run APP LANG on a free port; resolves to {port, url, stop(), stderr}.
export async function startApp(app, lang, args = []) {
  process.env.SIO_SERVER = `examples/run ${app} ${lang}`;
  return startServer(args);
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
}
