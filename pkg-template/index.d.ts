/** Options shared by every way of naming the token endpoint. */
export interface CommonOptions {
  // <options> generated from src/options.rs by tests/options.rs
  /** The client id registered at the authorization server. */
  clientId: string;
  /** The client secret, required unless `authMethod` is `none`; never in errors, logs or stats. */
  clientSecret?: string;
  /** How the client authenticates (RFC 6749 §2.3.1): `client_secret_basic`, unless discovery lists only `client_secret_post`; `none` for a public client (`client_id` in the body, no secret). */
  authMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  /** `rfc6749` form-urlencodes id and secret before base64 (RFC 6749 §2.3.1); `raw` does not, as many servers expect (golang/oauth2#414). Default `rfc6749`. */
  basicAuthEncoding?: 'rfc6749' | 'raw';
  /** The grant for the first token and when a refresh token is refused: client credentials (RFC 6749 §4.4), the resource owner's password (§4.3; username and password are redacted like the secret), or a user's approval on another device (RFC 8628: `startDeviceAuthorization()`; it is never replayed silently). Default `{ type: 'client_credentials' }`. */
  grant?: { type: 'client_credentials' } | { type: 'password'; username: string; password: string } | { type: 'device_code' };
  /** The device authorization endpoint (RFC 8628), when neither discovery nor `keycloak` gives it. */
  deviceAuthorizationUrl?: string;
  /** Scopes, sent space-separated. */
  scope?: string | string[];
  /** Extra form parameters for the token request, e.g. `{ audience: '…' }`. */
  extraParams?: Record<string, string>;
  /** The header the token goes in (the one `authorizationHeader()` names). Default `Authorization`. */
  headerName?: string;
  /** A background refresh starts this long before expiry. Default `60`. */
  refreshAheadSeconds?: number;
  /** A token is no longer handed out this long before expiry. Default `10`. */
  expiryMarginSeconds?: number;
  /** The lifetime assumed when the server sends no `expires_in` and the token has no JWT `exp`. Default `300`. */
  defaultExpiresInSeconds?: number;
  /** The timeout of each attempt, reading the body included. Default `10000`. */
  timeoutMs?: number;
  /** Retries after the first attempt, for network errors, timeouts, 408, 429 and 5xx. Default `2`. */
  maxRetries?: number;
  /** The longest a caller waits for a renewal, retries and `Retry-After` waits included: a retry whose wait would end past it is not made, and each attempt's timeout is cut to what is left. Default `10000`. */
  maxWaitMs?: number;
  /** Plain `http://` is refused unless this is true, except to `localhost`, `127.0.0.0/8` and `[::1]` (the host as the WHATWG URL parser reads it, as `fetch` will). Default `false`. */
  allowInsecureHttp?: boolean;
  /** The fetch to use, e.g. a Worker service binding's fetch. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Called with each thing the client does (a renewal starts, a request goes out, a retry, a token, a failure, a stale token served, a device poll); never for cache hits, never with a secret; what it throws is ignored. */
  onEvent?: (event: TokenEvent) => void;
  // </options>
}

/** The explicit token endpoint. */
export interface TokenUrlOptions extends CommonOptions {
  tokenUrl: string;
  issuer?: undefined;
  keycloak?: undefined;
}

/** Discovery: `{issuer}/.well-known/openid-configuration`, then `/.well-known/oauth-authorization-server`. */
export interface IssuerOptions extends CommonOptions {
  issuer: string;
  tokenUrl?: undefined;
  keycloak?: undefined;
}

/** Keycloak: `{baseUrl}/realms/{realm}/protocol/openid-connect/token`. */
export interface KeycloakOptions extends CommonOptions {
  keycloak: { baseUrl: string; realm: string };
  tokenUrl?: undefined;
  issuer?: undefined;
}

/** How the client authenticates to the token endpoint (RFC 6749 §2.3.1). */
export type AuthMethod = NonNullable<CommonOptions['authMethod']>;

/** Client credentials (RFC 6749 §4.4), or the resource owner's password (§4.3). */
export type Grant = NonNullable<CommonOptions['grant']>;

/** Exactly one of `tokenUrl`, `issuer` or `keycloak`. */
export type TokenClientOptions = TokenUrlOptions | IssuerOptions | KeycloakOptions;

export interface GetTokenOptions {
  /** Ends this caller's wait with code `'aborted'`. */
  signal?: AbortSignal;
  /** Get a new token even if the cached one is fresh. */
  forceRefresh?: boolean;
}

export interface TokenInfo {
  accessToken: string;
  /** `'Bearer'`, `'DPoP'`, or the type as the server sent it. */
  tokenType: string;
  /** When the token expires, in ms since the epoch. */
  expiresAt: number;
  /** The granted scope, when the server said. */
  scope?: string;
}

export interface TokenStats {
  /** HTTP requests sent to the token endpoint, retries included. */
  tokenRequests: number;
  /** Calls answered from memory. */
  cacheHits: number;
  /** New tokens that replaced an earlier one. */
  refreshes: number;
  /** Renewals that ended in an error. */
  failures: number;
}

