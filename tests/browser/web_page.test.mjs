// Browser test of the ragc web page: starts `ragc serve --port 0` on a temporary data dir, drives
// Debian's Chromium through playwright-core (no browser download), and checks the page end to end:
// upload with progress, documents list, streamed cited answer, sources, report, tooltip, delete,
// escaping of hostile file names, error paths, and the access rules: the API-key prompt (RAGC_API_KEY
// with --private), the owner's key asked for on the first upload while anyone may ask (RAGC_API_KEY
// alone, the Space set-up), and uploads turned off on a public address without a key.
//
// Environment:
//   RAGC_BIN         the ragc binary (required)
//   RAGC_SHARED_DIR  ../shared (required: the PDF samples)
//   RAGC_SHOT_DIR    where the screenshots go (default: RAGC_TMP, else the temp dir)
//   RAGC_TMP         parent of the temporary directory (default: os.tmpdir())
//   CHROMIUM         browser executable (default /usr/bin/chromium)
// Prints "ok - ..." / "not ok - ..." per check; exits 0 only when every check passed.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.RAGC_BIN;
const SHARED = process.env.RAGC_SHARED_DIR;
const CHROME = process.env.CHROMIUM || '/usr/bin/chromium';
const TMP_PARENT = process.env.RAGC_TMP || os.tmpdir();
const PDF = path.join(SHARED || '', 'data/pdf-samples/004-pdflatex-4-pages/pdflatex-4-pages.pdf');
const PDF2 = path.join(SHARED || '', 'data/pdf-samples/001-trivial/minimal-document.pdf');
const QUESTION = 'What does a blind text give you information about?';
const STEP_MS = 30000; // ceiling for any single wait; the whole test takes a few seconds

let passes = 0;
let fails = 0;
const ok = (name) => { passes++; console.log(`ok - ${name}`); };
const notOk = (name, why) => { fails++; console.log(`not ok - ${name}: ${why}`); };
const check = (name, cond, why) => (cond ? ok(name) : notOk(name, why));

function die(msg) {
  console.log(`not ok - ${msg}`);
  process.exit(1);
}

if (!BIN || !fs.existsSync(BIN)) die(`RAGC_BIN (${BIN}) is not an executable ragc binary`);
if (!SHARED || !fs.existsSync(PDF)) die(`sample PDF ${PDF} not found: set RAGC_SHARED_DIR to ../shared`);
if (!fs.existsSync(CHROME)) die(`Chromium not found at ${CHROME}: install Debian's chromium package (scripts/install-deps.sh)`);

fs.mkdirSync(TMP_PARENT, { recursive: true });
const WORK = fs.mkdtempSync(path.join(TMP_PARENT, 'ragc-browser-'));
const SHOT_DIR = process.env.RAGC_SHOT_DIR || TMP_PARENT;

// ------------------------------------------------------------------------------------ server

