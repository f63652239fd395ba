// Conformance: the same request sequences to the reference server and to
// its Express peer; status codes and the standard headers must agree, so
// that "faster" never means "does less".
//
//   node conform.mjs REFERENCE_BASE EXPRESS_BASE
//
// Both servers must trust 127.0.0.1 as their proxy and allow the origin
// http://localhost:3000 (bench/peers/run starts them so). Each sequence
// speaks for its own client addresses (X-Forwarded-For), so sequences do
// not share rate-limit state. Every answer is checked twice: its status
// against what the API promises (both servers), and its headers against
// the other server's. A difference listed in `documented` below (and
// explained in docs/comparison.md) is reported but accepted; any other
// fails the run (exit status 1).
import http from 'node:http';
import net from 'node:net';

const origin = 'http://localhost:3000';
const stranger = 'https://evil.example';

// -- What is compared ------------------------------------------------------------

// Header fields compared, and how their values are read. Lists compare as
// sets (case-insensitive where the field's items are), numbers in RateLimit
// and Retry-After within a second (the two servers' windows start a few
// milliseconds apart).
const fields = {
  'ratelimit': 'ratelimit',
  'ratelimit-policy': 'exact',
  'retry-after': 'seconds',
  'access-control-allow-origin': 'exact',
  'access-control-allow-credentials': 'exact',
  'access-control-allow-methods': 'list',
  'access-control-allow-headers': 'list-nocase',
  'access-control-expose-headers': 'list-nocase',
  'access-control-max-age': 'exact',
  'access-control-allow-private-network': 'exact',
  'vary': 'list-nocase',
  'content-security-policy': 'directives',
  'x-frame-options': 'nocase',
  'x-content-type-options': 'nocase',
  'referrer-policy': 'exact',
  'strict-transport-security': 'exact',
  'cross-origin-opener-policy': 'exact',
  'cross-origin-resource-policy': 'exact',
  'cross-origin-embedder-policy': 'exact',
  'origin-agent-cluster': 'exact',
  'permissions-policy': 'exact',
  'x-dns-prefetch-control': 'exact',
  'x-download-options': 'exact',
  'x-permitted-cross-domain-policies': 'exact',
  'x-xss-protection': 'exact',
  'cache-control': 'list-nocase',
  'x-powered-by': 'exact',
  'server': 'exact',
  'content-type': 'media-type',
  'allow': 'list',
  'www-authenticate': 'exact',
  'connection': 'connection',
  'answered-before-body': 'exact',
};

// Differences that are deliberate or belong to the Express stack as users
// run it; each is explained in docs/comparison.md under the same title.
// `field` names the header ("status" for the status code); `step` is a
// regex over the step's name; `express` is what the peer sends (a regex
// over the normalised value, or null for "absent").
const documented = [
  { title: 'A body over the limit is refused before the chain runs',
    field: /^(ratelimit|answered-before-body)/, step: /over body limit/, express: /./ },
  { title: 'A body over the limit is refused before the chain runs',
    field: /^connection$/, step: /over body limit/, express: /^keep-alive$/ },
  { title: 'Two limiters on one request: RateLimit-Policy',
    field: /^ratelimit-policy$/, step: /forgot-password|login/, express: /^\d+;w=\d+$/,
    reference: /^100;w=900, \d+;w=\d+$/ },
  { title: 'JSON bodies carry charset=utf-8 in Express',
    field: /^content-type-charset$/, step: /./, express: /^utf-8$/, reference: null },
];

// Statuses in which the peer deliberately differs from what the API
// promises: `step` is a regex over "sequence / step", `express` the status
// the peer gives.
const documentedStatus = [
  { title: 'API keys', step: /unknown API key/, express: 200 },
  { title: 'Duplicate JSON keys', step: /duplicate key/, express: 202 },
];

// -- HTTP ------------------------------------------------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function send(base, { method = 'GET', path, headers = {}, body, length }) {
  if (length !== undefined) return sendHead(base, method, path, headers, length);
  return new Promise((resolve, reject) => {
    const all = { ...headers };
    if (body !== undefined && all['Content-Type'] === undefined)
      all['Content-Type'] = 'application/json';
    const req = http.request(new URL(path, base), { method, headers: all, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body === undefined || typeof body === 'string' ? body : JSON.stringify(body));
  });
}