/** RFC 6749 §5.2 codes as the server sent them, or the client's own. */
export type TokenErrorCode =
  | 'config'
  | 'network'
  | 'timeout'
  | 'invalid_response'
  | 'aborted'
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  /** An API refused a token that had replaced a refused one: no new token until the cooldown ends. */
  | 'invalid_token'
  /** The device grant has no token and no refresh token: a user must sign in (`startDeviceAuthorization`). */
  | 'authorization_required'
  /** RFC 8628: the user denied the device authorization. */
  | 'access_denied'
  /** RFC 8628: the device code expired before the user approved. */
  | 'expired_token'
  | (string & {});

export declare class TokenError extends Error {
  readonly name: 'TokenError';
  readonly code: TokenErrorCode;
  /** The HTTP status of the response that caused it, if any. */
  readonly status: number | undefined;
  /** `error_description`, if the server sent one. */
  readonly description: string | undefined;
  /** `error_uri`, if the server sent one. */
  readonly uri: string | undefined;
  /** Whether trying again may help. */
  readonly retryable: boolean;
  /**
   * Whole seconds (≥ 1) before the client sends another token request: the server's
   * `Retry-After`, or the cooldown after a failure. Undefined for configuration errors and aborts.
   */
  readonly retryAfter: number | undefined;
}

/** What `onEvent` receives: one thing the client did. None holds a secret, a token or a device code. */
export type TokenEvent =
  /** A renewal starts: no token yet, a refresh ahead of expiry, `forceRefresh`, or an API refused the token. */
  | { type: 'renewal'; reason: 'cold' | 'refresh_ahead' | 'forced' | 'refused' }
  /** A token request goes out (`attempt` counts them within the renewal or the device flow). */
  | { type: 'request'; grant: 'client_credentials' | 'password' | 'refresh_token' | 'device_code'; attempt: number }
  /** The attempt failed and is retried after `waitMs`; `code` is why. */
  | { type: 'retry'; attempt: number; waitMs: number; code: string }
  /** A token arrived; `refreshed`: it replaces an earlier one. */
  | { type: 'token'; grant: string; expiresAt: number; refreshed: boolean }
  /** A renewal failed. */
  | { type: 'failure'; code: TokenErrorCode; status?: number; retryAfter?: number }
  /** A refresh failed and the still-valid token keeps being served. */
  | { type: 'stale'; expiresAt: number }
  /** A device flow poll's answer. */
  | { type: 'device_poll'; result: 'pending' | 'slow_down' | 'approved' | 'denied' | 'expired' };

/** A device authorization (RFC 8628): what to show the user, and the wait for their approval. */
export interface DeviceAuthorization {
  /** The code the user enters. */
  readonly userCode: string;
  /** Where the user enters it. */
  readonly verificationUri: string;
  /** The same with the code filled in, when the server gives one (for a link or a QR code). */
  readonly verificationUriComplete?: string;
  /** When the code expires, in ms since the epoch. */
  readonly expiresAt: number;
  /** The server's poll interval, in seconds. */
  readonly interval: number;
  /**
   * Polls until the user approves, then resolves with the access token, which from then on
   * serves `getToken()` and the rest, renewed through its refresh token. Rejects with
   * `access_denied`, `expired_token`, `aborted` or the server's error.
   */
  waitForToken(options?: { signal?: AbortSignal }): Promise<string>;
}

export declare class TokenClient {
  /** Throws a `TokenError` with code `'config'` when the options are wrong. */
  constructor(options: TokenClientOptions);
  /** A valid access token: from memory when fresh, else one shared request. */
  getToken(options?: GetTokenOptions): Promise<string>;
  getTokenInfo(options?: GetTokenOptions): Promise<TokenInfo>;
  /** e.g. `['Authorization', 'Bearer eyJ…']`. */
  authorizationHeader(options?: { signal?: AbortSignal }): Promise<[name: string, value: string]>;
  /**
   * `fetch` with the token header attached. On a 401 (or, from the token endpoint's origin, a
   * 4xx JSON body `{"result":{"code":"invalid_grant"},"status":"error"}`) the token is dropped
   * and, when the body can be replayed (none, string, ArrayBuffer, typed array, Blob,
   * URLSearchParams, FormData), the request is sent once more with a new token. A token that
   * replaced a refused one and is refused too is not renewed again until the cooldown ends:
   * that 401 is returned. Redirects are followed only within the request's origin; a redirect
   * elsewhere is returned as it is.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * With `grant: { type: 'device_code' }`: asks the device authorization endpoint for a code
   * to show the user (RFC 8628 §3.1). `scope` replaces the configured scope for this sign-in.
   */
  startDeviceAuthorization(options?: { scope?: string | string[]; signal?: AbortSignal }): Promise<DeviceAuthorization>;
  /** Drops the cached token (after a 401, say). */
  invalidate(): void;
  stats(): TokenStats;
}
