// Shared by the browser tests: launches headless Debian chromium through
// playwright-core with the project's flags, and blocks every request that
// is not to loopback, so that no payload can reach another host.
'use strict';

const fs = require('fs');

const SKIP = 77;

function chromiumPath() {
  return process.env.PORTCULLIS_CHROMIUM || '/usr/bin/chromium';
}

// Exits with 77 (ctest: skipped) when chromium is missing, or fails when
// PORTCULLIS_REQUIRE_SERVICES=1 says that it must be there.
function requireChromium() {
  const path = chromiumPath();
  if (fs.existsSync(path)) return path;
  const message = `chromium not found at ${path} (set PORTCULLIS_CHROMIUM)`;
  if (process.env.PORTCULLIS_REQUIRE_SERVICES === '1') {
    console.error(`FAIL: ${message}`);
    process.exit(1);
  }
  console.error(`SKIP: ${message}`);
  process.exit(SKIP);
}

// `extraArgs` are appended to the project's flags (a test that cannot use
// isolatedPage() keeps traffic on loopback with them, for instance).
async function launch(extraArgs = []) {
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: requireChromium(),
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs,
    ],
  });
}

function isLoopback(url) {
  try {
    const u = new URL(url);
    if (u.protocol === 'data:' || u.protocol === 'about:' || u.protocol === 'blob:') return true;
    return ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  } catch {
    return false;
  }
}

// A new page whose requests outside loopback are aborted (they fail as a
// missing image would, which also fires onerror handlers if any survived).
async function isolatedPage(browser) {
  const context = await browser.newContext();
  await context.route('**/*', (route) =>
    isLoopback(route.request().url()) ? route.continue() : route.abort());
  return context.newPage();
}

module.exports = { launch, isolatedPage, requireChromium, SKIP };