// A request that declares a `length`-byte JSON body and at first sends
// none of it: a server that judges by Content-Length answers at once; one
// that waits for the body gets it after a second. Which of the two
// happened is recorded as the pseudo-field `answered-before-body`. Read
// from a socket of its own, since the server closes it (or should).
function sendHead(base, method, path, headers, length) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    let text = '';
    let early = true;
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.on('connect', () => socket.write(`${method} ${path} HTTP/1.1\r\nHost: conform\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n${lines}\r\n`));
    const late = setTimeout(() => {
      early = false;
      socket.write(' '.repeat(length));
    }, 1000);
    socket.on('data', (d) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(late);
      socket.destroy();
      const [status, ...fields] = text.slice(0, end).split('\r\n');
      const parsed = { 'answered-before-body': early ? 'yes' : 'no' };
      for (const f of fields) {
        const colon = f.indexOf(':');
        const name = f.slice(0, colon).trim().toLowerCase();
        const value = f.slice(colon + 1).trim();
        parsed[name] = parsed[name] === undefined ? value : `${parsed[name]}, ${value}`;
      }
      resolve({ status: Number(status.split(' ')[1]), headers: parsed, text: '' });
    });
    socket.on('error', (e) => {
      clearTimeout(late);
      reject(e);
    });
    socket.setTimeout(10000, () => reject(new Error(`${method} ${path}: no answer in 10 s`)));
  });
}

// -- The sequences ---------------------------------------------------------------

