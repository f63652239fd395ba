// The reference server's API (examples/secure_api) written with the Express
// stack that users compare portcullis with: Express 5, express-rate-limit
// (rate-limit-redis for the shared store), helmet, cors, zod, DOMPurify on
// jsdom, argon2. bench/peers/run measures it beside secure_api and checks
// that both answer the same requests the same way; docs/comparison.md lists
// every deliberate difference.
//
//   node server.mjs [--config FILE] [--port N]
//
// FILE is secure_api's own configuration file; the keys this peer honours
// are listen, trusted_proxies, allowed_origins, body_limit, upload_limit,
// request_timeout_ms, stores (rate_limit, redis_url, rate_limit_on_error)
// and rate_limits (api, login, forgot_password). Like secure_api it
// prints `listening on http://ADDRESS:PORT` once it accepts connections.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

import argon2 from 'argon2';
import cors from 'cors';
import createDOMPurify from 'dompurify';
import express from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import { JSDOM } from 'jsdom';
import { RedisStore } from 'rate-limit-redis';
import { createClient } from 'redis';
import * as z from 'zod';

// -- Configuration: the same file and defaults as secure_api ------------------

function readConfig(argv) {
  const settings = {
    address: '127.0.0.1',
    port: 8080,
    trustedProxies: [],
    allowedOrigins: ['http://localhost:3000'],
    bodyLimit: 102400,
    uploadLimit: 10485760,
    requestTimeoutMs: 10000,
    rateLimitStore: 'memory',
    redisUrl: '',
    failOpen: false,
    limits: {
      api: { limit: 100, window_seconds: 900 },
      login: { limit: 5, window_seconds: 900 },
      forgot_password: { limit: 3, window_seconds: 3600 },
    },
  };
  let port;
  for (let i = 2; i < argv.length; ++i) {
    if (argv[i] === '--config' && i + 1 < argv.length) {
      const c = JSON.parse(readFileSync(argv[++i], 'utf8'));
      settings.address = c.listen?.address ?? settings.address;
      settings.port = c.listen?.port ?? settings.port;
      settings.trustedProxies = c.trusted_proxies ?? settings.trustedProxies;
      settings.allowedOrigins = c.allowed_origins ?? settings.allowedOrigins;
      settings.bodyLimit = c.body_limit ?? settings.bodyLimit;
      settings.uploadLimit = c.upload_limit ?? settings.uploadLimit;
      settings.requestTimeoutMs = c.request_timeout_ms ?? settings.requestTimeoutMs;
      settings.rateLimitStore = c.stores?.rate_limit ?? settings.rateLimitStore;
      settings.redisUrl = c.stores?.redis_url ?? settings.redisUrl;
      settings.failOpen = c.stores?.rate_limit_on_error === 'open';
      for (const name of ['api', 'login', 'forgot_password'])
        Object.assign(settings.limits[name], c.rate_limits?.[name] ?? {});
    } else if (argv[i] === '--port' && i + 1 < argv.length) {
      port = Number(argv[++i]);
    } else {
      console.error('usage: node server.mjs [--config FILE] [--port N]');
      process.exit(2);
    }
  }
  if (port !== undefined) settings.port = port;
  return settings;
}

const settings = readConfig(process.argv);

// -- Users and sessions (users.cpp): Argon2id, sess_ tokens, SHA-256 kept ----

const argonOptions = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 };
const sessionTtlSeconds = 12 * 3600;

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

class UserStore {
  byId = new Map();
  idByEmail = new Map();
  sessions = new Map();
  dummyHash = null;

  async init() {
    this.dummyHash = await argon2.hash(randomBytes(16).toString('hex'), argonOptions);
  }

  async create(email, password, name) {
    const key = email.toLowerCase();
    if (this.idByEmail.has(key)) return null;
    const hash = await argon2.hash(password, argonOptions);
    if (this.idByEmail.has(key)) return null;  // lost a race
    const user = { id: 'u_' + randomBytes(8).toString('hex'), email, name, bio: '', website: '',
      tier: 'free' };
    this.idByEmail.set(key, user.id);
    this.byId.set(user.id, { user, hash });
    return user;
  }

