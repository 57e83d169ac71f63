"""A real OAuth 2.0 authorization server built on Authlib + Flask, for the password and
refresh_token grants (an implementation independent of edge-oauth and of the JS fixtures).

    python3 tests/support/authlib_server.py --port 0 [--access-token-ttl S]
            [--refresh-token-ttl S]

prints one JSON line {"url", "tokenUrl", "resourceUrl", "requestsUrl"} once it listens on
127.0.0.1 and runs until SIGTERM/SIGINT. Everything is kept in memory.

  POST /oauth/token   grant_type=password (ResourceOwnerPasswordCredentialsGrant) and
                      grant_type=refresh_token (RefreshTokenGrant, rotating: the refresh
                      token presented is revoked once a new one is issued). One confidential
                      client that may authenticate with client_secret_basic or
                      client_secret_post (Authlib's own checks, nothing added).
  GET  /api/resource  a protected resource (Authlib ResourceProtector, Bearer tokens).
  GET  /test/requests JSON list of the token requests seen: grantType, clientId,
                      authMethod (basic/post/none, from the request as sent), status,
                      refreshTokenId (short id, never the token) and reusedRefreshToken.
                      A test-only window into the server; no secret or token in it.

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
from authlib.oauth2.rfc6749.util import extract_basic_authorization  # noqa: E402
from authlib.oauth2.rfc6749.util import scope_to_list  # noqa: E402
from authlib.oauth2.rfc6750 import BearerTokenValidator  # noqa: E402
from flask import Flask  # noqa: E402
from flask import g  # noqa: E402
from flask import jsonify  # noqa: E402
from flask import request  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

# Keep in step with tests/support/authlib-server.mjs.
CLIENT_ID = "authlib-client"
CLIENT_SECRET = "authlib-client-secret-R5t8"
USERNAME = "authlib-user"
PASSWORD = "authlib-password-M3v6"
SCOPES = ["api:read", "api:write"]

LOCK = threading.RLock()


class Client:
    """A confidential client registered for both client_secret_basic and _post."""

    def __init__(self, client_id, client_secret):
        self.client_id = client_id
        self.client_secret = client_secret

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
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type in ("password", "refresh_token")


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


CLIENTS = {CLIENT_ID: Client(CLIENT_ID, CLIENT_SECRET)}
USERS = {USERNAME: User(1, USERNAME, PASSWORD)}
USERS_BY_ID = {u.id: u for u in USERS.values()}
TOKENS_BY_ACCESS = {}
TOKENS_BY_REFRESH = {}
REQUESTS = []
STATE = {"seq": 0, "access_ttl": 3600, "refresh_ttl": 86400}


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
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
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


class TokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return TOKENS_BY_ACCESS.get(token_string)


def create_app():
    app = Flask(__name__)
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_SCOPES_SUPPORTED"] = SCOPES
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "password": STATE["access_ttl"],
        "refresh_token": STATE["access_ttl"],
    }
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(PasswordGrant)
    server.register_grant(RefreshTokenGrant)
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
            "grantType": form.get("grant_type"),
            "clientId": form.get("client_id"),
            "authMethod": method,
        }
        if method.startswith("basic"):
            basic_id, _ = extract_basic_authorization(request.headers)
            record["clientId"] = basic_id
        if record["grantType"] == "password":
            record["username"] = form.get("username")
        g.test_record = record
        with LOCK:
            response = server.create_token_response()
        record["status"] = response.status_code
        with LOCK:
            REQUESTS.append(record)
        return response

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
    args = parser.parse_args()
    if not 0 <= args.port <= 65535 or args.access_token_ttl <= 0 or args.refresh_token_ttl <= 0:
        parser.error("invalid --port or TTL")
    STATE["access_ttl"] = args.access_token_ttl
    STATE["refresh_ttl"] = args.refresh_token_ttl

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    httpd = make_server("127.0.0.1", args.port, create_app(), threaded=True)
    url = f"http://127.0.0.1:{httpd.server_port}"
    print(
        json.dumps(
            {
                "url": url,
                "tokenUrl": f"{url}/oauth/token",
                "resourceUrl": f"{url}/api/resource",
                "requestsUrl": f"{url}/test/requests",
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
