// The small clients bench/peers/run needs besides wrk. Node's own http and
// net modules only, so it runs without bench/peers/express's packages.
//
//   node probe.mjs session BASE ADDRESS       sign up + log in; prints the token
//   node probe.mjs exhaust BASE ADDRESS N     N GET /items for one client address
//   node probe.mjs idle BASE PID N SERVER     RSS per idle keep-alive connection
//   node probe.mjs keys BASE PID N SERVER     RSS per rate-limit key
//
// BASE is http://127.0.0.1:PORT; ADDRESS goes into X-Forwarded-For (the
// servers trust loopback as their proxy). The two memory probes print one
// JSON line with the resident set (VmRSS of PID) before and after. When
// SERVER is `express`, each reading follows a full garbage collection (the
// peer collects on SIGUSR2 when started with --expose-gc), so that garbage
// not yet collected is not counted as memory the connections or keys hold.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function send(base, method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const json = (value, address) => ({
  headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': address },
  body: JSON.stringify(value),
});

let collect = false;

// Kilobytes resident, from /proc, after a collection where the server has one.
async function rssKib(pid) {
  if (collect) {
    process.kill(pid, 'SIGUSR2');
    await sleep(1000);
  }
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

// Runs `count` calls of `one(i)` with `width` of them in flight at once.
async function inParallel(count, width, one) {
  let next = 0;
  const worker = async () => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

// The address of client i, in a block no benchmark scenario uses.
const clientAddress = (i) => `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`;

async function session(base, address) {
  const email = `bench-${Date.now()}-${process.pid}@example.com`;
  const password = 'correct horse battery staple';
  const made =
    await send(base, 'POST', '/users', json({ email, password, name: 'Bench' }, address));
  if (made.status !== 201) throw new Error(`POST /users answered ${made.status}: ${made.text}`);
  const login = await send(base, 'POST', '/auth/login', json({ email, password }, address));
  if (login.status !== 200) throw new Error(`POST /auth/login answered ${login.status}`);
  console.log(JSON.parse(login.text).token);
}

async function exhaust(base, address, n) {
  const seen = {};
  await inParallel(n, 8, async () => {
    const r = await send(base, 'GET', '/items', { headers: { 'X-Forwarded-For': address } });
    seen[r.status] = (seen[r.status] ?? 0) + 1;
  });
  console.log(JSON.stringify(seen));
}

// Opens n connections (from 127.0.0.2 up, at most 200 per source address:
// the reference server caps connections per client at 256), sends one
// keep-alive request on each, reads the answer and leaves them open.
async function idle(base, pid, n) {
  const { port } = new URL(base);
  await sleep(500);
  const before = await rssKib(pid);
  const sockets = [];
  await inParallel(n, 32, async (i) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(port),
      localAddress: `127.0.0.${2 + Math.floor(i / 200)}` });
    sockets.push(socket);
    await new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.once('data', resolve);
      socket.write('GET /health HTTP/1.1\r\nHost: bench\r\n\r\n');
    });
  });
  await sleep(1000);
  const after = await rssKib(pid);
  const alive = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
  for (const s of sockets) s.destroy();
  console.log(JSON.stringify({ connections: n, alive, rss_before_kib: before, rss_after_kib: after,
    bytes_per_connection: Math.round(((after - before) * 1024) / n) }));
}

// 10 000 requests over a few keys first (at most 90 per key, under the limit),
// so that the request path itself has warmed up and grown its pools; then
// n requests for n new keys.
async function keys(base, pid, n) {
  const item = (address) =>
    send(base, 'GET', '/items?limit=1', { headers: { 'X-Forwarded-For': address } });
  const warm = (i) => `198.18.${Math.floor(i / 90 / 256) % 256}.${Math.floor(i / 90) % 256}`;
  await inParallel(Math.min(n, 10000), 16, (i) => item(warm(i)));
  await sleep(500);
  const before = await rssKib(pid);
  const statuses = {};
  await inParallel(n, 16, async (i) => {
    const r = await item(clientAddress(i));
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  });
  await sleep(500);
  const after = await rssKib(pid);
  console.log(JSON.stringify({ keys: n, statuses, rss_before_kib: before, rss_after_kib: after,
    bytes_per_key: Math.round(((after - before) * 1024) / n) }));
}

const [command, base, a, b, server] = process.argv.slice(2);
collect = server === 'express';
const commands = {
  session: () => session(base, a),
  exhaust: () => exhaust(base, a, Number(b)),
  idle: () => idle(base, Number(a), Number(b)),
  keys: () => keys(base, Number(a), Number(b)),
};
if (!commands[command]) {
  console.error('usage: node probe.mjs session|exhaust|idle|keys BASE ...');
  process.exit(2);
}
await commands[command]();
agent.destroy();
