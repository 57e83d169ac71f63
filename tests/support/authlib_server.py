"""A real OAuth 2.0 authorization server built on Authlib + Flask, for the password,
refresh_token and device_code grants (an implementation independent of edge-oauth and of
the JS fixtures).

    python3 tests/support/authlib_server.py --port 0 [--access-token-ttl S]
            [--refresh-token-ttl S] [--device-code-ttl S] [--device-interval S|none]
            [--enforce-interval]

prints one JSON line {"url", "tokenUrl", "resourceUrl", "requestsUrl",
"deviceAuthorizationUrl"} once it listens on 127.0.0.1 and runs until SIGTERM/SIGINT.
Everything is kept in memory.

  POST /oauth/token   grant_type=password (ResourceOwnerPasswordCredentialsGrant),
                      grant_type=refresh_token (RefreshTokenGrant, rotating: the refresh
                      token presented is revoked once a new one is issued) and
                      grant_type=urn:ietf:params:oauth:grant-type:device_code (RFC 8628
                      DeviceCodeGrant; a device code gives tokens once, polls after that
                      answer invalid_grant). The confidential client may authenticate with
                      client_secret_basic or client_secret_post (Authlib's own checks,
                      nothing added); the public device client with none (client_id only).
  POST /oauth/device_authorization
                      RFC 8628 DeviceAuthorizationEndpoint: device_code, user_code,
                      verification_uri(_complete), expires_in (--device-code-ttl, default
                      600) and interval (--device-interval, default 1; "none" leaves it out).
  GET  /api/resource  a protected resource (Authlib ResourceProtector, Bearer tokens).
  GET  /test/requests JSON list of the token requests seen: grantType, clientId,
                      authMethod (basic/post/none, from the request as sent), status,
                      refreshTokenId (short id, never the token) and reusedRefreshToken.
                      A test-only window into the server; no secret or token in it.
                      Each entry also has "at" (arrival, ms since the epoch), device_code
                      polls "deviceCode", and error responses "error".

Test-only device flow control (JSON or form bodies; 127.0.0.1 only, like the rest):
  POST /test/device/approve   {"user_code"}: the user approves (the next poll gets tokens);
  POST /test/device/deny      {"user_code"}: the user denies (access_denied);
                              both 404 {"error"} when the user code is unknown, expired or
                              already decided.
  POST /test/device/slow-down {"count"}: answer the next count device_code polls (of a
                              known, unexpired device code of the authenticated client)
                              with slow_down.
  POST /test/device/config    {"deviceCodeTtl", "interval" (null: left out),
                              "enforceInterval", "accessTokenTtl"} any subset, for what
                              is issued from now on.
  GET  /test/device/authorizations
                              the device authorization responses sent: at, clientId, scope,
                              deviceCode, userCode, expiresIn, interval.
  --enforce-interval          answers slow_down to a poll arriving sooner than the device
                              code's interval after the previous one (50 ms tolerance) and
                              adds 5 s to that code's interval (RFC 8628 section 3.5); an
                              injected slow_down adds 5 s too.

Dependencies: tests/support/requirements.txt (install with tests/support/install-python.sh).
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time

# Authlib refuses plain http unless told otherwise; this server only listens on loopback.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

from authlib.integrations.flask_oauth2 import AuthorizationServer  # noqa: E402
from authlib.integrations.flask_oauth2 import ResourceProtector  # noqa: E402
from authlib.integrations.flask_oauth2 import current_token  # noqa: E402
from authlib.oauth2.rfc6749 import grants  # noqa: E402
from authlib.oauth2.rfc6749.errors import InvalidGrantError  # noqa: E402
from authlib.oauth2.rfc6749.util import extract_basic_authorization  # noqa: E402
from authlib.oauth2.rfc6749.util import scope_to_list  # noqa: E402
from authlib.oauth2.rfc6750 import BearerTokenValidator  # noqa: E402
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE  # noqa: E402
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint  # noqa: E402
from authlib.oauth2.rfc8628 import DeviceCodeGrant  # noqa: E402
from authlib.oauth2.rfc8628 import DeviceCredentialDict  # noqa: E402
from authlib.oauth2.rfc8628 import SlowDownError  # noqa: E402
from flask import Flask  # noqa: E402
from flask import g  # noqa: E402
from flask import jsonify  # noqa: E402
from flask import request  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

# Keep in step with tests/support/authlib-server.mjs.
CLIENT_ID = "authlib-client"
CLIENT_SECRET = "authlib-client-secret-R5t8"
DEVICE_CLIENT_ID = "authlib-device-client"
USERNAME = "authlib-user"
PASSWORD = "authlib-password-M3v6"
SCOPES = ["api:read", "api:write"]

LOCK = threading.RLock()


class Client:
    """A confidential client registered for both client_secret_basic and _post, or a
    public one (client_secret None) that authenticates with none."""

    def __init__(self, client_id, client_secret, grant_types):
        self.client_id = client_id
        self.client_secret = client_secret
        self.grant_types = grant_types
        self.auth_methods = (
            ("client_secret_basic", "client_secret_post") if client_secret is not None else ("none",)
        )

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        return " ".join(s for s in scope_to_list(scope) if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and client_secret == self.client_secret

    def check_endpoint_auth_method(self, method, endpoint):
        return method in self.auth_methods

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


class User:
    def __init__(self, user_id, username, password):
        self.id = user_id
        self.username = username
        self.password = password

    def get_user_id(self):
        return self.id


class Token:
    """One issued access token and its refresh token."""

    def __init__(self, seq, client_id, user_id, data, access_ttl, refresh_ttl):
        now = time.time()
        self.id = f"rt-{seq}"
        self.client_id = client_id
        self.user_id = user_id
        self.access_token = data["access_token"]
        self.refresh_token = data.get("refresh_token")
        self.scope = data.get("scope", "")
        self.issued_at = now
        self.access_expires_at = now + access_ttl
        self.refresh_expires_at = now + refresh_ttl
        self.refresh_state = "active"  # active | rotated

    # TokenMixin
    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return int(self.access_expires_at - self.issued_at)

    def is_expired(self):
        return time.time() >= self.access_expires_at

    def is_revoked(self):
        return False

    def get_user(self):
        return USERS_BY_ID.get(self.user_id)

    def get_client(self):
        return CLIENTS.get(self.client_id)


CLIENTS = {
    CLIENT_ID: Client(CLIENT_ID, CLIENT_SECRET, ("password", "refresh_token", DEVICE_CODE_GRANT_TYPE)),
    DEVICE_CLIENT_ID: Client(DEVICE_CLIENT_ID, None, (DEVICE_CODE_GRANT_TYPE, "refresh_token")),
}
USERS = {USERNAME: User(1, USERNAME, PASSWORD)}
USERS_BY_ID = {u.id: u for u in USERS.values()}
TOKENS_BY_ACCESS = {}
TOKENS_BY_REFRESH = {}
REQUESTS = []
STATE = {
    "seq": 0,
    "access_ttl": 3600,
    "refresh_ttl": 86400,
    "url": "",
    "device_code_ttl": 600,
    "interval": 1,
    "enforce_interval": False,
    "slow_down": 0,
}
# Device flow: device_code -> DeviceCredentialDict (kept after expiry: expired_token), user
# code (normalized) -> (user, approved), the device authorization responses sent.
DEVICE_CODES = {}
USER_GRANTS = {}
DEVICE_AUTHORIZATIONS = []
INTERVAL_TOLERANCE_S = 0.05


def normalize_user_code(user_code):
    return "".join(c for c in str(user_code).upper() if c.isalnum())


def query_client(client_id):
    return CLIENTS.get(client_id)


def save_token(data, req):
    with LOCK:
        STATE["seq"] += 1
        token = Token(
            STATE["seq"],
            req.client.get_client_id(),
            req.user.get_user_id() if req.user else None,
            data,
            STATE["access_ttl"],
            STATE["refresh_ttl"],
        )
        TOKENS_BY_ACCESS[token.access_token] = token
        if token.refresh_token:
            TOKENS_BY_REFRESH[token.refresh_token] = token


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def authenticate_user(self, username, password):
        user = USERS.get(username)
        if user is not None and user.password == password:
            return user
        return None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        token = TOKENS_BY_REFRESH.get(refresh_token)
        record = g.get("test_record")
        if record is not None:
            record["refreshTokenId"] = token.id if token else "unknown"
            record["reusedRefreshToken"] = bool(token and token.refresh_state == "rotated")
        if token is None or token.refresh_state != "active":
            return None
        if time.time() >= token.refresh_expires_at:
            return None
        return token

    def authenticate_user(self, refresh_token):
        return USERS_BY_ID.get(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token):
        refresh_token.refresh_state = "rotated"


class DeviceAuthorization(DeviceAuthorizationEndpoint):
    @property
    def EXPIRES_IN(self):  # noqa: N802 (Authlib's name)
        return STATE["device_code_ttl"]

    @property
    def INTERVAL(self):  # noqa: N802
        return STATE["interval"]

    def get_verification_uri(self):
        return f"{STATE['url']}/device"

    def create_endpoint_response(self, request):
        status, data, headers = super().create_endpoint_response(request)
        if data.get("interval") is None:
            data.pop("interval", None)
        with LOCK:
            DEVICE_AUTHORIZATIONS.append(
                {
                    "at": time.time() * 1000,
                    "clientId": request.client.get_client_id(),
                    "scope": request.payload.scope,
                    "deviceCode": data["device_code"],
                    "userCode": data["user_code"],
                    "expiresIn": data["expires_in"],
                    "interval": data.get("interval"),
                }
            )
        return status, data, headers

    def save_device_credential(self, client_id, scope, data):
        now = time.time()
        credential = DeviceCredentialDict(
            client_id=client_id,
            scope=scope,
            device_code=data["device_code"],
            user_code=normalize_user_code(data["user_code"]),
            expires_at=now + data["expires_in"],
            interval=data.get("interval") or 5,
            last_poll=None,
            consumed=False,
        )
        with LOCK:
            DEVICE_CODES[data["device_code"]] = credential


class DeviceGrant(DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def validate_device_credential(self, credential):
        if credential.get("consumed"):
            raise InvalidGrantError("device code already used")
        record = g.get("test_record") or {}
        now = record.get("at", time.time() * 1000) / 1000
        with LOCK:
            previous = credential["last_poll"]
            credential["last_poll"] = now
            if STATE["slow_down"] > 0:
                STATE["slow_down"] -= 1
                credential["interval"] += 5
                raise SlowDownError(description="injected by the test")
            if (
                STATE["enforce_interval"]
                and previous is not None
                and now - previous < credential["interval"] - INTERVAL_TOLERANCE_S
            ):
                credential["interval"] += 5
                raise SlowDownError(
                    description=f"polled {round((now - previous) * 1000)} ms after the previous poll;"
                    f" the interval is now {credential['interval']} s"
                )
        return super().validate_device_credential(credential)

    def query_device_credential(self, device_code):
        return DEVICE_CODES.get(device_code)

    def query_user_grant(self, user_code):
        return USER_GRANTS.get(user_code)

    def should_slow_down(self, credential):
        # validate_device_credential has answered slow_down already when it had to.
        return False

    def create_token_response(self):
        result = super().create_token_response()
        self.request.credential["consumed"] = True
        return result


class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return TOKENS_BY_ACCESS.get(token_string)


def create_app():
    app = Flask(__name__)
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_SCOPES_SUPPORTED"] = SCOPES
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(PasswordGrant)
    server.register_grant(RefreshTokenGrant)
    server.register_grant(DeviceGrant)
    server.register_endpoint(DeviceAuthorization)

    # Access tokens of every grant live access_ttl (settable while running, see
    # /test/device/config), instead of OAUTH2_TOKEN_EXPIRES_IN's per-grant values.
    server._token_generators["default"].expires_generator = lambda _client, _grant_type: STATE["access_ttl"]
    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(TokenValidator())

    @app.post("/oauth/token")
    def issue_token():
        form = request.form
        auth = request.headers.get("Authorization")
        if auth is not None and "client_secret" in form:
            method = "basic+post"
        elif auth is not None:
            method = "basic"
        elif "client_secret" in form:
            method = "post"
        else:
            method = "none"
        record = {
            "at": time.time() * 1000,
            "grantType": form.get("grant_type"),
            "clientId": form.get("client_id"),
            "authMethod": method,
        }
        if record["grantType"] == DEVICE_CODE_GRANT_TYPE:
            record["deviceCode"] = form.get("device_code")
        if method.startswith("basic"):
            basic_id, _ = extract_basic_authorization(request.headers)
            record["clientId"] = basic_id
        if record["grantType"] == "password":
            record["username"] = form.get("username")
        g.test_record = record
        with LOCK:
            response = server.create_token_response()
        record["status"] = response.status_code
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            record["error"] = body["error"]
        with LOCK:
            REQUESTS.append(record)
        return response

    @app.post("/oauth/device_authorization")
    def device_authorization():
        with LOCK:
            STATE["device_authorization_requests"] = STATE.get("device_authorization_requests", 0) + 1
        return server.create_endpoint_response("device_authorization")

    @app.get("/device")
    def device_page():
        return "edge-oauth test server: tests approve user codes with POST /test/device/approve\n"

    def test_body():
        return request.get_json(silent=True) or request.form.to_dict()

    def decide(approved):
        user_code = normalize_user_code(test_body().get("user_code", ""))
        with LOCK:
            credential = next((c for c in DEVICE_CODES.values() if c["user_code"] == user_code), None)
            if credential is None or credential.is_expired() or user_code in USER_GRANTS:
                return jsonify(error="no pending device authorization with this user code"), 404
            USER_GRANTS[user_code] = (USERS[USERNAME], approved)
        return jsonify(ok=True, deviceCode=credential["device_code"])

    @app.post("/test/device/approve")
    def test_device_approve():
        return decide(True)

    @app.post("/test/device/deny")
    def test_device_deny():
        return decide(False)

    @app.post("/test/device/slow-down")
    def test_device_slow_down():
        count = int(test_body().get("count", 1))
        if count < 0:
            return jsonify(error="count must be >= 0"), 400
        with LOCK:
            STATE["slow_down"] = count
        return jsonify(ok=True)

    @app.post("/test/device/config")
    def test_device_config():
        body = test_body()
        with LOCK:
            if "deviceCodeTtl" in body:
                STATE["device_code_ttl"] = int(body["deviceCodeTtl"])
            if "interval" in body:
                STATE["interval"] = None if body["interval"] in (None, "", "none") else int(body["interval"])
            if "enforceInterval" in body:
                STATE["enforce_interval"] = body["enforceInterval"] in (True, "true", "1", 1)
            if "accessTokenTtl" in body:
                STATE["access_ttl"] = int(body["accessTokenTtl"])
        return jsonify(ok=True)

    @app.get("/test/device/authorizations")
    def test_device_authorizations():
        with LOCK:
            return jsonify(list(DEVICE_AUTHORIZATIONS))

    @app.get("/test/device/stats")
    def test_device_stats():
        with LOCK:
            return jsonify(
                deviceAuthorizationRequests=STATE.get("device_authorization_requests", 0),
                tokenRequests=len(REQUESTS),
                slowDownRemaining=STATE["slow_down"],
            )

    @app.get("/api/resource")
    @require_oauth()
    def resource():
        user = current_token.get_user()
        return jsonify(status="ok", user=user.username if user else None, scope=current_token.scope)

    @app.get("/test/requests")
    def test_requests():
        with LOCK:
            return jsonify(list(REQUESTS))

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-token-ttl", type=int, default=3600)
    parser.add_argument("--refresh-token-ttl", type=float, default=86400)
    parser.add_argument("--device-code-ttl", type=int, default=600)
    parser.add_argument("--device-interval", default="1", help='seconds, or "none"')
    parser.add_argument("--enforce-interval", action="store_true")
    args = parser.parse_args()
    interval = None if args.device_interval == "none" else int(args.device_interval)
    if (
        not 0 <= args.port <= 65535
        or args.access_token_ttl <= 0
        or args.refresh_token_ttl <= 0
        or args.device_code_ttl <= 0
        or (interval is not None and interval <= 0)
    ):
        parser.error("invalid --port, TTL or interval")
    STATE["access_ttl"] = args.access_token_ttl
    STATE["refresh_ttl"] = args.refresh_token_ttl
    STATE["device_code_ttl"] = args.device_code_ttl
    STATE["interval"] = interval
    STATE["enforce_interval"] = args.enforce_interval

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    httpd = make_server("127.0.0.1", args.port, create_app(), threaded=True)
    url = f"http://127.0.0.1:{httpd.server_port}"
    STATE["url"] = url
    print(
        json.dumps(
            {
                "url": url,
                "tokenUrl": f"{url}/oauth/token",
                "resourceUrl": f"{url}/api/resource",
                "requestsUrl": f"{url}/test/requests",
                "deviceAuthorizationUrl": f"{url}/oauth/device_authorization",
            }
        ),
        flush=True,
    )

    def stop(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


if __name__ == "__main__":
    sys.exit(main())
