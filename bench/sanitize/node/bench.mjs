// DOMPurify on jsdom, on the inputs of bench_html_sanitizer and with the
// same allowlists (portcullis's rich_text and strict presets; DOMPurify
// has no per-element attributes, so their union is allowed everywhere).
// Prints JSON: {name: {median_cpu_us, median_wall_us, repetitions}}.
//
//     node bench.mjs [repetitions]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { JSDOM } from 'jsdom';
import createDOMPurify from 'dompurify';

const here = dirname(fileURLToPath(import.meta.url));
const purify = createDOMPurify(new JSDOM('').window);

const rich = {
  ALLOWED_TAGS: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'hr', 'div', 'span', 'blockquote',
    'pre', 'code', 'kbd', 'samp', 'b', 'i', 'u', 's', 'em', 'strong', 'small', 'sub', 'sup',
    'mark', 'del', 'ins', 'abbr', 'q', 'ul', 'ol', 'li', 'dl', 'dt', 'dd', 'a', 'img', 'figure',
    'figcaption', 'table', 'caption', 'thead', 'tbody', 'tfoot', 'tr', 'th', 'td'],
  ALLOWED_ATTR: ['title', 'lang', 'dir', 'href', 'src', 'srcset', 'alt', 'width', 'height',
    'cite', 'datetime', 'start', 'reversed', 'colspan', 'rowspan', 'scope'],
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
};
const strict = {
  ALLOWED_TAGS: ['b', 'i', 'em', 'strong', 'a', 'p', 'br'],
  ALLOWED_ATTR: ['href'],
  ALLOWED_URI_REGEXP: rich.ALLOWED_URI_REGEXP,
};

const readme = readFileSync(join(here, '..', 'inputs', 'readme.html'), 'utf8');
let large = '';
while (Buffer.byteLength(large) + Buffer.byteLength(readme) <= 64 * 1024) large += readme;
const cases = JSON.parse(readFileSync(
  process.env.PORTCULLIS_CASES_DIR
    ? join(process.env.PORTCULLIS_CASES_DIR, 'xss', 'dompurify_vectors.json')
    : join(here, '..', '..', '..', '..', 'shared', 'cases', 'xss', 'dompurify_vectors.json'),
  'utf8'));
const inputs = { readme: [readme], large: [large], xss: cases.map((c) => c.payload) };

// One repetition: run the whole input set for at least 200 ms of CPU
// time, return the mean wall and CPU time per pass in microseconds. CPU
// time (process.cpuUsage, user + system) is what compare.sh uses: on a
// shared machine wall time also counts other processes.
function repetition(docs, config) {
  let passes = 0;
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  let used = 0;
  while (used < 200_000) {
    for (const doc of docs) purify.sanitize(doc, config);
    ++passes;
    const d = process.cpuUsage(cpu);
    used = d.user + d.system;
  }
  return { wall: Number(process.hrtime.bigint() - wall) / 1000 / passes, cpu: used / passes };
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const repetitions = Number(process.argv[2] || 10);
const results = {};
for (const [name, docs] of Object.entries(inputs)) {
  for (const [preset, config] of [['rich_text', rich], ['strict', strict]]) {
    repetition(docs, config);  // warm-up (JIT)
    const runs = [];
    for (let i = 0; i < repetitions; ++i) runs.push(repetition(docs, config));
    results[`dompurify_${preset}/${name}`] = {
      median_cpu_us: median(runs.map((r) => r.cpu)),
      median_wall_us: median(runs.map((r) => r.wall)),
      repetitions,
    };
  }
}
console.log(JSON.stringify(results));