// Each sequence gets `step(name, expected status, request)`, which sends
// and records, and `client(n)`, the sequence's n-th client address.
const sequences = {
  async basics(step, client) {
    const c = { 'X-Forwarded-For': client(1) };
    await step('GET /health', 200, { path: '/health', headers: c });
    await step('GET /v1/health', 200, { path: '/v1/health', headers: c });
    await step('HEAD /health', 200, { method: 'HEAD', path: '/health', headers: c });
    await step('GET /items', 200, { path: '/items?page=2&limit=3', headers: c });
    await step('GET /v1/items', 200, { path: '/v1/items', headers: c });
    await step('GET /items limit=abc', 400, { path: '/items?limit=abc', headers: c });
    await step('GET /items limit=101', 400, { path: '/items?limit=101', headers: c });
    await step('GET /items page=0', 400, { path: '/items?page=0', headers: c });
    await step('GET /items limit= 5', 400, { path: '/items?limit=%205', headers: c });
    await step('GET /nowhere', 404, { path: '/nowhere', headers: c });
    await step('DELETE /health', 405, { method: 'DELETE', path: '/health', headers: c });
    await step('PUT /items', 405, { method: 'PUT', path: '/items', headers: c });
    await step('GET /metrics from loopback', 200, { path: '/metrics' });
    await step('GET /metrics via proxy', 403, { path: '/metrics',
      headers: { 'X-Forwarded-For': '198.51.100.7' } });
    // secure_api takes multipart forms only, each file's type checked by
    // its first bytes; a GIF passes both servers.
    await step('POST /upload', 201, { method: 'POST', path: '/upload', headers: {
      ...c, 'Content-Type': 'multipart/form-data; boundary=b' },
      body: '--b\r\nContent-Disposition: form-data; name="file"; filename="a.gif"\r\n' +
            'Content-Type: image/gif\r\n\r\nGIF89a hello\r\n--b--\r\n' });
  },

  async cors(step, client) {
    const c = { 'X-Forwarded-For': client(1) };
    const ask = (o, m, h) => ({ method: 'OPTIONS', path: '/items', headers: { ...c, Origin: o,
      'Access-Control-Request-Method': m,
      ...(h ? { 'Access-Control-Request-Headers': h } : {}) } });
    await step('GET /items from allowed origin', 200,
      { path: '/items', headers: { ...c, Origin: origin } });
    await step('GET /items from other origin', 200,
      { path: '/items', headers: { ...c, Origin: stranger } });
    await step('preflight allowed', 204, ask(origin, 'PATCH', 'content-type,authorization'));
    await step('preflight allowed, no headers', 204, ask(origin, 'GET'));
    await step('preflight from other origin', 403, ask(stranger, 'GET'));
    await step('preflight asks for X-Evil', 403, ask(origin, 'GET', 'x-evil'));
    await step('preflight asks for TRACE', 403, ask(origin, 'TRACE'));
    await step('plain OPTIONS', 204, { method: 'OPTIONS', path: '/items', headers: c });
    await step('404 from allowed origin', 404,
      { path: '/nowhere', headers: { ...c, Origin: origin } });
  },

  async bodies(step, client) {
    const c = { 'X-Forwarded-For': client(1) };
    await step('POST /users text/plain', 415, { method: 'POST', path: '/users',
      headers: { ...c, 'Content-Type': 'text/plain' }, body: 'hello' });
    await step('POST /users invalid JSON', 400,
      { method: 'POST', path: '/users', headers: c, body: '{"email":' });
    await step('POST /users short password', 400, { method: 'POST', path: '/users', headers: c,
      body: { email: 'a@example.com', password: 'short' } });
    await step('POST /users bad e-mail', 400, { method: 'POST', path: '/users', headers: c,
      body: { email: 'not-an-address', password: 'long enough password' } });
    await step('POST /auth/forgot-password duplicate key', 400, { method: 'POST',
      path: '/auth/forgot-password', headers: { 'X-Forwarded-For': client(2) },
      body: '{"email":"a@example.com","email":"b@example.com"}' });
    await step('GET /items with an unknown API key', 401, { path: '/items',
      headers: { ...c, 'X-API-Key': 'pk_live_0000000000000000000000000000000000000000' } });
    await step('POST /users over body limit', 413,
      { method: 'POST', path: '/users', headers: c, length: 200000 });
    await step('POST /users over body limit, allowed origin', 413,
      { method: 'POST', path: '/users', headers: { ...c, Origin: origin }, length: 200000 });
  },

  async limits(step, client) {
    const c = { 'X-Forwarded-For': client(1) };
    await step('GET /items 1 of 100', 200, { path: '/items?limit=1', headers: c });
    for (let i = 2; i <= 99; ++i)
      await step(null, 200, { path: '/items?limit=1', headers: c });
    await step('GET /items 100 of 100', 200, { path: '/items?limit=1', headers: c });
    await step('GET /items 101 of 100', 429, { path: '/items?limit=1', headers: c });
    await step('GET /health over the limit', 200, { path: '/health', headers: c });
    await step('429 to allowed origin', 429,
      { path: '/items', headers: { ...c, Origin: origin } });

    const f = { 'X-Forwarded-For': client(2) };
    const forgot = { method: 'POST', path: '/auth/forgot-password', headers: f,
      body: { email: 'nobody@example.com' } };
    await step('forgot-password 1 of 3', 202, forgot);
    await step('forgot-password 2 of 3', 202, forgot);
    await step('forgot-password 3 of 3', 202, forgot);
    await step('forgot-password 4 of 3', 429, forgot);
  },

  async accounts(step, client) {
    const c = { 'X-Forwarded-For': client(1) };
    const email = `conform-${process.pid}@example.com`;
    const password = 'correct horse battery staple';
    await step('POST /users', 201,
      { method: 'POST', path: '/users', headers: c, body: { email, password, name: 'C' } });
    await step('POST /users again', 409,
      { method: 'POST', path: '/users', headers: c, body: { email, password } });
    const wrong = { method: 'POST', path: '/auth/login', headers: { 'X-Forwarded-For': client(2) },
      body: { email, password: 'not the password' } };
    for (let i = 1; i <= 5; ++i) await step(`login failure ${i} of 5`, 401, wrong);
    await step('login failure 6 of 5', 429, wrong);
    const right = await step('login', 200, { method: 'POST', path: '/auth/login', headers: c,
      body: { email, password } });
    const token = JSON.parse(right.text || '{}').token ?? 'sess_missing';
    const auth = { ...c, Authorization: `Bearer ${token}` };
    await step('GET /profile signed in', 200, { path: '/profile', headers: auth });
    await step('GET /profile anonymous', 401, { path: '/profile', headers: c });
    await step('PATCH /profile bio', 200, { method: 'PATCH', path: '/profile', headers: auth,
      body: { bio: '<b>hi</b><img src=x onerror=alert(1)><a href="javascript:x">y</a>' } });
    await step('PATCH /profile bio too long', 400, { method: 'PATCH', path: '/profile',
      headers: auth, body: { bio: 'x'.repeat(501) } });
    await step('PATCH /profile bad website', 400, { method: 'PATCH', path: '/profile',
      headers: auth, body: { website: 'javascript:alert(1)' } });
    await step('PATCH /profile anonymous', 401, { method: 'PATCH', path: '/profile', headers: c,
      body: { name: 'x' } });
  },
};

// -- Comparing -------------------------------------------------------------------

const list = (v, nocase) =>
  v.split(',').map((s) => (nocase ? s.trim().toLowerCase() : s.trim())).filter(Boolean)
    .sort().join(', ');

function normalise(kind, value) {
  if (value === undefined) return kind === 'connection' ? 'keep-alive' : null;
  const v = Array.isArray(value) ? value.join(', ') : String(value);
  switch (kind) {
    case 'list': return list(v, false);
    case 'list-nocase': return list(v, true);
    case 'nocase': return v.toLowerCase();
    case 'directives':
      return v.split(';').map((d) => d.trim().replace(/\s+/g, ' ')).filter(Boolean).sort()
        .join('; ');
    case 'media-type': return v.split(';')[0].trim().toLowerCase();
    case 'connection': return v.toLowerCase();
    default: return v;
  }
}

