// edge-oauth token tool: get a token with the npm package, inspect it, try it on an API.
//
// Rules this file keeps:
//   - the client secret lives only in its <input> and in this module's memory: it is never
//     written to localStorage/sessionStorage/cookies, and never into the page's text;
//   - the full access token is never written into the page's text either (only a shortened
//     form); "copy" hands it to the clipboard straight from memory;
//   - everything shown that came from outside (errors, API responses) goes through redact().
import { TokenClient, TokenError } from 'edge-oauth';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------
// Remembered (non-secret) fields

const STORAGE_KEY = 'edge-oauth-www:fields';
// Never add 'clientSecret' here.
const REMEMBERED = [
  'endpointKind', 'tokenUrl', 'issuer', 'kcBaseUrl', 'kcRealm', 'clientId', 'authMethod',
  'scope', 'headerName', 'allowInsecureHttp', 'apiUrl', 'apiMethod',
];

function restoreFields() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
  } catch {
    saved = null;
  }
  if (!saved || typeof saved !== 'object') return;
  for (const id of REMEMBERED) {
    const el = $(id);
    if (!(id in saved) || !el) continue;
    if (el.type === 'checkbox') el.checked = saved[id] === true;
    else if (typeof saved[id] === 'string') el.value = saved[id];
  }
}

function saveFields() {
  const fields = {};
  for (const id of REMEMBERED) {
    const el = $(id);
    fields[id] = el.type === 'checkbox' ? el.checked : el.value;
  }
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(fields));
  } catch {
    // Storage disabled or full: remembering is only a convenience.
  }
}

// ---------------------------------------------------------------------------------------
// Formatting helpers

/** First 12 … last 6 characters; short values reveal even less. */
function shorten(value) {
  const s = String(value);
  if (s.length > 24) return `${s.slice(0, 12)}…${s.slice(-6)}`;
  return `${s.slice(0, 3)}… (${s.length} chars)`;
}

/** `Bearer eyJ…` with the credential part shortened. */
function shortenHeaderValue(value) {
  const space = value.indexOf(' ');
  return space === -1 ? shorten(value) : `${value.slice(0, space)} ${shorten(value.slice(space + 1))}`;
}

/** Masks the current token and the typed secret wherever they occur in `text`. */
function redact(text, { token = state.info?.accessToken, secret = $('clientSecret').value } = {}) {
  let out = String(text);
  if (token && token.length >= 8) out = out.split(token).join(shorten(token));
  if (secret && secret.length >= 3) out = out.split(secret).join('[client secret]');
  return out;
}