  // Verifies even for an unknown e-mail, so that timing tells nothing.
  async login(email, password) {
    const id = this.idByEmail.get(email.toLowerCase());
    const hash = id ? this.byId.get(id).hash : this.dummyHash;
    const ok = await argon2.verify(hash, password);
    if (!ok || !id) return null;
    const token = 'sess_' + randomBytes(32).toString('base64url');
    const now = Date.now();
    for (const [digest, s] of this.sessions) if (s.expires <= now) this.sessions.delete(digest);
    this.sessions.set(sha256(token), { userId: id, expires: now + sessionTtlSeconds * 1000 });
    return token;
  }

  sessionUser(token) {
    const s = this.sessions.get(sha256(token));
    if (!s || s.expires <= Date.now()) return null;
    return this.byId.get(s.userId)?.user ?? null;
  }

  find(id) {
    return this.byId.get(id)?.user ?? null;
  }
}

const users = new UserStore();
await users.init();

// -- Helpers -----------------------------------------------------------------

const error = (res, status, message, details) =>
  res.status(status).json(details === undefined ? { error: message } : { error: message, details });

const userJson = (u) => ({ id: u.id, email: u.email, name: u.name, bio: u.bio,
  website: u.website, tier: u.tier });

// Zod issues in the reference server's shape: {field, code, message, ...}.
const issuesOf = (zodError) =>
  zodError.issues.map(({ path, code, message, ...rest }) =>
    ({ field: path.join('.'), code, message, ...rest }));

const isJson = (req) => req.is(['application/json', 'application/*+json']) !== false;

// A JSON body checked against `schema`: 415 for another media type, 400 for
// invalid JSON (from express.json) or a value that fails the schema. The
// handler reads the parsed, stripped value from req.valid.
function validBody(schema) {
  return [
    express.json({ limit: settings.bodyLimit, type: ['application/json', 'application/*+json'] }),
    (req, res, next) => {
      if (!isJson(req)) return error(res, 415, 'the body must be application/json');
      const r = schema.safeParse(req.body);
      if (!r.success) return error(res, 400, 'Validation failed', issuesOf(r.error));
      req.valid = r.data;
      next();
    },
  ];
}

// Query integers by the reference server's lax table: digits only, never a
// best guess ("12abc", " 12", "" and "1.5" are errors).
const queryInteger = (min, max, fallback) => {
  let n = z.number().int().min(min);
  if (max !== undefined) n = n.max(max);
  return z.string().regex(/^[+-]?\d+$/).transform(Number).pipe(n).default(fallback);
};

function validQuery(schema) {
  return (req, res, next) => {
    const r = schema.safeParse(req.query);
    if (!r.success) return error(res, 400, 'Validation failed', issuesOf(r.error));
    req.validQuery = r.data;
    next();
  };
}

// -- Schemas (app.cpp) ---------------------------------------------------------

const newUser = z.object({
  email: z.email().max(254),
  password: z.string().min(12).max(128),
  name: z.string().max(100).optional(),
});
const profilePatch = z.object({
  name: z.string().max(100).optional(),
  bio: z.string().max(500).optional(),
  website: z.union([z.url({ protocol: /^https?$/ }), z.literal('')]).optional(),
});
const itemsQuery = z.object({
  page: queryInteger(1, undefined, 1),
  limit: queryInteger(1, 100, 20),
});
const credentials = z.object({ email: z.string().max(254), password: z.string().max(128) });
const emailOnly = z.object({ email: z.email().max(254) });

// -- Rich text: DOMPurify with the strict allowlist of html_sanitizer ---------

const purify = createDOMPurify(new JSDOM('').window);
const bioPolicy = {
  ALLOWED_TAGS: ['b', 'i', 'em', 'strong', 'a', 'p', 'br'],
  ALLOWED_ATTR: ['href'],
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
};
// Links get rel="noopener noreferrer", as the strict preset gives them.
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href'))
    node.setAttribute('rel', 'noopener noreferrer');
});

// -- Rate limits (rate_limits.hpp) ---------------------------------------------

let redis = null;
if (settings.rateLimitStore === 'redis') {
  redis = createClient({ url: settings.redisUrl });
  redis.on('error', (e) => console.error(`redis: ${e.message}`));
  await redis.connect();
}
const storeFor = (name) =>
  redis ? new RedisStore({ prefix: `express_${name}:`,
    sendCommand: (...args) => redis.sendCommand(args) }) : undefined;

const tooMany = (req, res) => error(res, 429, 'too many requests');
// A store failure: pass the request uncounted ("open") or answer 503.
const limiter = (name, options) => rateLimit({
  windowMs: settings.limits[name].window_seconds * 1000,
  limit: settings.limits[name].limit,
  standardHeaders: 'draft-7',
  legacyHeaders: false,
  handler: tooMany,
  store: storeFor(name),
  passOnStoreError: settings.failOpen,
  ...options,
});

