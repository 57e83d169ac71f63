// edge-oauth token tool: get a token with the npm package, inspect it, try it on an API.
//
// Rules this file keeps:
//   - the client secret lives only in its <input> and in this module's memory: it is never
//     written to localStorage/sessionStorage/cookies, and never into the page's text;
//   - the full access token is never written into the page's text either (only a shortened
//     form); "copy" hands it to the clipboard straight from memory;
//   - the password and the device code are treated like the secret (the device code never
//     leaves the package at all);
//   - everything shown that came from outside (errors, API responses) goes through redact().
import { TokenClient, TokenError } from 'edge-oauth';
import qrcode from '/vendor/qrcode.mjs';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------
// Remembered (non-secret) fields

const STORAGE_KEY = 'edge-oauth-www:fields';
// Never add 'clientSecret', 'password' or 'extraParams' (which may carry a credential) here.
const REMEMBERED = [
  'preset', 'endpointKind', 'tokenUrl', 'issuer', 'kcBaseUrl', 'kcRealm', 'clientId', 'authMethod',
  'grantType', 'username', 'deviceAuthorizationUrl', 'scope', 'headerName',
  'allowInsecureHttp', 'keepFresh', 'apiUrl', 'apiMethod',
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

// URLs are remembered only when they carry no credential: no user or password, no query.
const URL_FIELDS = new Set(['tokenUrl', 'issuer', 'kcBaseUrl', 'deviceAuthorizationUrl', 'apiUrl']);

function rememberable(id, value) {
  if (!URL_FIELDS.has(id) || value === '') return value;
  try {
    const url = new URL(value);
    return url.username || url.password || url.search ? '' : value;
  } catch {
    return value.includes('@') || value.includes('?') ? '' : value;
  }
}

function saveFields() {
  const fields = {};
  for (const id of REMEMBERED) {
    const el = $(id);
    fields[id] = el.type === 'checkbox' ? el.checked : rememberable(id, el.value);
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

/** Masks the current token, the typed secret and password wherever they occur in `text`. */
function redact(text, { token = state.info?.accessToken, secret = $('clientSecret').value } = {}) {
  let out = String(text);
  if (token && token.length >= 8) out = out.split(token).join(shorten(token));
  if (secret && secret.length >= 3) out = out.split(secret).join('[client secret]');
  const password = $('password').value;
  if (password && password.length >= 3) out = out.split(password).join('[password]');
  return out;
}

/** What a TokenError code means, in plain words. */
const EXPLAIN = {
  config: 'the options are not valid: a URL or a field is wrong or missing (the message says which)',
  network: "the token endpoint did not answer, or it does not allow this page's origin (CORS)",
  timeout: 'the token endpoint took too long to answer',
  invalid_response: 'the answer was not a token response: is the URL the token endpoint?',
  aborted: 'cancelled before it finished',
  invalid_request: 'the server found the request malformed or missing a parameter',
  invalid_client: 'the server rejected the client id or secret (or the auth method)',
  invalid_grant: 'the server rejected the grant: a wrong username or password, or an expired or used code or refresh token',
  unauthorized_client: 'this client is not allowed to use this grant',
  unsupported_grant_type: 'the server does not support this grant',
  invalid_scope: 'the server refused the requested scope',
  invalid_token: 'the API refused a fresh token too: new tokens wait until the cooldown ends',
  authorization_required: 'a user has to sign in first: start the device sign-in',
  access_denied: 'the user denied the sign-in',
  expired_token: 'the device code expired before the user approved it',
  TypeError: "the request did not get an answer: the server is down, or it does not allow this page's origin (CORS)",
};

function explain(err) {
  const code = err?.code ?? err?.name;
  if (EXPLAIN[code]) return EXPLAIN[code];
  if (err instanceof TokenError && err.status >= 500) return 'the server failed (a 5xx answer)';
  if (err instanceof TokenError) return 'the server refused the request with this error code';
  return '';
}

function clockTime(ms) {
  const d = new Date(ms);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function seconds(s) {
  const tenths = Math.round(s * 10) / 10;
  return Number.isInteger(tenths) ? `${tenths} s` : `${tenths.toFixed(1)} s`;
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
  /** Bumped with every new client: events of an older one are ignored. */
  generation: 0,
  /** { expiresAt, at }: when the last token event arrived (for the token's lifetime). */
  received: null,
  /** The current token's lifetime and windows, as the countdown draws them. */
  life: null,
  refreshTimer: null,
  /** The running device sign-in: { abort: AbortController, userCode }. */
  device: null,
  sandbox: null,
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
  const extra = readExtraParams();
  if (extra) options.extraParams = extra;
  switch ($('grantType').value) {
    case 'password':
      options.grant = { type: 'password', username: val('username'), password: $('password').value };
      break;
    case 'device_code':
      options.grant = { type: 'device_code' };
      if (val('deviceAuthorizationUrl')) options.deviceAuthorizationUrl = val('deviceAuthorizationUrl');
      break;
    default:
      break;
  }
  return options;
}

/** `name=value` lines (blank lines and `#` comments skipped) as an object, or undefined. */
function readExtraParams() {
  const params = {};
  let any = false;
  for (const [i, raw] of $('extraParams').value.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    // The line is not quoted: it may hold a credential.
    if (eq <= 0) {
      throw new TokenError({ code: 'config', message: `Extra parameters: line ${i + 1} is not name=value`, retryable: false });
    }
    params[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    any = true;
  }
  return any ? params : undefined;
}

/** The client for the current form, reused while the options stay the same. */
function ensureClient() {
  const options = readOptions();
  const key = JSON.stringify(options);
  if (state.client && key === state.clientKey) return { client: state.client, created: false };
  state.client = null;
  state.clientKey = null;
  cancelDevice();
  showToken(null);
  state.generation += 1;
  const generation = state.generation;
  options.onEvent = (event) => {
    if (generation === state.generation) onEvent(event);
  };
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
  const words = explain(err);
  field('explain').textContent = words ? redact(`${err?.code ?? err?.name}: ${words}.`) : '';
  panel.hidden = false;
}

function showStats() {
  const stats = state.client?.stats() ?? { tokenRequests: 0, cacheHits: 0, refreshes: 0, failures: 0 };
  for (const name of ['tokenRequests', 'cacheHits', 'refreshes', 'failures']) {
    $(`stat-${name}`).textContent = String(stats[name]);
  }
}

/**
 * The shown token's lifetime (ms) and the client's windows (s): refresh ahead =
 * min(60, lifetime/2), expiry margin = min(10, lifetime/4) — the defaults of
 * refreshAheadSeconds and expiryMarginSeconds, shrunk for short tokens as the client does.
 */
function lifetimeOf(info) {
  let lifetimeMs = null;
  if (state.received && state.received.expiresAt === info.expiresAt) {
    lifetimeMs = info.expiresAt - state.received.at;
  } else {
    const jwt = decodeJwt(info.accessToken);
    if (jwt && Number.isFinite(jwt.payload.iat)) lifetimeMs = info.expiresAt - jwt.payload.iat * 1000;
  }
  if (!(lifetimeMs > 0)) return null;
  // As the client counts it: from the token's arrival to its expiry (ms precision).
  const lifetime = lifetimeMs / 1000;
  return {
    lifetime,
    ahead: Math.min(60, lifetime / 2),
    margin: Math.min(10, lifetime / 4),
  };
}

function tick() {
  const countdown = $('countdown');
  if (!state.info) {
    countdown.hidden = true;
    $('life').hidden = true;
    return;
  }
  const left = state.info.expiresAt - Date.now();
  countdown.hidden = false;
  countdown.classList.toggle('expired', left <= 0);
  countdown.classList.toggle('soon', left > 0 && left < 60_000);
  countdown.textContent = left > 0 ? `in ${formatDuration(left)}` : `expired ${formatDuration(left)} ago`;

  const life = state.life;
  $('life').hidden = !life;
  if (!life) return;
  const total = life.lifetime * 1000;
  const leftClamped = Math.max(0, Math.min(total, left));
  const usedPct = 100 * (1 - leftClamped / total);
  $('lifeNow').style.width = `${usedPct}%`;
  const bar = $('lifeBar');
  const leftS = Math.round(leftClamped / 1000);
  bar.setAttribute('aria-valuenow', String(Math.round(100 * leftClamped / total)));
  let phase = 'fresh';
  if (left <= 0) phase = 'expired';
  else if (left <= life.margin * 1000) phase = 'inside the expiry margin: no longer handed out';
  else if (left <= life.ahead * 1000) phase = 'inside the refresh-ahead window: the next call refreshes in the background';
  bar.setAttribute('aria-valuetext', `${leftS} s of ${life.lifetime} s left; ${phase}`);
  bar.dataset.phase = phase.split(':')[0];
  $('lifeText').textContent = `${formatDuration(leftClamped)} of ${formatDuration(total)} left — ${phase}.`;
}

function setLifeZones() {
  const life = state.life;
  if (!life) return;
  $('lifeAhead').style.left = `${100 * (1 - life.ahead / life.lifetime)}%`;
  $('lifeAhead').style.width = `${100 * ((life.ahead - life.margin) / life.lifetime)}%`;
  $('lifeMargin').style.left = `${100 * (1 - life.margin / life.lifetime)}%`;
  $('lifeMargin').style.width = `${100 * (life.margin / life.lifetime)}%`;
  $('lifetime').dataset.seconds = String(life.lifetime);
  $('lifetime').textContent = `${seconds(life.lifetime)}; refresh ahead in the last ${seconds(life.ahead)}, expiry margin ${seconds(life.margin)}`;
}

/** With "keep fresh": a call when the refresh-ahead window opens starts a background refresh. */
function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = null;
  const { info, life, client } = state;
  if (!info || !life || !client || !$('keepFresh').checked) return;
  const at = info.expiresAt - life.ahead * 1000 + 100;
  const generation = state.generation;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    if (generation !== state.generation || state.info !== info) return;
    // Answered from the cache; inside the window it also starts the background refresh,
    // whose new token arrives as a 'token' event.
    client.getTokenInfo().catch((err) => showError('error', err)).finally(showStats);
  }, Math.max(0, at - Date.now()));
}

function showToken(info, header) {
  state.info = info;
  state.life = info ? lifetimeOf(info) : null;
  $('lifetime').textContent = '—';
  setLifeZones();
  scheduleRefresh();
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
// Events (onEvent)

const MAX_EVENTS = 100;

function describeEvent(e) {
  switch (e.type) {
    case 'renewal': return `renewal — ${e.reason}`;
    case 'request': return `request — ${e.grant}, attempt ${e.attempt}`;
    case 'retry': return `retry — attempt ${e.attempt} after ${e.waitMs} ms (${e.code})`;
    case 'token': return `token — ${e.grant}${e.refreshed ? ', refreshed' : ''}, expires ${clockTime(e.expiresAt)}`;
    case 'failure': return `failure — ${e.code}${e.status ? ` (HTTP ${e.status})` : ''}${e.retryAfter ? `, retry after ${e.retryAfter} s` : ''}`;
    case 'stale': return `stale — the old token is served until ${clockTime(e.expiresAt)}`;
    case 'device_poll': return `device_poll — ${e.result}`;
    default: return String(e.type);
  }
}

function logEvent(e) {
  const li = document.createElement('li');
  li.dataset.type = String(e.type);
  if (e.reason) li.dataset.reason = String(e.reason);
  const time = document.createElement('time');
  time.dateTime = new Date().toISOString();
  time.textContent = clockTime(Date.now());
  const what = document.createElement('span');
  what.textContent = redact(describeEvent(e));
  li.append(time, ' ', what);
  const list = $('events');
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  $('noEvents').hidden = true;
}

const POLL_WORDS = {
  pending: 'waiting for the user to approve',
  slow_down: 'the server asked to poll more slowly',
  approved: 'approved: fetching the token',
  denied: 'the user denied the sign-in',
  expired: 'the code expired',
};

function onEvent(e) {
  logEvent(e);
  if (e.type === 'token') state.received = { expiresAt: e.expiresAt, at: Date.now() };
  if (e.type === 'device_poll' && state.device) {
    state.device.polls += 1;
    $('devicePoll').textContent = `Poll ${state.device.polls} at ${clockTime(Date.now())}: ${POLL_WORDS[e.result] ?? e.result}.`;
  }
  // A background refresh brought a new token: show it (a cache hit now).
  if (e.type === 'token' && e.refreshed && !state.busy && !state.device) {
    const client = state.client;
    setTimeout(async () => {
      if (client !== state.client || state.busy) return;
      try {
        const info = await client.getTokenInfo();
        showToken(info, await client.authorizationHeader());
        setStatus(`Refreshed in the background at ${clockTime(Date.now())}.`);
      } catch (err) {
        showError('error', err);
      } finally {
        showStats();
      }
    }, 0);
  }
}

// ---------------------------------------------------------------------------------------
// Device flow

function cancelDevice() {
  if (!state.device) return;
  state.device.abort.abort();
  state.device = null;
  $('device').hidden = true;
}

/** A QR code of `text`, or undefined when it is too long for one (the link still works). */
function qrOf(text) {
  try {
    const qr = qrcode(0, 'M');
    qr.addData(text);
    qr.make();
    return qr;
  } catch {
    return undefined;
  }
}

function showDevice(auth) {
  const link = auth.verificationUriComplete ?? auth.verificationUri;
  $('userCode').textContent = auth.userCode;
  $('verifyLink').href = link;
  $('verifyLink').textContent = auth.verificationUri;
  const img = $('qr');
  const qr = auth.verificationUriComplete && qrOf(auth.verificationUriComplete);
  if (qr) {
    const modules = qr.getModuleCount();
    const cell = Math.max(2, Math.floor(164 / (modules + 8)));
    img.src = qr.createDataURL(cell, cell * 4);
    img.width = img.height = cell * (modules + 8);
    img.alt = `QR code of ${auth.verificationUriComplete}`;
    img.hidden = false;
  } else {
    img.hidden = true;
    img.removeAttribute('src');
  }
  $('deviceExpires').textContent = `The code expires at ${formatTime(auth.expiresAt)}; polling every ${auth.interval} s.`;
  $('devicePoll').textContent = 'Waiting for the user…';
  $('sandboxApprove').hidden = !state.sandbox;
  $('device').hidden = false;
}

function startDevice() {
  return run('error', 'status', async () => {
    const { client } = ensureClient();
    cancelDevice();
    showToken(null);
    const abort = new AbortController();
    const auth = await client.startDeviceAuthorization({ signal: abort.signal });
    state.device = { abort, userCode: auth.userCode, polls: 0 };
    showDevice(auth);
    setStatus('Device sign-in started: waiting for the user to approve.');
    try {
      await auth.waitForToken({ signal: abort.signal });
    } finally {
      if (state.device?.abort === abort) state.device = null;
    }
    $('device').hidden = true;
    const info = await client.getTokenInfo();
    showToken(info, await client.authorizationHeader());
    setStatus('Signed in: the token came from the device flow and is kept fresh by its refresh token.');
  });
}

async function sandboxApprove() {
  const userCode = state.device?.userCode;
  if (!userCode) return;
  const response = await fetch('/sandbox/approve', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userCode }),
  });
  $('devicePoll').textContent = response.ok
    ? 'Approved in the sandbox: the next poll gets the token.'
    : `The sandbox did not approve: ${(await response.text()).trim()}`;
}

