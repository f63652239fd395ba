// Turns bench/peers/run's raw results into medians, a Markdown table, a
// gnuplot script and the generated parts of docs/performance.md.
//
//   node report.mjs table RESULTS.tsv          the table (Markdown) on stdout
//   node report.mjs plot RESULTS.tsv DIR       gnuplot script; DIR/peers.png
//   node report.mjs memory MEMORY.tsv          the memory table on stdout
//   node report.mjs docs DIR PERFORMANCE.md    DIR/table.md, DIR/memory.md into
//                                              the file, between their markers
//
// RESULTS.tsv lines: scenario, server, run, wrk's JSON line (request.lua),
// load average. MEMORY.tsv lines: server, probe, probe.mjs's JSON line.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

const scenarioNames = {
  'get-memory': 'allowed GET /items',
  'post-memory': 'validated JSON POST /auth/forgot-password',
  'limited-memory': '429 (one client over its limit)',
  'preflight-memory': 'CORS preflight',
  'sanitize-memory': 'rich text PATCH /profile (sanitized bio)',
  'get-redis': 'allowed GET /items, Redis store',
  'post-redis': 'validated JSON POST, Redis store',
  'limited-redis': '429, Redis store',
  'sanitize-redis': 'rich text PATCH /profile, Redis store',
};

const plotNames = {
  'get-memory': 'GET', 'post-memory': 'JSON POST', 'limited-memory': '429',
  'preflight-memory': 'preflight', 'sanitize-memory': 'rich text', 'get-redis': 'GET (Redis)',
  'post-redis': 'JSON POST (Redis)', 'limited-redis': '429 (Redis)',
  'sanitize-redis': 'rich text (Redis)',
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function load(results) {
  const rows = readFileSync(results, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const [scenario, server, run, line, loadavg] = l.split('\t');
    return { scenario, server, run: Number(run), ...JSON.parse(line), load: Number(loadavg) };
  });
  const by = new Map();
  for (const r of rows) {
    const key = `${r.scenario}\t${r.server}`;
    if (!by.has(key)) by.set(key, []);
    by.get(key).push(r);
  }
  const scenarios = [...new Set(rows.map((r) => r.scenario))];
  const stats = (scenario, server) => {
    const rs = by.get(`${scenario}\t${server}`) ?? [];
    // An allowed scenario must see only 2xx answers, the 429 one none.
    const wrong = rs.filter((r) => (scenario.startsWith('limited') ? r.not_2xx !== r.requests
      : r.not_2xx !== 0) || r.socket_errors !== 0).length;
    // CPU of the server per request, and how busy its core was (older
    // result files have no CPU fields).
    const cpu = rs.filter((r) => r.server_cpu_s !== undefined);
    return { runs: rs.length, rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50_us)), p99: median(rs.map((r) => r.p99_us)), wrong,
      cpu_us: cpu.length ? median(cpu.map((r) => (r.server_cpu_s * 1e6) / r.requests)) : NaN,
      busy: cpu.length ? median(cpu.map((r) => r.server_cpu_s / r.seconds)) : NaN,
      redisBusy: cpu.length ? median(cpu.map((r) => r.redis_cpu_s / r.seconds)) : NaN };
  };
  const loads = rows.map((r) => r.load);
  return { scenarios, stats, loads, runs: Math.max(...rows.map((r) => r.run)) };
}