// As in the reference server: health checks and metric scrapes are never counted.
const unlimited = (req) =>
  req.method === 'GET' &&
  ['/health', '/v1/health', '/metrics', '/v1/metrics'].includes(req.path);
const apiLimit = limiter('api', { skip: unlimited });
const loginLimit = limiter('login', {
  skipSuccessfulRequests: true,
  keyGenerator: (req) => `${ipKeyGenerator(req.ip)}:${String(req.body?.email ?? '')}`,
});
const forgotLimit = limiter('forgot_password', {});

// -- Sessions --------------------------------------------------------------------

function sessionAuth(req, res, next) {
  const auth = req.get('authorization') ?? '';
  const scheme = 'Bearer sess_';
  if (auth.length > scheme.length && auth.length < 256 && auth.startsWith(scheme)) {
    const u = users.sessionUser(auth.slice(7));
    if (u) req.userId = u.id;
  }
  next();
}

function requireSession(req, res, next) {
  if (req.userId) return next();
  res.set('WWW-Authenticate', 'Bearer');
  error(res, 401,
    'sign in first: send Authorization: Bearer <session token from POST /auth/login>');
}

// -- The application -------------------------------------------------------------

const app = express();
app.disable('x-powered-by');
app.set('trust proxy', settings.trustedProxies.length ? settings.trustedProxies : false);
app.set('etag', false);
app.set('query parser', 'simple');

// CORS first, so that every answer below carries the grant (app.cpp). The
// `cors` package answers every preflight 204 and leaves the refusal to the
// browser; the reference server answers one it will not grant 403 with no
// CORS header, so this peer checks the same three things first.
const corsPolicy = {
  origin: settings.allowedOrigins,
  methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  allowedHeaders: ['Content-Type', 'Authorization', 'X-API-Key'],
  exposedHeaders: ['RateLimit', 'RateLimit-Policy', 'RateLimit-Limit', 'RateLimit-Remaining',
    'RateLimit-Reset', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset',
    'Retry-After'],
  maxAge: 600,
};
const grantable = new Set(corsPolicy.allowedHeaders.map((h) => h.toLowerCase()));
const corsGrant = cors(corsPolicy);
// A preflight's answer exposes nothing (the actual response does that).
const corsPreflight = cors({ ...corsPolicy, exposedHeaders: undefined });
app.use((req, res, next) => {
  const origin = req.get('origin');
  const method = req.get('access-control-request-method');
  if (req.method === 'OPTIONS' && origin !== undefined && method !== undefined) {
    // A preflight: its answer depends on what it asks for, too.
    res.vary('Origin').vary('Access-Control-Request-Method')
      .vary('Access-Control-Request-Headers');
    const asked = (req.get('access-control-request-headers') ?? '').split(',')
      .map((h) => h.trim().toLowerCase()).filter(Boolean);
    if (corsPolicy.origin.includes(origin) && corsPolicy.methods.includes(method) &&
        asked.every((h) => grantable.has(h)))
      return corsPreflight(req, res, next);
    return error(res, 403, 'CORS preflight refused');
  }
  // `cors` takes any OPTIONS for a preflight; a plain one goes to its route.
  if (req.method === 'OPTIONS') {
    res.vary('Origin');
    return next();
  }
  // `cors` exposes headers to every origin; only a granted one needs them.
  corsGrant(req, res, () => {
    if (!corsPolicy.origin.includes(origin)) res.removeHeader('Access-Control-Expose-Headers');
    next();
  });
});

