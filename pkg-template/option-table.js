// Generated from the settings table in src/options.rs by tests/options.rs
// (UPDATE_GENERATED=1 cargo test --test options); do not edit.

/** Each option's type; a `group` is an object whose fields are its `group.field` rows. */
export const OPTIONS = {
  tokenUrl: 'text',
  issuer: 'text',
  keycloak: 'group',
  'keycloak.baseUrl': 'text',
  'keycloak.realm': 'text',
  clientId: 'text',
  clientSecret: 'text',
  authMethod: 'text',
  basicAuthEncoding: 'text',
  grant: 'group',
  'grant.type': 'text',
  'grant.username': 'text',
  'grant.password': 'text',
  deviceAuthorizationUrl: 'text',
  scope: 'scopes',
  extraParams: 'params',
  headerName: 'text',
  refreshAheadSeconds: 'number',
  expiryMarginSeconds: 'number',
  defaultExpiresInSeconds: 'number',
  timeoutMs: 'number',
  maxRetries: 'number',
  maxWaitMs: 'number',
  allowInsecureHttp: 'flag',
  fetch: 'function',
  onEvent: 'function',
};