// ---------------------------------------------------------------------------------------
// Presets

const FIELD_DEFAULTS = {
  endpointKind: 'tokenUrl', tokenUrl: '', issuer: '', kcBaseUrl: '', kcRealm: '', clientId: '',
  clientSecret: '', authMethod: 'client_secret_basic', grantType: 'client_credentials',
  username: '', password: '', deviceAuthorizationUrl: '', scope: '', headerName: '',
  extraParams: '', allowInsecureHttp: false,
};

/** Each preset: the fields it sets (the rest go back to their defaults), and a note. */
function presetFields(name) {
  const sb = state.sandbox;
  switch (name) {
    case 'sandbox':
      return sb && {
        fields: { tokenUrl: sb.tokenUrl, clientId: sb.client.clientId, clientSecret: sb.client.clientSecret, authMethod: sb.client.authMethod, scope: sb.scope },
        note: `The local oidc-provider sandbox: ${sb.accessTokenTtl}-second tokens, its test client filled in. Press Get token.`,
      };
    case 'sandbox-device':
      return sb && {
        fields: { endpointKind: 'issuer', issuer: sb.issuer, clientId: sb.deviceClient.clientId, authMethod: 'none', grantType: 'device_code', scope: sb.deviceClient.scope },
        note: 'The sandbox\'s public device-flow client. Press Start sign-in, then approve (the sandbox has a button for it).',
      };
    case 'ainua':
      return {
        fields: { endpointKind: 'keycloak', kcRealm: 'ncp', authMethod: 'client_secret_post', headerName: 'Authentication' },
        note: 'Ainua Portal: Keycloak realm ncp, client_secret_post, the token goes in the "Authentication" header. Enter the portal\'s base URL, client id and secret.',
        focus: 'kcBaseUrl',
      };
    case 'apiture':
      return {
        fields: { endpointKind: 'issuer', issuer: 'https://auth.apiture.com/oidc', authMethod: 'client_secret_basic', scope: 'banking/read banking/write' },
        note: 'Apiture: discovery at https://auth.apiture.com/oidc, client_secret_basic, scopes banking/read banking/write. Enter the client id and secret.',
        focus: 'clientId',
      };
    case 'keycloak-api':
      return {
        fields: { endpointKind: 'keycloak', authMethod: 'client_secret_post' },
        note: 'Keycloak realm API: client_secret_post; its JWTs live 5 minutes and are refreshed ahead by asking again. Enter the base URL, realm, client id and secret.',
        focus: 'kcBaseUrl',
      };
    case 'infolink':
      return {
        fields: { endpointKind: 'tokenUrl', tokenUrl: 'http://<host>/api/v1/oauth2/token', allowInsecureHttp: true, authMethod: 'client_secret_post', grantType: 'password' },
        note: 'InfoLink: plain http on a private host (allowed explicitly), client_secret_post, the password grant. Replace <host>, then enter the client and the user.',
        focus: 'tokenUrl',
      };
    default:
      return null;
  }
}