// The API preset of security_headers: default-src 'none', frame-ancestors
// 'none', DENY, nosniff, no-store; HSTS only over HTTPS (this peer speaks
// HTTP only, so none).
app.use(helmet({
  contentSecurityPolicy: { useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  frameguard: { action: 'deny' },
  strictTransportSecurity: false,
}));
app.use((req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
});

// A handler slower than request_timeout_ms is answered 503 (timeout.hpp).
// Node cannot cancel the handler; its late answer is dropped.
app.use((req, res, next) => {
  const timer = setTimeout(() => {
    if (!res.headersSent) error(res, 503, 'request timed out');
  }, settings.requestTimeoutMs);
  res.once('close', () => clearTimeout(timer));
  next();
});

app.use(sessionAuth);
app.use(apiLimit);

const api = express.Router();

api.get('/health', (req, res) => res.json({ status: 'ok' }));

api.post('/users', validBody(newUser), async (req, res) => {
  const { email, password, name = '' } = req.valid;
  const u = await users.create(email, password, name);
  if (!u) return error(res, 409, 'that e-mail is taken');
  res.status(201).json(userJson(u));
});

api.post('/auth/login', express.json({ limit: settings.bodyLimit }), loginLimit,
  validBody(credentials), async (req, res) => {
    const token = await users.login(req.valid.email, req.valid.password);
    if (!token) return error(res, 401, 'invalid e-mail or password');
    res.json({ token, token_type: 'Bearer', expires_in: sessionTtlSeconds });
  });

api.post('/auth/forgot-password', forgotLimit, validBody(emailOnly), (req, res) => {
  // The same answer whether or not the account exists.
  res.status(202).json({ status: 'if the account exists, a reset link has been sent' });
});

api.get('/profile', requireSession, (req, res) => {
  const u = users.find(req.userId);
  if (!u) return error(res, 404, 'not found');
  res.json(userJson(u));
});

api.patch('/profile', requireSession, validBody(profilePatch), (req, res) => {
  const u = users.find(req.userId);
  if (!u) return error(res, 404, 'not found');
  const body = req.valid;
  if (body.name !== undefined) u.name = body.name;
  if (body.bio !== undefined) u.bio = purify.sanitize(body.bio, bioPolicy);
  if (body.website !== undefined) u.website = body.website;
  res.json(userJson(u));
});

api.get('/items', validQuery(itemsQuery), (req, res) => {
  const { page, limit } = req.validQuery;
  // A fixed catalogue of 250 items.
  const total = 250;
  const items = [];
  for (let i = (page - 1) * limit + 1; i <= Math.min(total, page * limit); ++i)
    items.push({ id: i, name: `Item ${i}` });
  res.json({ page, limit, total, items });
});

api.post('/upload', express.raw({ type: () => true, limit: settings.uploadLimit }), (req, res) => {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  res.status(201).json({ bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex') });
});

const loopback = (ip) => ip === '::1' || (isIP(ip) === 4 && ip.startsWith('127.')) ||
  ip.startsWith('::ffff:127.');
api.get('/metrics', (req, res) => {
  if (!loopback(req.ip)) return error(res, 403, 'forbidden');
  res.type('text/plain; version=0.0.4; charset=utf-8').send('');
});

// A plain OPTIONS answers 204 with Allow, another method 405 with Allow,
// as the chain does for a known path.
const allowed = { '/health': 'GET, HEAD', '/users': 'POST', '/auth/login': 'POST',
  '/auth/forgot-password': 'POST', '/profile': 'GET, HEAD, PATCH', '/items': 'GET, HEAD',
  '/upload': 'POST', '/metrics': 'GET, HEAD' };
for (const [path, methods] of Object.entries(allowed)) {
  const allow = `${methods}, OPTIONS`;
  api.options(path, (req, res) => res.set('Allow', allow).status(204).end());
  api.all(path, (req, res) => {
    res.set('Allow', allow);
    error(res, 405, 'method not allowed');
  });
}

app.use('/v1', api);
app.use('/', api);
app.use((req, res) => error(res, 404, 'not found'));

// Nothing that goes wrong reaches the client as text (error_handler).
app.use((err, req, res, next) => {
  if (res.headersSent) return next(err);
  if (err.type === 'entity.too.large') return error(res, 413, 'payload too large');
  if (err.type === 'entity.parse.failed') return error(res, 400, 'Invalid JSON');
  if (err.type === 'charset.unsupported' || err.type === 'encoding.unsupported')
    return error(res, 415, 'unsupported charset or encoding');
  if (err.status >= 400 && err.status < 500) return error(res, err.status, 'bad request');
  console.error(err);
  error(res, 500, 'internal server error');
});

// The server's limits and deadlines as portcullis::server_options has them.
const server = app.listen(settings.port, settings.address, () => {
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}`);
});
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;
server.keepAliveTimeout = 30_000;
server.maxHeadersCount = 100;

const stop = () => server.close(async () => {
  if (redis) await redis.quit();
  process.exit(0);
});
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// bench/peers/run's memory probe: a full collection before each reading.
if (typeof globalThis.gc === 'function') process.on('SIGUSR2', () => globalThis.gc());