// Numbers in "limit=100, remaining=99, reset=900" or "7" within one second.
function sameNumbers(a, b) {
  const na = a.match(/\d+/g) ?? [], nb = b.match(/\d+/g) ?? [];
  if (a.replace(/\d+/g, '#') !== b.replace(/\d+/g, '#') || na.length !== nb.length) return false;
  return na.every((x, i) => Math.abs(Number(x) - Number(nb[i])) <= 1);
}

function charset(value) {
  const m = /;\s*charset=([^;]+)/i.exec(String(value ?? ''));
  return m ? m[1].trim().toLowerCase() : null;
}

function differences(name, ref, exp) {
  const out = [];
  for (const [field, kind] of Object.entries(fields)) {
    const a = normalise(kind, ref.headers[field]);
    const b = normalise(kind, exp.headers[field]);
    if (a === b) continue;
    if (a !== null && b !== null && (kind === 'ratelimit' || kind === 'seconds') &&
        sameNumbers(a, b))
      continue;
    out.push({ step: name, field, reference: a, express: b });
  }
  const ca = charset(ref.headers['content-type']), cb = charset(exp.headers['content-type']);
  if (ca !== cb && normalise('media-type', ref.headers['content-type']) !== null)
    out.push({ step: name, field: 'content-type-charset', reference: ca, express: cb });
  return out;
}

const matches = (pattern, value) =>
  pattern === null ? value === null : value !== null && pattern.test(value);

const explain = (d) => documented.find((k) =>
  k.field.test(d.field) && d.steps.every((step) => k.step.test(step)) &&
  matches(k.express, d.express) &&
  (k.reference === undefined || matches(k.reference, d.reference)));

// -- Running ---------------------------------------------------------------------

// Client addresses of one sequence: 100.X.block.n, with X chosen per run
// so that a rerun against the same servers starts with fresh limits.
const network = 64 + Math.floor(Math.random() * 64);

async function record(base, sequence, block) {
  const steps = new Map();
  const client = (n) => `100.${network}.${block}.${n}`;
  const step = async (name, expected, request) => {
    const r = await send(base, request);
    if (name !== null) steps.set(name, { ...r, expected });
    else if (r.status !== expected) steps.set(`(unnamed step before ${steps.size + 1})`,
      { ...r, expected });
    return r;
  };
  await sequence(step, client);
  return steps;
}

// Prints each distinct difference once (field and both values), with the
// steps where it showed.
export async function conform(referenceBase, expressBase, print = console.log) {
  let failures = 0, compared = 0, accepted = 0;
  const seen = new Map();
  let block = 1;
  for (const [name, sequence] of Object.entries(sequences)) {
    const ref = await record(referenceBase, sequence, block);
    const exp = await record(expressBase, sequence, block);
    ++block;
    for (const [step, a] of ref) {
      const b = exp.get(step) ?? { status: 0, headers: {}, expected: a.expected };
      ++compared;
      const label = `${name} / ${step}`;
      for (const [who, r] of [['reference', a], ['express', b]]) {
        if (r.status === a.expected) continue;
        const known = who === 'express' &&
          documentedStatus.find((k) => k.step.test(label) && k.express === r.status);
        if (known) {
          ++accepted;
          print(`known  ${label}: express answered ${r.status}, the API promises ` +
            `${a.expected}\n         docs/comparison.md: ${known.title}`);
          continue;
        }
        ++failures;
        print(`FAIL   ${label}: ${who} answered ${r.status}, the API promises ${a.expected}`);
      }
      if (a.status !== b.status) continue;  // the headers of different answers differ
      for (const d of differences(step, a, b)) {
        const key = JSON.stringify([d.field, d.reference, d.express]);
        if (!seen.has(key)) seen.set(key, { ...d, steps: [] });
        seen.get(key).steps.push(label);
      }
    }
  }
  for (const d of seen.values()) {
    const known = explain(d);
    if (known) ++accepted;
    else ++failures;
    const where = d.steps.length > 2 ? `${d.steps.slice(0, 2).join('; ')} and ` +
      `${d.steps.length - 2} more` : d.steps.join('; ');
    print(`${known ? 'known ' : 'DIFF  '} ${d.field}: reference ${JSON.stringify(d.reference)}, ` +
      `express ${JSON.stringify(d.express)}\n         at ${where}` +
      (known ? `\n         docs/comparison.md: ${known.title}` : ''));
  }
  print(`${compared} answers compared; ${accepted} documented differences; ` +
    `${failures} failures`);
  return failures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [referenceBase, expressBase] = process.argv.slice(2);
  if (!referenceBase || !expressBase) {
    console.error('usage: node conform.mjs REFERENCE_BASE EXPRESS_BASE');
    process.exit(2);
  }
  const failures = await conform(referenceBase, expressBase);
  agent.destroy();
  process.exit(failures === 0 ? 0 : 1);
}
