// The caller's options, checked for their types and handed to the wasm core as a flat object
// of strings, numbers and string lists (the core checks the values: URLs, ranges, names).
// Type checks live here because the wasm would spend 4 KB on them; every message says what
// to fix, and none quotes a value.

const KNOWN = new Set([
  'tokenUrl',
  'issuer',
  'keycloak',
  'clientId',
  'clientSecret',
  'authMethod',
  'scope',
  'extraParams',
  'headerName',
  'refreshAheadSeconds',
  'expiryMarginSeconds',
  'defaultExpiresInSeconds',
  'timeoutMs',
  'maxRetries',
  'maxWaitMs',
  'allowInsecureHttp',
  'fetch',
  'grant',
  'basicAuthEncoding',
]);

const TEXT = ['tokenUrl', 'issuer', 'clientId', 'clientSecret', 'authMethod', 'basicAuthEncoding', 'headerName'];
const NUMBERS = ['refreshAheadSeconds', 'expiryMarginSeconds', 'defaultExpiresInSeconds', 'timeoutMs', 'maxRetries', 'maxWaitMs'];

const isObject = (value) => typeof value === 'object' && value !== null;

/** `object[name]` if it is the object's own: nothing is read through a (polluted) prototype. */
const own = (object, name) => (Object.hasOwn(object, name) ? object[name] : undefined);

/**
 * `{ flat, fetch }` for valid option types; otherwise calls `fail(message)`, which throws.
 * `flat` holds the string and number options as given, `keycloakBaseUrl`/`keycloakRealm`,
 * `username`/`password` for the password grant, `scope` as a list, `extraParams` as a flat
 * `[name, value, ...]` list and `allowInsecureHttp` as a boolean.
 */
export function flatOptions(options, fail) {
  if (!isObject(options)) fail('options must be an object such as { tokenUrl, clientId, clientSecret }');
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) fail(`unknown option '${key}'`);

  const text = (object, name, label = name) => {
    const value = own(object, name);
    if (value === undefined || value === null) return undefined;
    return typeof value === 'string' ? value : fail(`${label} must be a string`);
  };
  const required = (object, name, label) => text(object, name, label) ?? fail(`${label} must be a string`);

  // No prototype: the wasm reads what is set here and nothing else.
  const flat = Object.assign(Object.create(null), { allowInsecureHttp: false });
  for (const name of TEXT) flat[name] = text(options, name);
  for (const name of NUMBERS) {
    const value = own(options, name);
    if (value !== undefined && value !== null && typeof value !== 'number') fail(`${name} must be a number`);
    flat[name] = value ?? undefined;
  }

  const [keycloak, grant, scope, extraParams, allowInsecureHttp, fetch] = ['keycloak', 'grant', 'scope', 'extraParams', 'allowInsecureHttp', 'fetch'].map((name) => own(options, name));
  if (keycloak !== undefined && keycloak !== null) {
    if (!isObject(keycloak)) fail('keycloak must be an object { baseUrl, realm }');
    flat.keycloakBaseUrl = required(keycloak, 'baseUrl', 'keycloak.baseUrl');
    flat.keycloakRealm = required(keycloak, 'realm', 'keycloak.realm');
  }
  if (grant !== undefined && grant !== null) {
    if (!isObject(grant)) fail("grant must be an object such as { type: 'client_credentials' }");
    const type = own(grant, 'type');
    if (type === 'password') {
      flat.username = required(grant, 'username', 'grant.username');
      flat.password = required(grant, 'password', 'grant.password');
    } else if (type !== 'client_credentials') {
      fail("grant.type must be 'client_credentials' or 'password' (with username and password)");
    }
  }
  if (scope !== undefined && scope !== null) {
    const list = typeof scope === 'string' ? scope.split(/\s+/).filter(Boolean) : scope;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) fail('scope must be a string or an array of strings');
    flat.scope = list;
  }
  if (extraParams !== undefined && extraParams !== null) {
    if (!isObject(extraParams)) fail('extraParams must be an object of string values');
    flat.extraParams = Object.keys(extraParams).flatMap((name) => [name, required(extraParams, name, `extraParams.${name}`)]);
  }
  if (allowInsecureHttp !== undefined && allowInsecureHttp !== null) {
    if (typeof allowInsecureHttp !== 'boolean') fail('allowInsecureHttp must be true or false');
    flat.allowInsecureHttp = allowInsecureHttp;
  }
  if (fetch !== undefined && fetch !== null && typeof fetch !== 'function') fail('fetch must be a function');
  const chosen = fetch ?? globalThis.fetch;
  if (typeof chosen !== 'function') fail('this runtime has no global fetch: pass options.fetch');
  return { flat, fetch: chosen };
}