const us = (x) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${Math.round(x)} µs`);
const int = (x) => Math.round(x).toLocaleString('en-US');

function table(results) {
  const { scenarios, stats, loads, runs } = load(results);
  const out = [
    '| scenario | portcullis req/s | Express req/s | ratio | portcullis p50 / p99 | ' +
      'Express p50 / p99 | goal (≥ 5x, lower p99) | CPU per request, portcullis / Express ' +
      '(ratio) | server core busy |',
    '|---|---:|---:|---:|---:|---:|:---:|---:|---:|',
  ];
  const pct = (x) => (Number.isNaN(x) ? '–' : `${Math.round(x * 100)} %`);
  const cpuCell = (p, e) => (Number.isNaN(p.cpu_us) || Number.isNaN(e.cpu_us) ? '–'
    : `${us(p.cpu_us)} / ${us(e.cpu_us)} (${(e.cpu_us / p.cpu_us).toFixed(1)}x)`);
  const notes = [];
  for (const s of scenarios) {
    const p = stats(s, 'reference'), e = stats(s, 'express');
    const ratio = p.rps / e.rps;
    const met = ratio >= 5 && p.p99 < e.p99;
    out.push(`| ${scenarioNames[s] ?? s} | ${int(p.rps)} | ${int(e.rps)} | ` +
      `${ratio.toFixed(1)}x | ${us(p.p50)} / ${us(p.p99)} | ${us(e.p50)} / ${us(e.p99)} | ` +
      `${met ? 'met' : '**not met**'} | ${cpuCell(p, e)} | ${pct(p.busy)} / ${pct(e.busy)} |`);
    for (const [who, st] of [['portcullis', p], ['Express', e]])
      if (st.wrong) notes.push(`${who}, ${s}: ${st.wrong} of ${st.runs} runs had unexpected ` +
        'statuses or socket errors');
  }
  const redisRows = scenarios.filter((s) => s.endsWith('-redis'))
    .map((s) => [s, stats(s, 'reference'), stats(s, 'express')])
    .filter(([, p]) => !Number.isNaN(p.redisBusy));
  const redisLine = redisRows.length &&
    ('redis-server busy (share of one core) while serving portcullis / Express: ' +
      redisRows.map(([s, p, e]) => `${plotNames[s] ?? s} ${pct(p.redisBusy)} / ` +
        `${pct(e.redisBusy)}`).join(', ') + '.');
  out.push('');
  out.push(`Medians of ${runs} runs per server and scenario; load average (1 min) during the ` +
    `runs ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} ` +
    `(median ${median(loads).toFixed(1)}) on ${os.cpus().length} cores ` +
    `(${os.cpus()[0].model.trim()}).`);
  if (redisLine) out.push('', redisLine);
  for (const n of notes) out.push(`\nWarning: ${n}.`);
  return out.join('\n');
}

function plot(results, dir) {
  const { scenarios, stats } = load(results);
  const data = scenarios.map((s) => {
    const label = plotNames[s] ?? s;
    const [p, e] = [stats(s, 'reference').rps, stats(s, 'express').rps];
    return `"${label}" ${p.toFixed(0)} ${e.toFixed(0)}`;
  });
  writeFileSync(`${dir}/peers.dat`, data.join('\n') + '\n');
  return [
    `set terminal pngcairo size 1100,560 font ",10"`,
    `set output "${dir}/peers.png"`,
    `set termoption noenhanced`,
    `set title "Requests per second, one core each (median of runs; bench/peers/run)"`,
    `set style data histograms`,
    `set style histogram clustered gap 1`,
    `set style fill solid 0.85 border -1`,
    `set logscale y`,
    `set yrange [100:*]`,
    `set ylabel "req/s (log scale)"`,
    `set xtics rotate by -25 scale 0`,
    `set grid ytics`,
    `set key top right`,
    `set bmargin 6`,
    `plot "${dir}/peers.dat" using 2:xtic(1) title "portcullis (secure_api)" lc rgb "#1f6f8b", ` +
      `'' using 3 title "Express 5 stack" lc rgb "#d98c2b"`,
  ].join('\n');
}

function memory(file) {
  const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => {
    const [server, probe, line] = l.split('\t');
    return { server, probe, ...JSON.parse(line) };
  });
  const get = (server, probe) => rows.find((r) => r.server === server && r.probe === probe);
  const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
  const out = ['| | portcullis | Express |', '|---|---:|---:|'];
  const i = [get('reference', 'idle'), get('express', 'idle')];
  const k = [get('reference', 'keys'), get('express', 'keys')];
  out.push('| RSS at rest (before the idle connections) | ' +
    `${int(i[0].rss_before_kib / 1024)} MiB | ${int(i[1].rss_before_kib / 1024)} MiB |`);
  out.push(`| per idle keep-alive connection (${i[0].connections} open; still open after 1 s: ` +
    `${i[0].alive} / ${i[1].alive}) | ${kib(i[0].bytes_per_connection)} | ` +
    `${kib(i[1].bytes_per_connection)} |`);
  out.push(`| per rate-limit key (${k[0].keys} new client addresses, GET /items) | ` +
    `${k[0].bytes_per_key} B | ${k[1].bytes_per_key} B |`);
  return out.join('\n');
}

// Replaces what lies between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
function splice(text, name, body) {
  const begin = `<!-- ${name}:begin (written by bench/peers/run --write) -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(begin), b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`docs/performance.md has no ${name} markers`);
  return text.slice(0, a + begin.length) + '\n' + body.trim() + '\n' + text.slice(b);
}

function docs(dir, file) {
  let text = readFileSync(file, 'utf8');
  const read = (f) => {
    try {
      return readFileSync(`${dir}/${f}`, 'utf8');
    } catch {
      return null;
    }
  };
  const t = read('table.md'), m = read('memory.md');
  const when = `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`;
  if (t) text = splice(text, 'peers-bench', `${t.trim()}\n\n${when}`);
  if (m) text = splice(text, 'peers-memory', `${m.trim()}\n\n${when}`);
  writeFileSync(file, text);
}

const [command, a, b] = process.argv.slice(2);
switch (command) {
  case 'table': console.log(table(a)); break;
  case 'plot': console.log(plot(a, b)); break;
  case 'memory': console.log(memory(a)); break;
  case 'docs': docs(a, b); break;
  default:
    console.error('usage: node report.mjs table|plot|memory|docs ...');
    process.exit(2);
}
