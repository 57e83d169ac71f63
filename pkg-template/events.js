// The `onEvent` option: what the client does, as plain objects, for logs and tools. Built
// only when a listener is set, never for cache hits, and never with a secret, a token or a
// device code. What the listener throws is ignored: it cannot break the client.

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** A function that hands each event to `listener`, or `undefined` when there is none. */
export const eventSink = (listener) =>
  listener &&
  ((event) => {
    try {
      listener(event);
    } catch {
      // the listener's own failure stays its own
    }
  });

/** The grant a core `send` step asks for (`client_credentials`, …), or undefined for discovery. */
export const grantOf = ({ method, body }) => {
  if (method !== 'POST') return undefined;
  const grant = new URLSearchParams(body).get('grant_type');
  return grant === DEVICE_CODE_GRANT ? 'device_code' : grant ?? undefined;
};

/** `{ type: 'failure', code, status?, retryAfter? }` from a core error. */
export const failureEvent = ({ code, status, retryAfter }) => {
  const event = { type: 'failure', code };
  if (status !== undefined) event.status = status;
  if (retryAfter !== undefined) event.retryAfter = retryAfter;
  return event;
};

/** What a device poll's next step says: `pending`, `slow_down`, `approved`, `denied`, `expired`. */
export const pollResult = (step, cause) => {
  if (step.info) return 'approved';
  if (step.error) return { access_denied: 'denied', expired_token: 'expired' }[step.error.code];
  return { authorization_pending: 'pending', slow_down: 'slow_down' }[cause];
};
