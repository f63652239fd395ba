// Real-browser test of the HTML sanitizer. A small C++ tool
// (sanitize_payloads) sanitizes every payload of the shared XSS cases and
// of the mutation corpus under each allowlist; this script inserts each
// output into a page in headless chromium, with innerHTML and with
// document.write, and fails on any of:
// - script execution (alert, confirm, prompt, print called);
// - an event-handler attribute or a <script> element in the resulting DOM;
// - a URL attribute whose scheme, as chromium's own URL parser reads it,
//   is outside the allowlist (javascript:, data: …);
// - a tree that differs from the one the output describes (the output
//   must not mutate when a browser parses it).
//
//     node html_sanitizer.test.js <sanitize_payloads binary> <dompurify_vectors.json> [corpus …]
'use strict';

const { execFileSync } = require('child_process');
const { launch, isolatedPage, requireChromium } = require('./browser.js');

async function main() {
  const [tool, cases, ...corpora] = process.argv.slice(2);
  if (!tool || !cases) {
    console.error('usage: html_sanitizer.test.js <sanitize_payloads> <dompurify_vectors.json>');
    process.exit(2);
  }
  requireChromium();
  const data = JSON.parse(execFileSync(tool, [cases, ...corpora], { maxBuffer: 256 << 20 }).toString());
  const items = data.items;
  const alerting = items.filter((i) => i.id.startsWith('dompurify-') && i.payload.includes('alert'));

  const browser = await launch();
  const failures = [];
  try {
    const page = await isolatedPage(browser);
    page.on('dialog', (d) => {
      failures.push(`dialog opened: ${d.type()} ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    await page.setContent('<!DOCTYPE html><html><head><title>sanitizer</title></head>' +
                          '<body><div id="host"></div><div id="frames"></div></body></html>');

    for (const mode of ['innerHTML', 'document.write']) {
      const found = await page.evaluate(runInPage, { items, allowlists: data.allowlists, mode });
      failures.push(...found);
    }
  } finally {
    await browser.close();
  }

  console.log(`${items.length} sanitized outputs (${alerting.length / 3} alert payloads of the ` +
              `shared cases per allowlist) inserted with innerHTML and document.write`);
  if (failures.length) {
    for (const f of failures.slice(0, 50)) console.error(`FAIL: ${f}`);
    console.error(`${failures.length} failure(s)`);
    process.exit(1);
  }
  console.log('PASS: no script ran, no handler or javascript: URL, every tree stable');
}

// Runs inside the page. Returns a list of failure messages.
async function runInPage({ items, allowlists, mode }) {
  const failures = [];
  const hook = (win, id) => {
    for (const name of ['alert', 'confirm', 'prompt', 'print']) {
      win[name] = (...args) => failures.push(`${id}: ${name}(${args.join(',')}) ran (${mode})`);
    }
  };
  hook(window, 'page');

  const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link',
                        'meta', 'param', 'source', 'track', 'wbr']);
  // The sanitizer's conventions: five characters escaped, and a carriage
  // return (which a parse would read back as LF) written as &#13;.
  const escape = (s) => s.replace(/[&<>"'\r]/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '\r': '&#13;' })[c]);
  // The sanitizer's own conventions, applied to the tree chromium built.
  const serialize = (node) => {
    let out = '';
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        out += node.localName === 'style' ? child.data : escape(child.data);
      } else if (child.nodeType === Node.ELEMENT_NODE) {
        const ns = child.namespaceURI === 'http://www.w3.org/1999/xhtml' ? '' : '{foreign}';
        out += `<${ns}${child.localName}`;
        for (const a of child.attributes) out += ` ${a.name}="${escape(a.value)}"`;
        out += '>';
        if (VOID.has(child.localName)) continue;
        let inner = serialize(child);
        if ((child.localName === 'pre' || child.localName === 'listing') && inner.startsWith('\n'))
          inner = '\n' + inner;
        out += `${inner}</${child.localName}>`;
      } else {
        out += `<!--node type ${child.nodeType}-->`;
      }
    }
    return out;
  };
  const URL_ATTRIBUTES = ['href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'cite',
                          'background', 'longdesc', 'usemap', 'data', 'codebase'];
  const check = (root, item, where, isDocument) => {
    const schemes = new Set(allowlists[item.allowlist].schemes.map((s) => `${s}:`));
    schemes.add('https:');  // relative URLs resolve against the https base
    const bad = (value) => {
      try {
        return !schemes.has(new URL(value, 'https://base.invalid/').protocol);
      } catch {
        return false;  // unparsable: not navigable
      }
    };
    // Not root.nodeType: a document's properties can be clobbered too.
    const all = isDocument ? D.querySelectorAll : E.querySelectorAll;
    for (const el of all.call(root, '*')) {
      if (el.localName === 'script') failures.push(`${item.id}: <script> in DOM (${where})`);
      for (const a of el.attributes) {
        const name = a.name.toLowerCase();
        if (name.startsWith('on')) failures.push(`${item.id}: handler ${name} (${where})`);
        if (URL_ATTRIBUTES.includes(name) && bad(a.value))
          failures.push(`${item.id}: ${name}="${a.value}" (${where})`);
        if (name === 'srcset' || name === 'ping') {
          for (const part of a.value.split(/[\s,]+/)) {
            if (part && !/^\d+(\.\d+)?[wx]$/.test(part) && bad(part))
              failures.push(`${item.id}: ${name} entry ${part} (${where})`);
          }
        }
      }
      if ((el.localName === 'a' || el.localName === 'area') && el.href &&
          el.protocol === 'javascript:')
        failures.push(`${item.id}: link to javascript: (${where})`);
    }
  };

  // Outputs under the wide allowlist keep `id` and `name`, which can
  // clobber document properties (<img name="createElement">): call DOM
  // methods through their prototypes, never through the document.
  const D = Document.prototype;
  const E = Element.prototype;
  const N = Node.prototype;
  const create = (tag) => D.createElement.call(document, tag);
  const host = D.getElementById.call(document, 'host');
  const frames = D.getElementById.call(document, 'frames');
  // Chromium loads at most 1000 subframes per page: work in batches, and
  // give image and media errors (every request is aborted) time to fire
  // any handler that survived before a batch is removed.
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const BATCH = 200;
  for (let start = 0; start < items.length; start += BATCH) {
    for (const item of items.slice(start, start + BATCH)) {
      const id = `${item.allowlist}/${item.id}`;
      if (mode === 'innerHTML') {
        const div = create('div');
        N.appendChild.call(host, div);
        div.innerHTML = item.html;
        check(div, item, 'innerHTML', false);
        const rebuilt = serialize(div);
        if (rebuilt !== item.html)
          failures.push(`${id}: chromium built another tree\n  output:  ${item.html}\n  rebuilt: ${rebuilt}`);
      } else {
        const frame = create('iframe');
        N.appendChild.call(frames, frame);
        const doc = frame.contentDocument;
        if (!doc) {
          failures.push(`${id}: no document in the iframe (harness)`);
          continue;
        }
        D.open.call(doc);
        hook(frame.contentWindow, id);
        D.write.call(doc, item.html);
        D.close.call(doc);
        check(doc, item, 'document.write', true);
      }
    }
    await sleep(500);
    E.replaceChildren.call(frames);
    E.replaceChildren.call(host);
  }
  return failures;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
