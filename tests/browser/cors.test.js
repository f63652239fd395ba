// Real-browser test of CORS on the reference server (examples/secure_api).
// Headless chromium loads pages from loopback origins and calls the
// reference server on http://127.0.0.1:P with fetch; for every call the
// browser's own verdict — the fetch resolves and the page reads the
// response, or it rejects — must be the one the configuration implies.
//
// Two reference servers are started on port 0, each with allowed_origins =
// [the page's origin http://localhost:P1, the anchored pattern
// http://*.localhost:P1]: `open` without credentials (as the server ships)
// and `cred` with cors_credentials. Pages: http://localhost:P1 (listed),
// http://app.localhost:P1 (matches the pattern), http://localhost:P2 and
// http://app.localhost:P2 (neither: another port is another origin).
// Afterwards each server's counters must show that the preflights reached
// portcullis (and were not answered by anything in between).
//
//     node cors.test.js <secure_api binary>
//
// The page contexts use no request interception: playwright answers CORS
// preflights itself when routes are installed, which would hide the
// server's answers. Traffic is kept on loopback by pointing chromium's
// proxy at a closed loopback port instead (loopback, *.localhost included,
// bypasses any proxy, and chromium resolves *.localhost to loopback itself).
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { launch, requireChromium } = require('./browser.js');

const password = 'a long enough password';
const unique = `${process.pid}-${Date.now()}`;

// The calls, in page terms. `server`: which reference server; `expect`:
// true when the fetch must resolve; `status` (200 by default); `exposed`: a
// header the page must be able to read, with a pattern for its value;
// `hidden`: a header the server sends that the page must not see.
const allowedCases = [
  { id: 'simple-get', server: 'open', path: '/items?limit=1', expect: true,
    exposed: ['RateLimit', /^limit=\d+, remaining=\d+, reset=\d+$/], hidden: 'X-Frame-Options' },
  { id: 'json-post-preflight', server: 'open', path: '/users', method: 'POST',
    json: { email: `open-${unique}@example.com`, password }, expect: true, status: 201 },
  { id: 'put-preflight', server: 'open', path: '/items', method: 'PUT', json: { b: 2 },
    expect: true, status: 405 },
  { id: 'method-not-allowed', server: 'open', path: '/items', method: 'PURGE', expect: false },
  { id: 'custom-header-allowed', server: 'open', path: '/items',
    headers: { 'X-API-Key': 'sk_test_not-a-key' }, expect: true, status: 401 },
  { id: 'custom-header-denied', server: 'open', path: '/items', headers: { 'X-Evil': '1' },
    expect: false },
  { id: 'credentials-granted', server: 'cred', path: '/items?limit=1', credentials: 'include',
    expect: true },
  { id: 'credentials-json-post', server: 'cred', path: '/users', method: 'POST',
    json: { email: `cred-${unique}@example.com`, password }, credentials: 'include',
    expect: true, status: 201 },
  { id: 'credentials-not-granted', server: 'open', path: '/items', credentials: 'include',
    expect: false },
  // forgot-password allows one per hour here: the second is a 429 from the
  // rate limiter behind cors, still readable with its headers.
  { id: 'error-first', server: 'cred', path: '/auth/forgot-password', method: 'POST',
    json: { email: 'x@example.com' }, credentials: 'include', expect: true, status: 202 },
  { id: 'error-readable', server: 'cred', path: '/auth/forgot-password', method: 'POST',
    json: { email: 'x@example.com' }, credentials: 'include', expect: true, status: 429,
    exposed: ['Retry-After', /^\d+$/] },
];
const patternCases = [
  { id: 'pattern-simple-get', server: 'open', path: '/items?limit=1', expect: true },
  { id: 'pattern-json-post', server: 'open', path: '/users', method: 'POST',
    json: { email: `pattern-${unique}@example.com`, password }, expect: true, status: 201 },
];
const deniedCases = [
  { id: 'other-origin-simple-get', server: 'open', path: '/items?limit=1', expect: false },
  { id: 'other-origin-json-post', server: 'open', path: '/users', method: 'POST',
    json: { email: 'd@example.com', password }, expect: false },
  { id: 'other-origin-credentials', server: 'cred', path: '/items', credentials: 'include',
    expect: false },
];
const patternMissCases = [
  { id: 'pattern-other-port', server: 'open', path: '/items?limit=1', expect: false },
];

// Runs in the page: one fetch, reduced to what the page can observe.
async function callInPage({ base, c }) {
  const init = { method: c.method || 'GET', headers: { ...(c.headers || {}) },
                 credentials: c.credentials || 'same-origin', mode: 'cors' };
  if (c.json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(c.json);
  }
  try {
    const res = await fetch(base + c.path, init);
    return { resolved: true, status: res.status, body: await res.text(),
             exposed: c.exposed ? res.headers.get(c.exposed[0]) : null,
             hidden: c.hidden ? res.headers.get(c.hidden) : null };
  } catch (e) {
    return { resolved: false, error: String(e) };
  }
}

