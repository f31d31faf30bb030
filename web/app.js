// ragc web page: ask questions (streamed answers with citations), upload and manage documents.
// Plain browser JavaScript, no dependencies, no build step. Contract: the HTTP API of `ragc serve`
// (POST v1/ask, GET/POST v1/documents, DELETE v1/documents/{id}, GET v1/documents/{id}/file,
// GET readyz). Every string that comes from the server or the user is inserted with textContent
// or as an attribute value, never as HTML.
'use strict';

(() => {
  const KEY_STORAGE = 'ragc.apiKey';          // sessionStorage key of the bearer token
  const MAX_SSE_BUFFER = 16 * 1024 * 1024;     // bytes of one unfinished SSE event we accept
  const UPLOAD_CONCURRENCY = 2;                // files uploaded at the same time
  const STAGE_ORDER = ['retriever', 'embedder', 'reranker', 'generator'];

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  let uid = 0;
  const nextId = (prefix) => `${prefix}-${++uid}`;

  // ---------------------------------------------------------------- API key (sessionStorage)

  function getKey() {
    try { return sessionStorage.getItem(KEY_STORAGE) || ''; } catch (_) { return ''; }
  }
  function setKey(k) {
    try { sessionStorage.setItem(KEY_STORAGE, k); } catch (_) { /* storage disabled: key lost on reload */ }
  }
  function authHeaders(headers) {
    const h = Object.assign({}, headers || {});
    const k = getKey();
    if (k) h.Authorization = `Bearer ${k}`;
    return h;
  }

  let keyPrompt = null; // one prompt at a time, shared by every request that got a 401
  // Resolves true when the user saved a key, false when they cancelled.
  function askForKey(reason) {
    if (keyPrompt) return keyPrompt;
    const dlg = $('key-dialog');
    const input = $('key-input');
    keyPrompt = new Promise((resolve) => {
      if (typeof dlg.showModal !== 'function') { // very old browsers: no <dialog>
        const k = window.prompt(reason || 'API key');
        if (k) setKey(k.trim());
        resolve(Boolean(k && k.trim()));
        return;
      }
      const previous = document.activeElement;
      $('key-reason').textContent = reason
        ? `${reason} The key is kept for this browser tab only.`
        : 'This server needs an API key. It is kept for this browser tab only.';
      input.value = '';
      dlg.returnValue = '';
      const onClose = () => {
        dlg.removeEventListener('close', onClose);
        const k = input.value.trim();
        input.value = '';
        const saved = dlg.returnValue === 'ok' && k !== '';
        if (saved) setKey(k);
        if (previous && typeof previous.focus === 'function') previous.focus();
        resolve(saved);
      };
      dlg.addEventListener('close', onClose);
      dlg.showModal();
      input.focus();
    }).finally(() => { keyPrompt = null; });
    return keyPrompt;
  }

  // ---------------------------------------------------------------- HTTP helpers

  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code || '';
    }
  }

  // Builds an ApiError from a non-2xx response body ({"error":{"code","message"}} or anything).
  async function errorFrom(res) {
    let text = '';
    try { text = await res.text(); } catch (_) { /* body unreadable */ }
    return errorFromText(res.status, res.statusText, text);
  }
  function errorFromText(status, statusText, text) {
    let msg = '';
    let code = '';
    try {
      const j = JSON.parse(text);
      if (j && j.error) {
        msg = typeof j.error === 'string' ? j.error : (j.error.message || '');
        code = (j.error && j.error.code) || '';
      }
    } catch (_) { /* not JSON */ }
    if (!msg) msg = text && text.length < 300 ? text.trim() : '';
    if (!msg) msg = statusText || 'request failed';
    return new ApiError(`${msg} (HTTP ${status})`, status, code);
  }

  // Why the key prompt opens: writes (uploads, deletions) need the owner's key even where anyone
  // may read (the server's access rules: readyz "access", docs/security.md).
  const OWNER_KEY_REASON = 'Uploading and deleting documents needs the owner\'s API key.';
  const KEY_REASON = 'This server needs an API key.';

  // fetch() with the API key; on 401 asks for a key and retries (at most twice).
  async function apiFetch(path, init) {
    for (let attempt = 0; ; attempt++) {
      const opts = Object.assign({}, init || {});
      opts.headers = authHeaders(opts.headers);
      const res = await fetch(path, opts);
      if (res.status !== 401 || attempt >= 2) return res;
      const err = await errorFrom(res);
      const write = /^(POST|DELETE)$/i.test(opts.method || '') && /^v1\/documents/.test(path);
      const saved = await askForKey(getKey() ? `The API key was refused: ${err.message}.` : (write ? OWNER_KEY_REASON : KEY_REASON));
      if (!saved) return new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'no API key given' } }),
        { status: 401, statusText: 'Unauthorized', headers: { 'Content-Type': 'application/json' } });
    }
  }

  async function apiJson(path, init) {
    const res = await apiFetch(path, init);
    if (!res.ok) throw await errorFrom(res);
    if (res.status === 204) return null;
    const text = await res.text();
    if (!text) return null;
    try { return JSON.parse(text); } catch (_) {
      throw new ApiError(`the server sent a response that is not JSON for ${path}`, res.status, 'bad_response');
    }
  }

  // ---------------------------------------------------------------- documents and files

  function baseName(p) {
    const s = String(p || '');
    const i = Math.max(s.lastIndexOf('/'), s.lastIndexOf('\\'));
    return i >= 0 ? s.slice(i + 1) : s;
  }
  // The name a person gave the file: the server stores uploads as
  // <data_dir>/uploads/<16 hex digits of XXH3>-<original name>; that prefix is not shown.
  function fileName(source) {
    const s = String(source || '');
    const b = baseName(s);
    const m = /^[0-9a-f]{16}-(.+)$/.exec(b);
    return m && /(^|[/\\])uploads[/\\][^/\\]+$/.test(s) ? m[1] : b;
  }
  function docName(title, source) {
    const t = typeof title === 'string' ? title.trim() : '';
    return t || fileName(source) || 'untitled';
  }
  function isPageNumber(p) { return Number.isInteger(p) && p > 0; }
  function fileUrl(docId, page) {
    const base = `v1/documents/${encodeURIComponent(String(docId))}/file`;
    return isPageNumber(page) ? `${base}#page=${page}` : base;
  }
  function pageLabel(page, pageEnd) {
    if (!isPageNumber(page)) return '';
    if (isPageNumber(pageEnd) && pageEnd > page) return `pages ${page}–${pageEnd}`;
    return `page ${page}`;
  }

  // A link that opens a document (at a page) in a new tab. With an API key the tab cannot send
  // the Authorization header, so the file is fetched here and opened as a blob URL instead.
  function fileLink(docId, page, text, cls) {
    const a = el('a', cls, text);
    a.href = fileUrl(docId, page);
    a.target = '_blank';
    a.rel = 'noopener';
    a.addEventListener('click', (ev) => {
      if (!getKey() || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
      ev.preventDefault();
      const w = window.open('about:blank', '_blank');
      if (w) w.opener = null;
      apiFetch(fileUrl(docId, null))
        .then(async (res) => {
          if (!res.ok) throw await errorFrom(res);
          const url = URL.createObjectURL(await res.blob());
          const target = isPageNumber(page) ? `${url}#page=${page}` : url;
          if (w) w.location.href = target; else window.location.href = target;
          setTimeout(() => URL.revokeObjectURL(url), 60000);
        })
        .catch((e) => {
          if (w) w.close();
          showError($('ask-error'), `Could not open the document: ${e.message}`);
        });
    });
    return a;
  }

  function showError(node, message) {
    node.textContent = message;
    node.hidden = !message;
  }

  // ---------------------------------------------------------------- SSE parsing

  // Incremental text/event-stream parser (WHATWG rules: "event:", "data:" lines, blank line ends
  // an event, ":" lines are comments). onEvent(name, data) gets each complete event.
  class SseParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buf = '';
      this.event = '';
      this.data = [];
    }
    push(chunk) {
      this.buf += chunk;
      let start = 0;
      for (;;) {
        const m = /\r\n|\r|\n/g;
        m.lastIndex = start;
        const hit = m.exec(this.buf);
        if (!hit) break;
        // A lone '\r' at the end may be the first half of "\r\n": wait for more bytes.
        if (hit[0] === '\r' && hit.index === this.buf.length - 1) break;
        this.line(this.buf.slice(start, hit.index));
        start = hit.index + hit[0].length;
      }
      this.buf = this.buf.slice(start);
      if (this.buf.length > MAX_SSE_BUFFER) throw new Error('the answer stream sent a line longer than 16 MiB');
    }
    line(s) {
      if (s === '') {
        if (this.data.length || this.event) this.onEvent(this.event || 'message', this.data.join('\n'));
        this.event = '';
        this.data = [];
        return;
      }
      if (s[0] === ':') return;
      const colon = s.indexOf(':');
      const field = colon < 0 ? s : s.slice(0, colon);
      let value = colon < 0 ? '' : s.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    end() { this.push('\n\n'); }
  }

  // Reads the SSE answer stream; calls onToken(text) per token event and onToken(null) on a
  // "reset" event (the tokens so far are void). Resolves with the final
  // JSON of the "done" event; rejects with ApiError on an "error" event and with a plain Error
  // (stream cut) when the stream ends without "done".
  async function readAnswerStream(res, onToken) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder('utf-8');
    let final = null;
    let failure = null;
    const parser = new SseParser((name, data) => {
      if (final || failure) return;
      let obj = null;
      try { obj = JSON.parse(data); } catch (_) { obj = null; }
      if (name === 'token') {
        if (obj && typeof obj.text === 'string') onToken(obj.text);
      } else if (name === 'reset') {
        onToken(null); // the text so far is void: a generator failed and the next one starts over
      } else if (name === 'done') {
        if (!obj || typeof obj !== 'object') failure = new ApiError('the answer stream ended with a malformed result', res.status, 'bad_response');
        else final = obj;
      } else if (name === 'error') {
        const e = (obj && obj.error) || {};
        failure = new ApiError(e.message || 'the server failed to answer', res.status, e.code || 'error');
      }
    });
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
        if (final || failure) break;
      }
      if (!final && !failure) {
        parser.push(decoder.decode());
        parser.end();
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    if (failure) throw failure;
    if (!final) throw new Error('the answer stream ended early');
    return final;
  }

  // ---------------------------------------------------------------- answers

  function newAnswerItem(question) {
    const node = $('answer-template').content.firstElementChild.cloneNode(true);
    node.querySelector('.answer-question').textContent = question;
    const list = $('answers');
    list.insertBefore(node, list.firstChild);
    return {
      root: node,
      text: node.querySelector('.answer-text'),
      status: node.querySelector('.answer-status'),
      sourcesBox: node.querySelector('.answer-sources'),
      sources: node.querySelector('.sources'),
      report: node.querySelector('.report'),
      streamed: null, // Text node that receives streamed tokens
    };
  }

  function appendToken(item, text) {
    if (text === null) { // reset
      if (item.streamed) item.streamed.data = '';
      return;
    }
    if (!item.streamed) {
      item.text.textContent = '';
      item.streamed = document.createTextNode('');
      item.text.appendChild(item.streamed);
      item.status.textContent = 'Answering…';
    }
    item.streamed.appendData(text);
    item.root.dataset.tokens = String(Number(item.root.dataset.tokens || 0) + 1);
  }

  // Places a tooltip inside the viewport (it is absolutely positioned under its citation).
  function placeTip(wrap, tip) {
    tip.style.left = '0px';
    const r = tip.getBoundingClientRect();
    const vw = document.documentElement.clientWidth;
    let shift = 0;
    if (r.right > vw - 8) shift = vw - 8 - r.right;
    if (r.left + shift < 8) shift = 8 - r.left;
    tip.style.left = `${shift}px`;
  }

  // A citation "[n]": link to the source at its page, snippet shown on hover and focus.
  function citation(n, src) {
    if (!src) return el('span', 'cite-missing', `[${n}]`);
    const wrap = el('span', 'cite-wrap');
    const name = docName(src.title, src.document);
    const pl = pageLabel(src.page, src.page_end);
    const a = fileLink(src.doc_id, src.page, `[${n}]`, 'cite');
    a.setAttribute('aria-label', `Source ${n}: ${name}${pl ? `, ${pl}` : ''}`);
    const tip = el('span', 'cite-tip');
    tip.id = nextId('tip');
    tip.setAttribute('role', 'tooltip');
    tip.appendChild(el('strong', null, `${name}${pl ? ` — ${pl}` : ''}`));
    if (src.snippet) tip.appendChild(el('span', 'cite-snippet', src.snippet));
    a.setAttribute('aria-describedby', tip.id);
    const show = () => { wrap.classList.add('tip-open'); placeTip(wrap, tip); };
    const hide = () => wrap.classList.remove('tip-open');
    a.addEventListener('mouseenter', show);
    a.addEventListener('focus', show);
    wrap.addEventListener('mouseleave', () => { if (document.activeElement !== a) hide(); });
    a.addEventListener('blur', hide);
    a.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') hide(); });
    wrap.append(a, tip);
    return wrap;
  }

  const CITE_RE = /\[(\d{1,4}(?:\s*,\s*\d{1,4})*)\]/g;

  // Renders answer text, turning "[n]" and "[n, m]" into citation links to the sources.
  function renderAnswerText(container, answer, byN) {
    container.textContent = '';
    const text = String(answer || '');
    let last = 0;
    let m;
    CITE_RE.lastIndex = 0;
    while ((m = CITE_RE.exec(text)) !== null) {
      if (m.index > last) container.appendChild(document.createTextNode(text.slice(last, m.index)));
      const nums = m[1].split(',').map((s) => parseInt(s.trim(), 10));
      nums.forEach((n, i) => {
        if (i > 0) container.appendChild(document.createTextNode(' '));
        container.appendChild(citation(n, byN.get(n)));
      });
      last = m.index + m[0].length;
    }
    if (last < text.length) container.appendChild(document.createTextNode(text.slice(last)));
  }

  function fmtMs(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
    if (ms < 10) return `${ms.toFixed(2)} ms`;
    if (ms < 10000) return `${Math.round(ms)} ms`;
    return `${(ms / 1000).toFixed(1)} s`;
  }
  function fmtCost(usd) {
    if (typeof usd !== 'number' || !Number.isFinite(usd)) return '—';
    return usd === 0 ? '$0' : `$${usd < 0.01 ? usd.toFixed(6) : usd.toFixed(4)}`;
  }

  function renderReport(item, report) {
    if (!report || typeof report !== 'object') return;
    const tbody = item.report.querySelector('tbody');
    tbody.textContent = '';
    const stages = (report.stages && typeof report.stages === 'object') ? report.stages : {};
    const names = STAGE_ORDER.filter((s) => s in stages)
      .concat(Object.keys(stages).filter((s) => !STAGE_ORDER.includes(s)));
    for (const name of names) {
      const st = stages[name] || {};
      const tr = el('tr');
      tr.appendChild(el('th', null, name)).setAttribute('scope', 'row');
      const backend = el('td', 'backend', st.backend || '—');
      const extra = [st.model, st.note, st.fallback ? `fell back: ${st.fallback}` : '']
        .filter((x) => typeof x === 'string' && x);
      if (extra.length) backend.appendChild(el('span', 'note', ` (${extra.join('; ')})`));
      tr.appendChild(backend);
      tr.appendChild(el('td', 'num', fmtMs(st.ms)));
      tbody.appendChild(tr);
    }
    item.report.querySelector('.report-totals').textContent =
      `Total ${fmtMs(report.total_ms)} · cost ${fmtCost(report.cost_usd)}`;
    const gen = stages.generator && stages.generator.backend;
    item.report.querySelector('summary').textContent =
      `Report: ${gen || 'answer'} in ${fmtMs(report.total_ms)}`;
    item.report.hidden = false;
  }

  function renderSources(item, sources) {
    item.sources.textContent = '';
    for (const src of sources) {
      const li = el('li', 'source');
      if (Number.isInteger(src.n) && src.n > 0) li.value = src.n;
      const name = docName(src.title, src.document);
      const head = el('div', 'source-head');
      head.appendChild(fileLink(src.doc_id, src.page, name, 'source-link'));
      const pl = pageLabel(src.page, src.page_end);
      if (pl) head.appendChild(el('span', 'source-page', pl));
      li.appendChild(head);
      if (src.snippet) li.appendChild(el('p', 'source-snippet', src.snippet));
      item.sources.appendChild(li);
    }
    item.sourcesBox.hidden = sources.length === 0;
  }

  function renderFinal(item, result) {
    const sources = Array.isArray(result.sources) ? result.sources : [];
    const byN = new Map();
    sources.forEach((s, i) => byN.set(Number.isInteger(s.n) ? s.n : i + 1, s));
    item.streamed = null;
    renderAnswerText(item.text, result.answer, byN);
    if (result.found === false) {
      item.status.textContent = 'No passage in the documents answers this question.';
      item.root.classList.add('not-found');
      if (!result.answer) item.text.textContent = 'Nothing found.';
    } else {
      item.status.textContent = '';
    }
    renderSources(item, sources);
    renderReport(item, result.report);
    item.text.setAttribute('aria-busy', 'false');
  }

  function failAnswer(item, err) {
    item.text.setAttribute('aria-busy', 'false');
    item.root.classList.add('failed');
    item.status.textContent = '';
    const p = el('p', 'error', `Could not answer: ${err.message}`);
    p.setAttribute('role', 'alert');
    item.text.after(p);
  }

  async function askNonStream(question, k) {
    return apiJson('v1/ask', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ question, k, stream: false }),
    });
  }

  let asking = false;
  async function ask(question, k) {
    asking = true;
    $('ask-button').disabled = true;
    showError($('ask-error'), '');
    const item = newAnswerItem(question);
    item.status.textContent = 'Searching the documents…';
    try {
      let result = null;
      const canStream = typeof ReadableStream !== 'undefined' && typeof TextDecoder !== 'undefined';
      if (canStream) {
        const res = await apiFetch('v1/ask', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
          body: JSON.stringify({ question, k, stream: true }),
        });
        if (!res.ok) throw await errorFrom(res);
        const ct = (res.headers.get('Content-Type') || '').toLowerCase();
        if (ct.includes('text/event-stream') && res.body) {
          try {
            result = await readAnswerStream(res, (t) => appendToken(item, t));
          } catch (e) {
            if (e instanceof ApiError) throw e;
            // The stream broke (proxy buffering, connection cut): ask again without streaming.
            item.status.textContent = 'Stream interrupted; fetching the whole answer…';
            result = await askNonStream(question, k);
          }
        } else if (ct.includes('application/json')) {
          result = await res.json(); // the server answered without streaming
        }
      }
      if (!result) result = await askNonStream(question, k);
      if (!result || typeof result !== 'object') throw new Error('the server sent an empty answer');
      renderFinal(item, result);
    } catch (e) {
      failAnswer(item, e);
    } finally {
      asking = false;
      $('ask-button').disabled = false;
    }
  }

  // ---------------------------------------------------------------- uploads

  function uploadRow(file) {
    const li = el('li', 'upload');
    const name = el('span', 'upload-name', file.name);
    const progress = el('progress');
    progress.max = 1;
    progress.value = 0;
    const label = `Upload of ${file.name}`;
    progress.setAttribute('aria-label', label);
    const status = el('span', 'upload-status', 'Waiting…');
    li.append(name, progress, status);
    $('uploads').appendChild(li);
    return { li, progress, status };
  }

  function describeUpload(body) {
    const parts = [];
    const docs = Array.isArray(body && body.documents) ? body.documents : [];
    const skipped = Array.isArray(body && body.skipped) ? body.skipped : [];
    for (const d of docs) parts.push(`${d.outcome || 'added'}`);
    for (const s of skipped) parts.push(`skipped: ${s.reason || 'no reason given'}`);
    return { text: parts.join('; ') || 'done', ok: docs.length > 0 || skipped.length === 0 };
  }

  // Uploads one file as multipart field "file" with XMLHttpRequest (for upload progress).
  function uploadOne(file, row, attempt) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', 'v1/documents');
      const k = getKey();
      if (k) xhr.setRequestHeader('Authorization', `Bearer ${k}`);
      row.status.textContent = 'Uploading…';
      row.li.className = 'upload';
      xhr.upload.addEventListener('progress', (ev) => {
        if (ev.lengthComputable && ev.total > 0) row.progress.value = ev.loaded / ev.total;
      });
      xhr.upload.addEventListener('load', () => {
        row.progress.value = 1;
        row.status.textContent = 'Processing…';
      });
      xhr.addEventListener('load', async () => {
        const status = xhr.status;
        if (status === 401 && (attempt || 0) < 2) {
          const e = errorFromText(status, xhr.statusText, xhr.responseText);
          const saved = await askForKey(getKey() ? `The API key was refused: ${e.message}.` : OWNER_KEY_REASON);
          if (saved) { resolve(uploadOne(file, row, (attempt || 0) + 1)); return; }
        }
        row.progress.value = 1;
        if (status >= 200 && status < 300) {
          let body = null;
          try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
          const d = describeUpload(body);
          row.status.textContent = d.text;
          row.li.classList.add(d.ok ? 'done' : 'skipped');
        } else {
          row.status.textContent = errorFromText(status, xhr.statusText, xhr.responseText).message;
          row.li.classList.add('failed');
        }
        resolve();
      });
      xhr.addEventListener('error', () => {
        row.status.textContent = 'network error: the upload did not reach the server';
        row.li.classList.add('failed');
        resolve();
      });
      xhr.addEventListener('abort', () => {
        row.status.textContent = 'cancelled';
        row.li.classList.add('failed');
        resolve();
      });
      const form = new FormData();
      form.append('file', file, file.name);
      xhr.send(form);
    });
  }

  async function uploadFiles(files) {
    const queue = Array.from(files).map((f) => ({ file: f, row: uploadRow(f) }));
    const worker = async () => {
      for (;;) {
        const job = queue.shift();
        if (!job) return;
        await uploadOne(job.file, job.row, 0);
        await refreshDocuments();
      }
    };
    const n = Math.min(UPLOAD_CONCURRENCY, queue.length);
    await Promise.all(Array.from({ length: n }, worker));
  }

  // ---------------------------------------------------------------- documents list

  function fmtDate(v) {
    if (v === undefined || v === null || v === '') return '';
    const d = typeof v === 'number' ? new Date(v < 1e12 ? v * 1000 : v) : new Date(String(v));
    return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
  }

  // At most one list request in flight; a refresh asked for meanwhile runs once after it (so a
  // just-finished upload is never answered with a list fetched before it).
  let refreshing = null;
  let refreshQueued = null;
  function refreshDocuments() {
    if (refreshQueued) return refreshQueued;
    if (refreshing) {
      refreshQueued = refreshing.then(() => { refreshQueued = null; return refreshDocuments(); });
      return refreshQueued;
    }
    refreshing = (async () => {
      try {
        const body = await apiJson('v1/documents');
        renderDocuments(Array.isArray(body && body.documents) ? body.documents : []);
        showError($('docs-error'), '');
      } catch (e) {
        showError($('docs-error'), `Could not list the documents: ${e.message}`);
      }
    })().finally(() => { refreshing = null; });
    return refreshing;
  }

  function renderDocuments(docs) {
    const list = $('documents');
    list.textContent = '';
    $('docs-empty').hidden = docs.length > 0;
    for (const d of docs) {
      const li = el('li', 'document');
      li.dataset.id = String(d.id);
      const name = docName(d.title, d.source);
      const info = el('div', 'doc-info');
      info.appendChild(fileLink(d.id, null, name, 'doc-link'));
      const meta = [];
      if (d.format) meta.push(String(d.format).toUpperCase());
      if (Number.isInteger(d.pages)) meta.push(`${d.pages} page${d.pages === 1 ? '' : 's'}`);
      if (Number.isInteger(d.chunks)) meta.push(`${d.chunks} chunk${d.chunks === 1 ? '' : 's'}`);
      const when = fmtDate(d.ingested_at);
      if (when) meta.push(`added ${when}`);
      info.appendChild(el('span', 'doc-meta', meta.join(' · ')));
      if (d.title && fileName(d.source) && fileName(d.source) !== name) {
        info.appendChild(el('span', 'doc-file', fileName(d.source)));
      }
      const del = el('button', 'danger', 'Delete');
      del.type = 'button';
      del.setAttribute('aria-label', `Delete ${name}`);
      del.addEventListener('click', () => deleteDocument(d.id, name, li));
      li.append(info, del);
      list.appendChild(li);
    }
    updateStatus(docs.length);
  }

  async function deleteDocument(id, name, li) {
    if (!window.confirm(`Delete "${name}" from the index? Its passages will no longer be used for answers.`)) return;
    const btn = li.querySelector('button');
    btn.disabled = true;
    try {
      await apiJson(`v1/documents/${encodeURIComponent(String(id))}`, { method: 'DELETE' });
      const next = li.nextElementSibling || li.previousElementSibling;
      await refreshDocuments();
      const again = next && $('documents').querySelector(`li[data-id="${CSS.escape(next.dataset.id)}"] button`);
      (again || $('refresh-docs')).focus();
    } catch (e) {
      btn.disabled = false;
      showError($('docs-error'), `Could not delete ${name}: ${e.message}`);
    }
  }

  // ---------------------------------------------------------------- status

  let ready = null;
  function updateStatus(nDocs) {
    const s = $('server-status');
    if (ready === false) { s.textContent = 'Server not ready'; s.className = 'server-status bad'; return; }
    if (ready === null) return;
    s.className = 'server-status good';
    s.textContent = typeof nDocs === 'number' ? `Ready · ${nDocs} document${nDocs === 1 ? '' : 's'}` : 'Ready';
  }
  // What /readyz says about writes: "open", "key" (the owner's key; the page asks for it on the
  // first upload) or "disabled" (no key configured on a public address: uploads are refused).
  function showAccess(access) {
    const hint = $('upload-hint');
    const writes = access && typeof access.writes === 'string' ? access.writes : 'open';
    const disabled = writes === 'disabled';
    $('file-input').disabled = disabled;
    $('upload-button').disabled = disabled;
    if (disabled) {
      hint.textContent = 'Uploads are turned off on this server. Its owner enables them by setting RAGC_API_KEY '
        + '(on a Hugging Face Space: a secret in the Space settings).';
    } else if (writes === 'key') {
      hint.textContent = getKey() ? 'Uploads and deletions use the API key saved in this tab.'
        : 'Uploading and deleting documents needs the owner\'s API key: you will be asked for it.';
    }
    hint.hidden = !(disabled || writes === 'key');
  }

  async function checkReady() {
    try {
      const res = await fetch('readyz', { headers: authHeaders() });
      ready = res.ok || res.status === 401; // 401: up, but needs the API key
      if (res.ok) {
        const body = await res.json().catch(() => null);
        showAccess(body && body.access);
      }
    } catch (_) {
      ready = false;
    }
    updateStatus($('documents').children.length);
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    const q = $('question');
    $('ask-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const question = q.value.trim();
      if (!question) {
        showError($('ask-error'), 'Type a question first.');
        q.focus();
        return;
      }
      if (asking) return;
      let k = parseInt($('k').value, 10);
      if (!Number.isInteger(k) || k < 1) k = 5;
      if (k > 20) k = 20;
      ask(question, k);
    });
    q.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        $('ask-form').requestSubmit ? $('ask-form').requestSubmit() : $('ask-button').click();
      }
    });
    $('upload-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = $('file-input');
      if (!input.files || input.files.length === 0) {
        showError($('docs-error'), 'Choose one or more files to upload first.');
        input.focus();
        return;
      }
      showError($('docs-error'), '');
      const files = Array.from(input.files);
      input.value = '';
      uploadFiles(files);
    });
    // Choosing files starts the upload at once; the button is there for keyboard users too.
    $('file-input').addEventListener('change', () => {
      if ($('file-input').files.length) $('upload-form').requestSubmit
        ? $('upload-form').requestSubmit() : $('upload-button').click();
    });
    $('refresh-docs').addEventListener('click', () => refreshDocuments());
    $('key-cancel').addEventListener('click', () => $('key-dialog').close('cancel'));
    document.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape') return;
      document.querySelectorAll('.cite-wrap.tip-open').forEach((w) => w.classList.remove('tip-open'));
    });
    checkReady();
    refreshDocuments();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
