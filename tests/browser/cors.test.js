// Real-browser test of the cors middleware. Headless chromium loads a page
// from http://localhost:P1 (an allowed origin) and one from
// http://localhost:P3 (not allowed); each calls a portcullis::server on
// http://127.0.0.1:P2 (cors_server) with fetch. For every call the
// browser's own verdict — the fetch resolves and the page reads the
// response, or it rejects — must be the one the configuration implies.
// Afterwards the server's counters must show that the preflights reached
// portcullis (and were not answered by anything in between).
//
//     node cors.test.js <cors_server binary>
//
// The page contexts use no request interception: playwright answers CORS
// preflights itself when routes are installed, which would hide the
// server's answers. Traffic is kept on loopback by pointing chromium's
// proxy at a closed loopback port instead (loopback bypasses any proxy).
'use strict';

const http = require('http');
const { spawn } = require('child_process');
const { launch, requireChromium } = require('./browser.js');

// The calls, in page terms. `expect`: true when the fetch must resolve.
const allowedCases = [
  { id: 'simple-get', path: '/open/data', expect: true, body: 'data',
    exposed: '41', hidden: null },
  { id: 'json-post-preflight', path: '/open/items', method: 'POST', json: { a: 1 },
    expect: true, body: '{"a":1}' },
  { id: 'put-preflight', path: '/open/items', method: 'PUT', json: { b: 2 }, expect: true },
  { id: 'method-not-allowed', path: '/open/items', method: 'PATCH', json: {}, expect: false },
  { id: 'custom-header-allowed', path: '/open/data', headers: { 'X-Request-Id': 'r-1' },
    expect: true },
  { id: 'custom-header-denied', path: '/open/data', headers: { 'X-Evil': '1' }, expect: false },
  { id: 'credentials-granted', path: '/cred/data', credentials: 'include', expect: true,
    body: 'data' },
  { id: 'credentials-json-post', path: '/cred/items', method: 'POST', json: { c: 3 },
    credentials: 'include', expect: true },
  { id: 'credentials-not-granted', path: '/open/data', credentials: 'include', expect: false },
  { id: 'error-readable', path: '/cred/limited', credentials: 'include', expect: true,
    status: 429, exposed: '0' },
];
const deniedCases = [
  { id: 'other-origin-simple-get', path: '/open/data', expect: false },
  { id: 'other-origin-json-post', path: '/open/items', method: 'POST', json: { d: 4 },
    expect: false },
  { id: 'other-origin-credentials', path: '/cred/data', credentials: 'include', expect: false },
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
             exposed: res.headers.get('X-RateLimit-Remaining'),
             hidden: res.headers.get('X-Hidden') };
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

function startApi(binary, origin) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [origin], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`cors_server exited with ${code}`)));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
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

function counter(metrics, name, instance) {
  const re = new RegExp(`^portcullis_cors_${name}_total\\{name="${instance}"\\} (\\d+)$`, 'm');
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
  if (c.body !== undefined && got.body !== c.body) fail('wrong body');
  if (c.exposed !== undefined && got.exposed !== c.exposed) fail('exposed header not readable');
  if (c.hidden !== undefined && got.hidden !== c.hidden) fail('unexposed header readable');
}

async function main() {
  const binary = process.argv[2];
  if (!binary) {
    console.error('usage: cors.test.js <cors_server>');
    process.exit(2);
  }
  requireChromium();

  const allowedPage = await pageServer();
  const otherPage = await pageServer();
  const allowedOrigin = `http://localhost:${allowedPage.address().port}`;
  const otherOrigin = `http://localhost:${otherPage.address().port}`;
  const api = await startApi(binary, allowedOrigin);
  const base = `http://127.0.0.1:${api.port}`;

  const failures = [];
  const browser = await launch(['--proxy-server=http://127.0.0.1:9']);
  try {
    for (const [origin, cases] of [[allowedOrigin, allowedCases], [otherOrigin, deniedCases]]) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(origin + '/');
      const seen = await page.evaluate(() => window.location.origin);
      if (seen !== origin) failures.push(`page origin is ${seen}, expected ${origin}`);
      for (const c of cases) {
        const got = await page.evaluate(callInPage, { base, c });
        check(c, got, failures);
        console.log(`${got.resolved === c.expect ? 'ok  ' : 'FAIL'} ${c.id}: ` +
                    `${got.resolved ? `resolved ${got.status}` : 'rejected'}`);
      }
      await context.close();
    }
  } finally {
    await browser.close();
  }

  // The verdicts came from portcullis: its counters saw the preflights.
  const metrics = await get(`${base}/metrics`);
  const expectCounter = (name, instance, min) => {
    const v = counter(metrics, name, instance);
    if (!(v >= min)) failures.push(`counter ${instance}.${name} is ${v}, expected >= ${min}`);
  };
  // JSON POST and X-Request-Id; the PUT to the same URL is served from the
  // browser's preflight cache (the POST's answer listed PUT).
  expectCounter('preflight_allowed', 'open', 2);
  expectCounter('preflight_denied', 'open', 3);    // PATCH, X-Evil, other origin's POST
  expectCounter('preflight_allowed', 'cred', 1);   // credentialed JSON POST
  expectCounter('denied', 'open', 1);              // other origin's simple GET ran, no grant
  expectCounter('allowed', 'cred', 3);

  api.child.removeAllListeners('exit');
  api.child.kill('SIGTERM');
  allowedPage.close();
  otherPage.close();

  if (failures.length) {
    for (const f of failures) console.error(`FAIL: ${f}`);
    process.exit(1);
  }
  console.log(`PASS: ${allowedCases.length + deniedCases.length} fetches, every browser verdict ` +
              'matches the configuration');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