function pageServer() {
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!DOCTYPE html><html><head><title>cors</title></head><body>page</body></html>');
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

// Starts the reference server with `config` (JSON) on port 0; resolves
// with the child and its port once it prints where it listens.
function startApi(binary, config) {
  const file = path.join(os.tmpdir(), `portcullis-cors-${process.pid}-${config.name}.json`);
  const { name, ...settings } = config;
  fs.writeFileSync(file, JSON.stringify(settings));
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`secure_api (${name}) exited with ${code}`)));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        fs.unlinkSync(file);
        resolve({ child, port: Number(m[1]) });
      }
    });
  });
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

function counter(metrics, name) {
  const re = new RegExp(`^portcullis_cors_${name}_total\\{name="cors"\\} (\\d+)$`, 'm');
  const m = re.exec(metrics);
  return m ? Number(m[1]) : NaN;
}

function check(c, got, failures) {
  const fail = (why) => failures.push(`${c.id}: ${why} (got ${JSON.stringify(got)})`);
  if (got.resolved !== c.expect) {
    fail(c.expect ? 'the browser refused a call the configuration allows'
                  : 'the browser allowed a call the configuration refuses');
    return;
  }
  if (!c.expect) return;
  if ((c.status || 200) !== got.status) fail(`status ${got.status}, expected ${c.status || 200}`);
  if (c.exposed && !(got.exposed !== null && c.exposed[1].test(got.exposed)))
    fail(`exposed header ${c.exposed[0]} not readable`);
  if (c.hidden && got.hidden !== null) fail(`unexposed header ${c.hidden} readable`);
}

async function main() {
  const binary = process.argv[2];
  if (!binary) {
    console.error('usage: cors.test.js <secure_api>');
    process.exit(2);
  }
  requireChromium();

  const allowedPage = await pageServer();
  const otherPage = await pageServer();
  const p1 = allowedPage.address().port;
  const p2 = otherPage.address().port;
  const origins = {
    listed: `http://localhost:${p1}`,
    pattern: `http://app.localhost:${p1}`,
    other: `http://localhost:${p2}`,
    patternOtherPort: `http://app.localhost:${p2}`,
  };
  const common = {
    listen: { address: '127.0.0.1', port: 0 },
    threads: 1,
    log_level: 'error',
    allowed_origins: [origins.listed, `http://*.localhost:${p1}`],
    rate_limits: { forgot_password: { limit: 1, window_seconds: 3600 } },
  };
  const apis = {
    open: await startApi(binary, { ...common, name: 'open' }),
    cred: await startApi(binary, { ...common, name: 'cred', cors_credentials: true }),
  };
  const base = (server) => `http://127.0.0.1:${apis[server].port}`;

  const failures = [];
  const browser = await launch(['--proxy-server=http://127.0.0.1:9']);
  try {
    for (const [origin, cases] of [[origins.listed, allowedCases],
                                   [origins.pattern, patternCases],
                                   [origins.other, deniedCases],
                                   [origins.patternOtherPort, patternMissCases]]) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(origin + '/');
      const seen = await page.evaluate(() => window.location.origin);
      if (seen !== origin) failures.push(`page origin is ${seen}, expected ${origin}`);
      for (const c of cases) {
        const got = await page.evaluate(callInPage, { base: base(c.server), c });
        check(c, got, failures);
        console.log(`${got.resolved === c.expect ? 'ok  ' : 'FAIL'} ${c.id} from ${origin}: ` +
                    `${got.resolved ? `resolved ${got.status}` : 'rejected'}`);
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }

  // The verdicts came from portcullis: its counters saw the preflights.
  const metrics = { open: await get(`${base('open')}/metrics`),
                    cred: await get(`${base('cred')}/metrics`) };
  const expectCounter = (server, name, min) => {
    const v = counter(metrics[server], name);
    if (!(v >= min)) failures.push(`counter ${server}.${name} is ${v}, expected >= ${min}`);
  };
  // JSON POST /users (twice: listed and pattern origin), PUT /items, X-API-Key.
  expectCounter('open', 'preflight_allowed', 4);
  expectCounter('open', 'preflight_denied', 3);   // PURGE, X-Evil, other origin's POST
  expectCounter('cred', 'preflight_allowed', 2);  // credentialed POST /users and forgot-password
  expectCounter('open', 'denied', 2);             // simple GETs from the two unlisted origins
  expectCounter('cred', 'allowed', 4);

  for (const api of Object.values(apis)) {
    api.child.removeAllListeners('exit');
    api.child.kill('SIGTERM');
  }
  allowedPage.close();
  otherPage.close();

  if (failures.length) {
    for (const f of failures) console.error(`FAIL: ${f}`);
    process.exit(1);
  }
  const total = allowedCases.length + patternCases.length + deniedCases.length +
                patternMissCases.length;
  console.log(`PASS: ${total} fetches, every browser verdict matches the configuration`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