function applyPreset(name) {
  const preset = presetFields(name);
  if (!preset) {
    $('presetNote').textContent = 'Fills in the settings a known system needs.';
    return;
  }
  const fields = { ...FIELD_DEFAULTS, ...preset.fields };
  for (const [id, value] of Object.entries(fields)) {
    const el = $(id);
    if (el.type === 'checkbox') el.checked = value === true;
    else el.value = value;
  }
  showEndpointGroup();
  showGrantGroup();
  $('presetNote').textContent = preset.note;
  saveFields();
}

// ---------------------------------------------------------------------------------------
// Actions

function getToken({ forceRefresh = false } = {}) {
  if ($('grantType').value === 'device_code' && !forceRefresh && !state.info) return startDevice();
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
    $('tryStatus').textContent = redact(statusText);
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

function showGrantGroup() {
  const grant = $('grantType').value;
  for (const group of document.querySelectorAll('fieldset.grant')) {
    const on = group.dataset.grant === grant;
    group.hidden = !on;
    group.disabled = !on;
  }
  $('getToken').textContent = grant === 'device_code' ? 'Start sign-in' : 'Get token';
}

/** The sandbox's settings when serve.mjs runs one (npm run www), else null. */
async function loadSandbox() {
  try {
    const response = await fetch('/sandbox.json', { cache: 'no-store' });
    if (!response.ok) return null;
    return (await response.json()).sandbox ?? null;
  } catch {
    return null;
  }
}

restoreFields();
showEndpointGroup();
showGrantGroup();
$('endpointKind').addEventListener('change', showEndpointGroup);
$('grantType').addEventListener('change', showGrantGroup);
$('preset').addEventListener('change', () => applyPreset($('preset').value));
$('deviceCancel').addEventListener('click', () => {
  cancelDevice();
  setStatus('Device sign-in cancelled.');
});
$('sandboxApprove').addEventListener('click', () => {
  sandboxApprove().catch((err) => {
    $('devicePoll').textContent = `The sandbox did not answer: ${err?.message ?? err}`;
  });
});
$('keepFresh').addEventListener('change', scheduleRefresh);
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
state.sandbox = await loadSandbox();
for (const option of $('preset').querySelectorAll('option[value^="sandbox"]')) {
  option.disabled = !state.sandbox;
  option.hidden = !state.sandbox;
}
const wanted = new URLSearchParams(location.search).get('preset');
if (wanted && [...$('preset').options].some((o) => o.value === wanted && !o.disabled)) {
  $('preset').value = wanted;
  applyPreset(wanted);
} else if ($('preset').selectedOptions[0]?.disabled) {
  $('preset').value = '';
}
setStatus(state.sandbox && wanted?.startsWith('sandbox')
  ? 'Ready: the local sandbox is filled in. Press the button to get a token.'
  : 'Ready. Fill in the client (or pick a preset) and press Get token.');