function formatDuration(ms) {
  const total = Math.round(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

function formatTime(ms) {
  const date = new Date(ms);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}

function base64UrlDecode(part) {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new Error('not base64url');
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** `{ header, payload }` of a JWS compact token, decoded (NOT verified), or null. */
function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(base64UrlDecode(parts[0]));
    const payload = JSON.parse(base64UrlDecode(parts[1]));
    const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
    return isObject(header) && isObject(payload) ? { header, payload } : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// State

const state = {
  /** The TokenClient for the options in `clientKey` (a string kept in memory only). */
  client: null,
  clientKey: null,
  /** The last TokenInfo shown (memory only). */
  info: null,
  /** Bumped after every finished action; tests wait on it. */
  done: 0,
  busy: false,
};

const val = (id) => $(id).value.trim();

/** TokenClientOptions from the form. */
function readOptions() {
  const options = {};
  switch ($('endpointKind').value) {
    case 'issuer':
      options.issuer = val('issuer');
      break;
    case 'keycloak':
      options.keycloak = { baseUrl: val('kcBaseUrl'), realm: val('kcRealm') };
      break;
    default:
      options.tokenUrl = val('tokenUrl');
  }
  options.clientId = val('clientId');
  const secret = $('clientSecret').value; // as typed: secrets may have meaningful spaces
  if (secret !== '') options.clientSecret = secret;
  options.authMethod = $('authMethod').value;
  if (val('scope')) options.scope = val('scope');
  if (val('headerName')) options.headerName = val('headerName');
  if ($('allowInsecureHttp').checked) options.allowInsecureHttp = true;
  return options;
}

/** The client for the current form, reused while the options stay the same. */
function ensureClient() {
  const options = readOptions();
  const key = JSON.stringify(options);
  if (state.client && key === state.clientKey) return { client: state.client, created: false };
  state.client = null;
  state.clientKey = null;
  showToken(null);
  const client = new TokenClient(options); // throws TokenError 'config' on bad options
  state.client = client;
  state.clientKey = key;
  return { client, created: true };
}

// ---------------------------------------------------------------------------------------
// Rendering

function setStatus(text) {
  $('status').textContent = redact(text);
}

function showError(panelId, err) {
  const panel = $(panelId);
  if (!err) {
    panel.hidden = true;
    return;
  }
  const field = (name) => panel.querySelector(`[data-err="${name}"]`);
  const text = (v) => (v === undefined || v === null || v === '' ? '—' : redact(v));
  panel.querySelector('h3').textContent = err instanceof TokenError ? 'TokenError' : (err?.name || 'Error');
  field('code').textContent = text(err?.code ?? err?.name);
  field('status').textContent = text(err?.status);
  field('description').textContent = text(err?.description);
  field('message').textContent = text(err?.message ?? err);
  panel.hidden = false;
}

function showStats() {
  const stats = state.client?.stats() ?? { tokenRequests: 0, cacheHits: 0, refreshes: 0, failures: 0 };
  for (const name of ['tokenRequests', 'cacheHits', 'refreshes', 'failures']) {
    $(`stat-${name}`).textContent = String(stats[name]);
  }
}

function tick() {
  const countdown = $('countdown');
  if (!state.info) {
    countdown.hidden = true;
    return;
  }
  const left = state.info.expiresAt - Date.now();
  countdown.hidden = false;
  countdown.classList.toggle('expired', left <= 0);
  countdown.classList.toggle('soon', left > 0 && left < 60_000);
  countdown.textContent = left > 0 ? `in ${formatDuration(left)}` : `expired ${formatDuration(left)} ago`;
}

function showToken(info, header) {
  state.info = info;
  $('copyStatus').textContent = '';
  $('copy').disabled = !info;
  $('tokenType').textContent = info ? info.tokenType : '—';
  $('tokenShort').textContent = info ? shorten(info.accessToken) : '—';
  $('expiresAt').textContent = info ? formatTime(info.expiresAt) : '—';
  $('expiresAt').title = info ? new Date(info.expiresAt).toISOString() : '';
  $('scopeOut').textContent = info ? (info.scope ?? '(not sent by the server)') : '—';
  $('authHeader').textContent = header
    ? `[${JSON.stringify(header[0])}, ${JSON.stringify(shortenHeaderValue(header[1]))}]`
    : '—';

  const jwt = info ? decodeJwt(info.accessToken) : null;
  $('jwt').hidden = !jwt;
  $('notJwt').hidden = !info || Boolean(jwt);
  $('jwtHeader').textContent = jwt ? redact(JSON.stringify(jwt.header, null, 2)) : '';
  $('jwtPayload').textContent = jwt ? redact(JSON.stringify(jwt.payload, null, 2)) : '';
  $('jwtTimes').textContent = jwt
    ? ['iat', 'nbf', 'exp']
      .filter((claim) => Number.isFinite(jwt.payload[claim]))
      .map((claim) => `${claim} = ${formatTime(jwt.payload[claim] * 1000)}`)
      .join(' · ')
    : '';
  tick();
}

function setBusy(busy) {
  state.busy = busy;
  document.documentElement.dataset.busy = String(busy);
  $('getToken').disabled = busy;
  $('send').disabled = busy;
  $('forceRefresh').disabled = busy || !state.client;
  $('invalidate').disabled = busy || !state.client;
}

/** Runs one user action: busy state, error panel, stats, and the "done" counter. */
async function run(errorPanel, noteId, action) {
  if (state.busy) return;
  setBusy(true);
  showError(errorPanel, null);
  try {
    await action();
  } catch (err) {
    showError(errorPanel, err);
    $(noteId).textContent = redact(`Failed: ${err?.code ?? err?.name ?? 'error'}`);
  } finally {
    showStats();
    setBusy(false);
    state.done += 1;
    $('status').dataset.done = String(state.done);
  }
}

// ---------------------------------------------------------------------------------------
// Actions

function getToken({ forceRefresh = false } = {}) {
  return run('error', 'status', async () => {
    const { client, created } = ensureClient();
    const before = client.stats().tokenRequests;
    try {
      const info = await client.getTokenInfo(forceRefresh ? { forceRefresh: true } : undefined);
      const header = await client.authorizationHeader();
      showToken(info, header);
    } catch (err) {
      showToken(null);
      throw err;
    }
    const sent = client.stats().tokenRequests - before;
    const how = sent === 0
      ? 'answered from the cache (no request)'
      : `fetched from the token endpoint (${sent} request${sent === 1 ? '' : 's'})`;
    setStatus(`${created ? 'New client: token ' : 'Token '}${how}${forceRefresh ? ', forced' : ''}.`);
  });
}

function invalidate() {
  return run('error', 'status', async () => {
    state.client?.invalidate();
    showToken(null);
    setStatus('Cached token dropped: the next Get token asks the token endpoint.');
  });
}

async function copyToken() {
  const token = state.info?.accessToken;
  if (!token) return;
  const note = $('copyStatus');
  if (!navigator.clipboard?.writeText) {
    note.textContent = 'clipboard unavailable (needs https or localhost)';
    return;
  }
  try {
    await navigator.clipboard.writeText(token);
    note.textContent = 'copied';
  } catch (err) {
    note.textContent = `copy failed: ${err?.name ?? 'error'}`;
  }
}

const RESPONSE_PREVIEW_BYTES = 2048;

/** The first `limit` bytes of a body as text, and whether there was more. */
async function readPrefix(response, limit) {
  if (!response.body) return { text: '', truncated: false };
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  let finished = false;
  while (size <= limit) {
    const { done, value } = await reader.read();
    if (done) {
      finished = true;
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  if (!finished) reader.cancel().catch(() => {});
  const bytes = new Uint8Array(Math.min(size, limit));
  let offset = 0;
  for (const chunk of chunks) {
    const take = Math.min(chunk.byteLength, bytes.length - offset);
    bytes.set(chunk.subarray(0, take), offset);
    offset += take;
    if (offset === bytes.length) break;
  }
  // stream: true holds back a multi-byte character cut at the limit.
  const text = new TextDecoder().decode(bytes, { stream: true });
  return { text, truncated: size > limit };
}

function send() {
  return run('tryError', 'tryNote', async () => {
    $('tryResult').hidden = true;
    const url = val('apiUrl');
    const method = $('apiMethod').value;
    if (!url) throw new TypeError('Enter the API URL to call.');
    const { client } = ensureClient();
    const before = client.stats().tokenRequests;
    const [name, value] = await client.authorizationHeader();
    const token = value.slice(value.indexOf(' ') + 1);
    const fetched = client.stats().tokenRequests > before;

    // redirect: 'manual' so the credential is never replayed to wherever a redirect points.
    const response = await fetch(url, {
      method,
      headers: { [name]: value },
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'manual',
      referrerPolicy: 'no-referrer',
    });

    let statusText;
    let body = '';
    if (response.type === 'opaqueredirect') {
      statusText = 'redirect (not followed, so the token is not sent on)';
    } else {
      statusText = `${response.status} ${response.statusText}`.trim();
      const { text, truncated } = method === 'HEAD' ? { text: '', truncated: false } : await readPrefix(response, RESPONSE_PREVIEW_BYTES);
      body = text;
      if (!truncated && /\bjson\b/i.test(response.headers.get('content-type') ?? '')) {
        try {
          body = JSON.stringify(JSON.parse(text), null, 2);
        } catch {
          // Not valid JSON after all: show it as it came.
        }
      }
      if (truncated) body += '\n… (truncated at 2 KB)';
    }
    $('tryStatus').textContent = statusText;
    $('tryStatus').className = response.ok ? 'ok' : 'bad';
    $('tryBody').textContent = redact(body || '(empty body)', { token });
    $('tryResult').hidden = false;

    const hints = [`${method} sent with the ${name} header`];
    if (fetched) hints.push('a new token was fetched for it');
    if (response.status === 401) hints.push('401: Invalidate drops the cached token so the next call gets a fresh one');
    $('tryNote').textContent = redact(`${hints.join('; ')}.`, { token });
    if (fetched) setStatus('Try it fetched a new token: press Get token to inspect it.');
  });
}

// ---------------------------------------------------------------------------------------
// Wiring

function showEndpointGroup() {
  const kind = $('endpointKind').value;
  for (const group of document.querySelectorAll('fieldset.group')) {
    const on = group.dataset.kind === kind;
    group.hidden = !on;
    group.disabled = !on;
  }
}

restoreFields();
showEndpointGroup();
$('endpointKind').addEventListener('change', showEndpointGroup);
for (const form of [$('config'), $('tryForm')]) {
  form.addEventListener('input', saveFields);
  form.addEventListener('change', saveFields);
}
$('config').addEventListener('submit', (event) => {
  event.preventDefault();
  getToken();
});
$('forceRefresh').addEventListener('click', () => getToken({ forceRefresh: true }));
$('invalidate').addEventListener('click', invalidate);
$('copy').addEventListener('click', copyToken);
$('tryForm').addEventListener('submit', (event) => {
  event.preventDefault();
  send();
});
setInterval(() => {
  tick();
  if (state.client && !state.busy) showStats();
}, 1000);

showStats();
setBusy(false);
setStatus('Ready. Fill in the client and press Get token.');