// Starts `ragc serve` and resolves { proc, base, logs } once it prints its address and /healthz
// answers. The port is whatever the kernel gave (--port 0), read from the server's output.
// preload: files ingested with `ragc ingest` into the data dir before the server starts.
// args: extra `ragc serve` arguments (default: --host 127.0.0.1).
async function startServer(name, extraEnv, preload, args) {
  const dataDir = path.join(WORK, `data-${name}`);
  fs.mkdirSync(dataDir, { recursive: true });
  const env = Object.assign({}, process.env, { RAGC_DATA_DIR: dataDir }, extraEnv || {});
  for (const v of ['RAGC_CONFIG', 'RAGC_PROFILE', 'SPACE_ID', 'RAILWAY_ENVIRONMENT']) delete env[v];
  if (preload && preload.length) {
    const r = spawnSync(BIN, ['ingest', '-q', ...preload], { env, encoding: 'utf8', timeout: 60000 });
    if (r.status !== 0) throw new Error(`ragc ingest ${preload.join(' ')} failed (${r.status}): ${r.stderr}`);
  }
  const proc = spawn(BIN, ['serve', '--port', '0', ...(args || ['--host', '127.0.0.1'])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const portRe = /(?:https?:\/\/(?:127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1?\]):(\d{2,5}))|(?:\bport[ =:]+(\d{2,5}))/i;
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening address printed within 20 s; output:\n${logs}`)), 20000);
    const onData = (buf) => {
      logs += buf.toString();
      const m = portRe.exec(logs);
      if (m) { clearTimeout(timer); resolve(Number(m[1] || m[2])); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`ragc serve exited (code ${code}, signal ${signal}) before listening; output:\n${logs}`));
    });
  });
  const base = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      const r = await fetch(`${base}healthz`);
      if (r.ok) break;
    } catch (_) { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${base}healthz did not answer within 20 s; output:\n${logs}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, base, exited, logs: () => logs };
}

// SIGTERM, then checks a clean exit (status 0) within 10 s.
async function stopServer(name, srv) {
  if (!srv || srv.proc.exitCode !== null) return;
  srv.proc.kill('SIGTERM');
  const res = await Promise.race([srv.exited, new Promise((r) => setTimeout(() => r(null), 10000))]);
  if (!res) {
    srv.proc.kill('SIGKILL');
    notOk(`${name}: server stops on SIGTERM`, `still running after 10 s; output:\n${srv.logs().slice(-2000)}`);
    return;
  }
  check(`${name}: server exits cleanly on SIGTERM`, res.code === 0,
    `exit code ${res.code}, signal ${res.signal}; output:\n${srv.logs().slice(-2000)}`);
}

// ------------------------------------------------------------------------------------ browser

async function launch() {
  const profile = fs.mkdtempSync(path.join(WORK, 'chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROME,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    timeout: STEP_MS,
  });
}

// Records console errors, page errors and CSP violations of a page.
function watchPage(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (process.env.WEB_DEBUG) console.log('# console:', m.type(), m.text());
    if (m.type() !== 'error') return;
    const t = m.text();
    if (/^Failed to load resource/.test(t)) return; // expected 4xx answers of the error-path checks
    problems.push(`console error: ${t}`);
  });
  return problems;
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    notOk(name, (e && e.stack) || String(e));
  }
}

async function mainFlow(ctx, srv) {
  const page = ctx.pages()[0] || await ctx.newPage();
  const problems = watchPage(page);
  let sawEventStream = false;
  page.on('response', (r) => {
    if (r.url().endsWith('/v1/ask') && (r.headers()['content-type'] || '').includes('text/event-stream')) sawEventStream = true;
  });
  page.on('dialog', (d) => d.accept()); // the delete confirmation

  await page.goto(srv.base, { waitUntil: 'load', timeout: STEP_MS });
  check('page title', (await page.title()).includes('ragc'), `title is ${await page.title()}`);
  await page.waitForFunction(() => /Ready/.test(document.getElementById('server-status').textContent), null, { timeout: STEP_MS });
  ok('readiness shown in the header');

  // Accessibility basics: every form control has a label.
  const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll('input, textarea, select'))
    .filter((c) => c.type !== 'hidden' && !(c.labels && c.labels.length) && !c.getAttribute('aria-label'))
    .map((c) => c.id || c.name));
  check('every form control has a label', unlabelled.length === 0, `unlabelled: ${unlabelled.join(', ')}`);

  // Upload through the file input: progress bar, outcome, documents list.
  await step('upload the PDF', async () => {
    await page.setInputFiles('#file-input', PDF);
    const row = page.locator('#uploads li', { hasText: 'pdflatex-4-pages.pdf' });
    await row.locator('progress').waitFor({ timeout: STEP_MS });
    await page.waitForFunction(() => {
      const li = document.querySelector('#uploads li');
      return li && /\b(done|skipped|failed)\b/.test(li.className);
    }, null, { timeout: STEP_MS });
    const cls = await row.getAttribute('class');
    check('upload of the PDF succeeded', /\bdone\b/.test(cls), `row class "${cls}", status "${await row.locator('.upload-status').textContent()}"`);
    check('upload progress bar reached 100%', (await row.locator('progress').evaluate((p) => p.value)) === 1, 'progress value is not 1');
    await page.locator('#documents li', { hasText: 'pdflatex-4-pages' }).waitFor({ timeout: STEP_MS });
    const meta = await page.locator('#documents li', { hasText: 'pdflatex-4-pages' }).textContent();
    check('documents list names the PDF with its pages', /4 pages/.test(meta), `entry reads: ${meta}`);
    const shown = await page.locator('#documents li', { hasText: 'pdflatex-4-pages' }).locator('a').first().textContent();
    check('documents list shows the name the file was uploaded with', shown === 'pdflatex-4-pages.pdf', `shown: ${shown}`);
  });

  // Error path: an empty question is refused on the page with a message.
  await step('empty question', async () => {
    await page.fill('#question', '   ');
    await page.click('#ask-button');
    const err = page.locator('#ask-error');
    await err.waitFor({ state: 'visible', timeout: 5000 });
    check('empty question gets a clear message', /question/i.test(await err.textContent()), await err.textContent());
  });

  // Ask: the answer streams in; citations link to the document at a page.
  await step('ask a question', async () => {
    await page.fill('#question', QUESTION);
    await page.press('#question', 'Enter');
    const answer = page.locator('#answers > li').first();
    await answer.locator('.answer-text[aria-busy="false"]').waitFor({ state: 'attached', timeout: STEP_MS });
    const failed = await answer.locator('.error').count();
    check('the question was answered', failed === 0, failed ? await answer.locator('.error').textContent() : '');
    check('answer came as a server-sent event stream', sawEventStream, 'no text/event-stream response to v1/ask');
    const tokens = Number(await answer.getAttribute('data-tokens'));
    check('streamed tokens were rendered', tokens > 0, `data-tokens=${tokens}`);
    const text = await answer.locator('.answer-text').textContent();
    check('answer quotes the document', /information/i.test(text), `answer: ${text}`);

    const cite = answer.locator('.answer-text a.cite').first();
    check('answer has a citation link', (await answer.locator('.answer-text a.cite').count()) > 0, `answer: ${text}`);
    const href = await cite.getAttribute('href');
    check('citation href opens the document at a page', /v1\/documents\/[^/]+\/file#page=\d+$/.test(href || ''), `href=${href}`);
    check('citation opens in a new tab', (await cite.getAttribute('target')) === '_blank', 'target is not _blank');
    const fileRes = await page.request.get(new URL(href.replace(/#.*/, ''), srv.base).toString());
    const body = await fileRes.body();
    check('citation target serves the original PDF', fileRes.ok() && body.subarray(0, 5).toString() === '%PDF-',
      `HTTP ${fileRes.status()}, starts with ${JSON.stringify(body.subarray(0, 8).toString())}`);

    await cite.hover();
    const tip = answer.locator('.cite-tip').first();
    await tip.waitFor({ state: 'visible', timeout: 5000 });
    check('hovering a citation shows its snippet', /information|text/i.test(await tip.textContent()), await tip.textContent());
    await page.mouse.move(0, 0);
    await cite.focus();
    check('focusing a citation shows its snippet', await tip.isVisible(), 'tooltip hidden on focus');
    await page.keyboard.press('Escape');
    check('Escape hides the snippet', !(await tip.isVisible()), 'tooltip still visible after Escape');

    const sources = await answer.locator('.sources').textContent();
    check('sources list names the PDF', sources.includes('pdflatex-4-pages'), `sources: ${sources}`);
    check('sources list gives the page', /page \d+/.test(sources), `sources: ${sources}`);

    await answer.locator('.report summary').click();
    const report = await answer.locator('.report').textContent();
    check('report panel shows bm25', report.includes('bm25'), `report: ${report}`);
    check('report panel shows extractive', report.includes('extractive'), `report: ${report}`);
    check('report panel shows stage times', /\d ms/.test(report), `report: ${report}`);
  });

  await step('desktop screenshot', async () => {
    await page.locator('#answers .answer-text a.cite').first().hover();
    const file = path.join(SHOT_DIR, 'browser-screenshot.png');
    await page.screenshot({ path: file, fullPage: true });
    check('desktop screenshot saved', fs.statSync(file).size > 1000, file);
    console.log(`# screenshot: ${file}`);
  });

  await step('phone screenshot', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.mouse.move(0, 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    const file = path.join(SHOT_DIR, 'browser-screenshot-phone.png');
    await page.screenshot({ path: file, fullPage: true });
    check('phone screenshot saved', fs.statSync(file).size > 1000, file);
    console.log(`# screenshot: ${file}`);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  // The stream breaks, fails, or is refused: the page falls back or shows the server's reason.
  await step('stream fallback and errors', async () => {
    const askAndWait = async (q) => {
      await page.fill('#question', q);
      await page.press('#question', 'Enter');
      const a = page.locator('#answers > li').first();
      await a.locator('.answer-text[aria-busy="false"]').waitFor({ state: 'attached', timeout: STEP_MS });
      return a;
    };
    const streamOnly = (fulfil) => async (route) => {
      let body = {};
      try { body = JSON.parse(route.request().postData() || '{}'); } catch (_) { /* not JSON */ }
      if (body.stream) await route.fulfill(fulfil); else await route.continue();
    };

    // A stream cut before "done" (CRLF line ends): the page asks again without streaming.
    await page.route('**/v1/ask', streamOnly({
      status: 200, contentType: 'text/event-stream', body: 'event: token\r\ndata: {"text": "partial "}\r\n\r\n',
    }));
    let a = await askAndWait(QUESTION);
    check('a cut stream falls back to the JSON answer', (await a.locator('.answer-text a.cite').count()) > 0
      && (await a.getAttribute('data-tokens')) === '1', `answer: ${await a.textContent()}`);
    await page.unroute('**/v1/ask');

    await page.route('**/v1/ask', streamOnly({
      status: 200, contentType: 'text/event-stream',
      body: 'event: token\ndata: {"text":"so"}\n\nevent: error\ndata: {"error":{"code":"upstream","message":"model <unavailable>"}}\n\n',
    }));
    a = await askAndWait('stream error check');
    const err1 = await a.locator('.error').textContent().catch(() => '');
    check('an error event shows the server message', err1.includes('model <unavailable>'), `shown: ${err1}`);
    await page.unroute('**/v1/ask');

    // A "reset" event voids the tokens before it (a generator failed and the next one started over).
    await page.route('**/v1/ask', streamOnly({
      status: 200, contentType: 'text/event-stream',
      body: 'event: token\ndata: {"text":"void words "}\n\nevent: reset\ndata: {}\n\nevent: token\ndata: {"text":"kept"}\n\n'
        + 'event: error\ndata: {"error":{"code":"upstream","message":"stopped here"}}\n\n',
    }));
    a = await askAndWait('stream reset check');
    const kept = await a.locator('.answer-text').textContent().catch(() => '');
    check('a reset event clears the streamed text', kept === 'kept', `text: ${kept}`);
    await page.unroute('**/v1/ask');

    await page.route('**/v1/ask', streamOnly({
      status: 503, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'overloaded', message: 'too many requests in flight' } }),
    }));
    a = await askAndWait('refused check');
    const err2 = await a.locator('.error').textContent().catch(() => '');
    check('an HTTP error shows its message and status', /too many requests in flight.*503/.test(err2), `shown: ${err2}`);
    await page.unroute('**/v1/ask');
  });

  // Hostile strings are shown as text, never parsed as HTML.
  await step('escaping', async () => {
    const evilName = '<img src=x onerror=window.__pwned=1>.txt';
    await page.setInputFiles('#file-input', {
      name: evilName, mimeType: 'text/plain',
      buffer: Buffer.from('Escaping check. The zebra crossing is painted white and black.\n'),
    });
    await page.waitForFunction((n) => Array.from(document.querySelectorAll('#uploads li'))
      .some((li) => li.querySelector('.upload-name').textContent === n && /\b(done|skipped|failed)\b/.test(li.className)),
    evilName, { timeout: STEP_MS });
    await page.fill('#question', '<b>zebra</b> crossing colour?');
    await page.press('#question', 'Enter');
    await page.locator('#answers > li').first().locator('.answer-text[aria-busy="false"]').waitFor({ state: 'attached', timeout: STEP_MS });
    const injected = await page.evaluate(() => ({
      imgs: document.querySelectorAll('main img').length,
      bold: document.querySelectorAll('.answer-question b').length,
      pwned: Boolean(window.__pwned),
      shown: Array.from(document.querySelectorAll('.upload-name')).map((e) => e.textContent),
    }));
    check('hostile file name and question are inserted as text', injected.imgs === 0 && injected.bold === 0 && !injected.pwned
      && injected.shown.includes(evilName), JSON.stringify(injected));
  });

  // Error path: a file that is not a PDF gets the server's reason on its upload row.
  await step('broken upload', async () => {
    await page.setInputFiles('#file-input', { name: 'broken.pdf', mimeType: 'application/pdf', buffer: Buffer.from('this is not a PDF at all') });
    const row = page.locator('#uploads li', { hasText: 'broken.pdf' });
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#uploads li'))
      .some((li) => /broken\.pdf/.test(li.textContent) && /\b(done|skipped|failed)\b/.test(li.className)), null, { timeout: STEP_MS });
    const cls = await row.getAttribute('class');
    const status = await row.locator('.upload-status').textContent();
    check('a broken PDF is reported as failed or skipped with a reason', /\b(failed|skipped)\b/.test(cls) && status.length > 8,
      `class "${cls}", status "${status}"`);
  });

  // Delete: a second document is removed after confirmation.
  await step('delete a document', async () => {
    await page.setInputFiles('#file-input', PDF2);
    const entry = page.locator('#documents li', { hasText: 'minimal-document' });
    await entry.waitFor({ timeout: STEP_MS }).catch(async (e) => {
      throw new Error(`${e.message}\nuploads: ${await page.locator('#uploads').textContent()}\ndocuments: ${await page.locator('#documents').textContent()}`);
    });
    await entry.locator('button', { hasText: 'Delete' }).click();
    await entry.waitFor({ state: 'detached', timeout: STEP_MS });
    ok('deleted document leaves the list');
    const res = await page.request.get(`${srv.base}v1/documents`);
    const list = (await res.json()).documents || [];
    check('server no longer lists the deleted document', !list.some((d) => /minimal-document/.test(d.source || '')),
      JSON.stringify(list.map((d) => d.source)));
    check('the PDF is still listed', list.some((d) => /pdflatex-4-pages/.test(d.source || '')), JSON.stringify(list.map((d) => d.source)));
  });

  await step('narrow screens', async () => {
    for (const width of [390, 360]) {
      await page.setViewportSize({ width, height: 800 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      check(`no horizontal scrolling at ${width} px`, overflow <= 0, `page is ${overflow}px wider than the viewport`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  check('no script errors or CSP violations', problems.length === 0, problems.join('\n'));
  await page.close();
}

// The server requires a key: the page asks for it once, keeps it in sessionStorage, and retries.
async function keyFlow(ctx, srv) {
  const page = await ctx.newPage();
  const problems = watchPage(page);
  await page.goto(srv.base, { waitUntil: 'load', timeout: STEP_MS });
  const dlg = page.locator('#key-dialog');
  await dlg.waitFor({ state: 'visible', timeout: STEP_MS });
  ok('a 401 opens the API key prompt');
  await page.fill('#key-input', 'wrong-key');
  await page.click('#key-form button[type="submit"]');
  const refused = await page.waitForFunction(() => document.getElementById('key-dialog').open
    && /refused/.test(document.getElementById('key-reason').textContent), null, { timeout: 10000 }).then(() => true, () => false);
  const reason = await page.locator('#key-reason').textContent();
  check('a wrong key is refused with a message', refused, `dialog open: ${await dlg.isVisible()}, text: ${reason}`);
  await page.fill('#key-input', 'test-secret-key');
  await page.click('#key-form button[type="submit"]');
  await dlg.waitFor({ state: 'hidden', timeout: STEP_MS });
  // The dialog's "close" event (which stores the key) comes a task after it hides.
  await page.waitForFunction(() => sessionStorage.getItem('ragc.apiKey') === 'test-secret-key', null, { timeout: 5000 }).catch(() => {});
  const stored = await page.evaluate(() => sessionStorage.getItem('ragc.apiKey'));
  check('the key is kept in sessionStorage', stored === 'test-secret-key', `stored: ${stored}`);
  await page.waitForFunction(() => document.getElementById('docs-error').hidden, null, { timeout: STEP_MS });
  ok('documents list loads with the key');
  await page.locator('#documents li', { hasText: 'pdflatex-4-pages' }).waitFor({ timeout: STEP_MS });
  await page.fill('#question', QUESTION);
  await page.press('#question', 'Enter');
  const answer = page.locator('#answers > li').first();
  await answer.locator('.answer-text[aria-busy="false"]').waitFor({ state: 'attached', timeout: STEP_MS });
  check('asking with the key needs no second prompt', !(await dlg.isVisible()), 'the key dialog opened again');
  const err = await answer.locator('.error').count();
  check('the question is answered with the key', err === 0 && (await answer.locator('a.cite').count()) > 0,
    err ? await answer.locator('.error').textContent() : `answer: ${await answer.textContent()}`);
  // A citation with a key set: the file is fetched with the Authorization header and opened as a blob.
  const [popup] = await Promise.all([
    ctx.waitForEvent('page', { timeout: STEP_MS }),
    answer.locator('a.cite').first().click(),
  ]);
  await popup.waitForURL(/^blob:/, { timeout: STEP_MS }).catch(() => {});
  check('a citation opens the document through the key (blob URL at the page)', /^blob:.*#page=\d+$/.test(popup.url()), `popup URL: ${popup.url()}`);
  await popup.close();
  check('no script errors in the key flow', problems.length === 0, problems.join('\n'));
  await page.close();
}

// RAGC_API_KEY without --private (the Space): anyone asks without a prompt; the first upload asks
// for the owner's key, then uploads and deletions go through with it.
async function ownerFlow(ctx, srv) {
  const page = await ctx.newPage();
  const problems = watchPage(page);
  page.on('dialog', (d) => d.accept()); // the delete confirmation
  await page.goto(srv.base, { waitUntil: 'load', timeout: STEP_MS });
  await page.waitForFunction(() => /Ready/.test(document.getElementById('server-status').textContent), null, { timeout: STEP_MS });
  const dlg = page.locator('#key-dialog');
  await page.locator('#documents li', { hasText: 'pdflatex-4-pages' }).waitFor({ timeout: STEP_MS });
  check('owner key: the page loads and lists documents without a prompt', !(await dlg.isVisible()), 'the key dialog opened on load');
  const hint = await page.locator('#upload-hint').textContent();
  check('owner key: the upload hint says uploads need the owner\'s key', /owner's API key/.test(hint) && await page.locator('#upload-hint').isVisible(), `hint: "${hint}"`);
  await page.fill('#question', QUESTION);
  await page.press('#question', 'Enter');
  const answer = page.locator('#answers > li').first();
  await answer.locator('.answer-text[aria-busy="false"]').waitFor({ state: 'attached', timeout: STEP_MS });
  check('owner key: a visitor\'s question is answered without a prompt',
    !(await dlg.isVisible()) && (await answer.locator('a.cite').count()) > 0, `answer: ${await answer.textContent()}`);
  await page.setInputFiles('#file-input', PDF2);
  await dlg.waitFor({ state: 'visible', timeout: STEP_MS });
  const reason = await page.locator('#key-reason').textContent();
  check('owner key: the first upload asks for the owner\'s key', /owner's API key/.test(reason), `prompt: ${reason}`);
  await page.fill('#key-input', 'owner-secret-key');
  await page.click('#key-form button[type="submit"]');
  const entry = page.locator('#documents li', { hasText: 'minimal-document' });
  await entry.waitFor({ timeout: STEP_MS }).catch(async (e) => {
    throw new Error(`${e.message}\nuploads: ${await page.locator('#uploads').textContent()}`);
  });
  ok('owner key: the upload goes through with the key');
  await entry.locator('button', { hasText: 'Delete' }).click();
  await entry.waitFor({ state: 'detached', timeout: STEP_MS });
  check('owner key: delete uses the saved key without a second prompt', !(await dlg.isVisible()), 'the key dialog opened again');
  check('no script errors in the owner-key flow', problems.length === 0, problems.join('\n'));
  await page.close();
}

// A public address without RAGC_API_KEY: questions work, uploads are turned off and say why.
async function closedFlow(ctx, srv) {
  const page = await ctx.newPage();
  const problems = watchPage(page);
  await page.goto(srv.base, { waitUntil: 'load', timeout: STEP_MS });
  await page.waitForFunction(() => /Ready/.test(document.getElementById('server-status').textContent), null, { timeout: STEP_MS });
  await page.waitForFunction(() => !document.getElementById('upload-hint').hidden, null, { timeout: STEP_MS });
  const hint = await page.locator('#upload-hint').textContent();
  check('no key on a public address: uploads are shown as turned off, naming RAGC_API_KEY',
    /turned off/.test(hint) && /RAGC_API_KEY/.test(hint) && await page.locator('#file-input').isDisabled(), `hint: "${hint}"`);
  await page.fill('#question', QUESTION);
  await page.press('#question', 'Enter');
  const answer = page.locator('#answers > li').first();
  await answer.locator('.answer-text[aria-busy="false"]').waitFor({ state: 'attached', timeout: STEP_MS });
  check('no key on a public address: a question is answered', (await answer.locator('a.cite').count()) > 0,
    `answer: ${await answer.textContent()}`);
  check('no script errors with uploads turned off', problems.length === 0, problems.join('\n'));
  await page.close();
}

// ------------------------------------------------------------------------------------ main

let ctx = null;
let srv = null;
let exitCode = 1;
const watchdog = setTimeout(() => { console.log('not ok - browser test took over 150 s'); process.exit(1); }, 150000);
try {
  srv = await startServer('main');
  ok(`ragc serve listening at ${srv.base}`);
  ctx = await launch();
  ok(`Chromium ${ctx.browser() ? ctx.browser().version() : ''} launched`.trim());
  await mainFlow(ctx, srv);
  await stopServer('main', srv);
  srv = await startServer('key', { RAGC_API_KEY: 'test-secret-key' }, [PDF], ['--host', '127.0.0.1', '--private']);
  await step('API key flow', () => keyFlow(ctx, srv));
  await stopServer('key', srv);
  srv = await startServer('owner', { RAGC_API_KEY: 'owner-secret-key' }, [PDF]);
  await step('owner key flow', () => ownerFlow(ctx, srv));
  await stopServer('owner', srv);
  srv = await startServer('closed', {}, [PDF], ['--host', '0.0.0.0']);
  await step('uploads turned off', () => closedFlow(ctx, srv));
  await stopServer('closed', srv);
  exitCode = fails === 0 && passes > 0 ? 0 : 1;
} catch (e) {
  notOk('browser test', (e && e.stack) || String(e));
} finally {
  if (ctx) await ctx.close().catch(() => {});
  if (srv && srv.proc.exitCode === null) srv.proc.kill('SIGKILL');
  clearTimeout(watchdog);
  if (!process.env.RAGC_KEEP_TMP) fs.rmSync(WORK, { recursive: true, force: true });
}
console.log(`# browser: ${passes} checks passed, ${fails} failed`);
process.exit(exitCode);
