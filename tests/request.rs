//! The exact bytes of every request the core builds: token requests for each client
//! authentication method (RFC 6749 §2.3.1), scopes, extra parameters, the Keycloak endpoint
//! and the discovery requests.

mod common;

use common::{config, input, SerdeJson, SECRET};
use edge_oauth::config::{AuthMethod, ConfigInput, Endpoint};
use edge_oauth::request::{
    base64_encode, discovery_request, discovery_urls, percent_encode, token_request, Grant,
    HttpRequest,
};
use edge_oauth::secret::ClientSecret;

const TOKEN_URL: &str = "https://auth.example.test/oauth2/token";
const FORM: &str = "application/x-www-form-urlencoded";

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    let mut values = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    let first = values.next();
    assert_eq!(values.next(), None, "header {name} is sent more than once");
    first
}

fn with_id_secret(id: &str, secret: &str) -> ConfigInput {
    ConfigInput {
        client_id: Some(id.into()),
        client_secret: Some(ClientSecret::new(secret)),
        ..input()
    }
}

fn request_for(input: ConfigInput, auth: AuthMethod) -> HttpRequest {
    let config = input.validate(&SerdeJson).expect("valid configuration");
    token_request(&config, TOKEN_URL, auth, Grant::ClientCredentials)
}

#[test]
fn basic_matches_the_rfc_6749_example() {
    // RFC 6749 §2.3.1: client_id s6BhdRkqt3, secret gX1fBat3bV.
    let request = request_for(
        with_id_secret("s6BhdRkqt3", "gX1fBat3bV"),
        AuthMethod::ClientSecretBasic,
    );
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, TOKEN_URL);
    assert_eq!(
        request.headers,
        vec![
            ("Content-Type", FORM.to_owned()),
            ("Accept", "application/json".to_owned()),
            (
                "Authorization",
                "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW".to_owned()
            ),
        ]
    );
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=client_credentials")
    );
}

#[test]
fn basic_form_encodes_id_and_secret_before_base64() {
    // ':' '%' '+' ' ' and non-ASCII in both id and secret. Form-encoded:
    //   id:with%plus+ space-é  -> id%3Awith%25plus%2B+space-%C3%A9
    //   SECRET-c4f1e9:%+ ü     -> SECRET-c4f1e9%3A%25%2B+%C3%BC
    // joined with ':' and base64-encoded (computed independently of the crate).
    let request = request_for(
        with_id_secret("id:with%plus+ space-é", "SECRET-c4f1e9:%+ ü"),
        AuthMethod::ClientSecretBasic,
    );
    assert_eq!(
        header(&request, "Authorization"),
        Some(
            "Basic aWQlM0F3aXRoJTI1cGx1cyUyQitzcGFjZS0lQzMlQTk6U0VDUkVULWM0ZjFlOSUzQSUyNSUyQislQzMlQkM="
        )
    );
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=client_credentials"),
        "basic auth puts neither id nor secret in the body"
    );
}

#[test]
fn basic_with_ascii_secret_that_needs_no_encoding() {
    let request = request_for(
        with_id_secret("Aladdin", "open-sesame_1.0*"),
        AuthMethod::ClientSecretBasic,
    );
    // base64("Aladdin:open-sesame_1.0*")
    assert_eq!(
        header(&request, "Authorization"),
        Some("Basic QWxhZGRpbjpvcGVuLXNlc2FtZV8xLjAq")
    );
}

#[test]
fn client_secret_post_puts_id_and_secret_in_the_body() {
    let request = request_for(
        with_id_secret("ncp-connector 7", "SECRET-c4f1e9&x=y+z"),
        AuthMethod::ClientSecretPost,
    );
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.headers,
        vec![
            ("Content-Type", FORM.to_owned()),
            ("Accept", "application/json".to_owned()),
        ]
    );
    assert_eq!(header(&request, "Authorization"), None);
    assert_eq!(
        request.body.as_deref(),
        Some(
            "grant_type=client_credentials&client_id=ncp-connector+7&client_secret=SECRET-c4f1e9%26x%3Dy%2Bz"
        )
    );
}

#[test]
fn none_sends_only_the_client_id() {
    let input = ConfigInput {
        client_secret: None,
        auth_method: Some("none".into()),
        client_id: Some("public-app".into()),
        ..input()
    };
    let config = input.validate(&SerdeJson).unwrap();
    assert_eq!(config.auth_method, Some(AuthMethod::None));
    let request = token_request(
        &config,
        TOKEN_URL,
        AuthMethod::None,
        Grant::ClientCredentials,
    );
    assert_eq!(
        request.headers,
        vec![
            ("Content-Type", FORM.to_owned()),
            ("Accept", "application/json".to_owned()),
        ]
    );
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=client_credentials&client_id=public-app")
    );
}

#[test]
fn content_type_is_exactly_form_urlencoded_for_every_method() {
    for auth in [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ] {
        let request = token_request(&config(), TOKEN_URL, auth, Grant::ClientCredentials);
        assert_eq!(
            header(&request, "Content-Type"),
            Some("application/x-www-form-urlencoded"),
            "{auth:?}"
        );
        assert_eq!(request.method, "POST", "{auth:?}");
    }
}

#[test]
fn apiture_scopes_are_space_separated_and_form_encoded() {
    let input = ConfigInput {
        scope: vec!["banking/read".into(), "banking/write".into()],
        ..input()
    };
    let request = request_for(input, AuthMethod::ClientSecretBasic);
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=client_credentials&scope=banking%2Fread+banking%2Fwrite")
    );
}

#[test]
fn scope_with_post_auth_comes_before_the_credentials() {
    let input = ConfigInput {
        scope: vec!["openid".into()],
        ..input()
    };
    let request = request_for(input, AuthMethod::ClientSecretPost);
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=client_credentials&scope=openid&client_id=edge-client&client_secret=SECRET-c4f1e9")
    );
}

#[test]
fn extra_params_are_sent_in_order_and_encoded() {
    let input = ConfigInput {
        extra_params: vec![
            ("audience".into(), "https://api.example.test/v1".into()),
            ("resource".into(), "urn:example:res one".into()),
            ("tenant".into(), "ä&b".into()),
        ],
        ..input()
    };
    let request = request_for(input, AuthMethod::ClientSecretBasic);
    assert_eq!(
        request.body.as_deref(),
        Some(
            "grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.test%2Fv1&resource=urn%3Aexample%3Ares+one&tenant=%C3%A4%26b"
        )
    );
}

#[test]
fn keycloak_url_from_base_and_realm() {
    for base in [
        "https://sso.ainua.example",
        "https://sso.ainua.example/",
        "https://sso.ainua.example//",
    ] {
        let input = ConfigInput {
            token_url: None,
            keycloak: Some((base.into(), "ncp".into())),
            ..input()
        };
        let config = input.validate(&SerdeJson).unwrap();
        assert_eq!(
            config.endpoint,
            Endpoint::TokenUrl(
                "https://sso.ainua.example/realms/ncp/protocol/openid-connect/token".into()
            ),
            "base {base}"
        );
    }
}

#[test]
fn keycloak_url_keeps_a_base_path_and_encodes_the_realm() {
    let input = ConfigInput {
        token_url: None,
        keycloak: Some(("https://idp.example.test/auth/".into(), "my realm/x".into())),
        ..input()
    };
    let config = input.validate(&SerdeJson).unwrap();
    assert_eq!(
        config.endpoint,
        Endpoint::TokenUrl(
            "https://idp.example.test/auth/realms/my%20realm%2Fx/protocol/openid-connect/token"
                .into()
        )
    );
}

#[test]
fn keycloak_token_request_uses_the_built_url() {
    // Seed 000/002: Keycloak with client_secret_post.
    let input = ConfigInput {
        token_url: None,
        keycloak: Some(("https://sso.ainua.example/".into(), "ncp".into())),
        auth_method: Some("client_secret_post".into()),
        ..input()
    };
    let config = input.validate(&SerdeJson).unwrap();
    let Endpoint::TokenUrl(url) = &config.endpoint else {
        panic!("keycloak gives a token URL");
    };
    let request = token_request(
        &config,
        url,
        config.auth_method.unwrap(),
        Grant::ClientCredentials,
    );
    assert_eq!(
        request.url,
        "https://sso.ainua.example/realms/ncp/protocol/openid-connect/token"
    );
    assert_eq!(
        request.body.as_deref(),
        Some("grant_type=client_credentials&client_id=edge-client&client_secret=SECRET-c4f1e9")
    );
}

#[test]
fn issuer_trailing_slash_is_kept_for_the_issuer_check_and_trimmed_for_discovery() {
    let input = ConfigInput {
        token_url: None,
        issuer: Some("https://auth.apiture.example/".into()),
        ..input()
    };
    assert_eq!(
        input.validate(&SerdeJson).unwrap().endpoint,
        Endpoint::Issuer("https://auth.apiture.example/".into()),
        "the metadata's issuer must equal it exactly"
    );
    assert_eq!(
        edge_oauth::request::discovery_urls("https://auth.apiture.example/")[0],
        "https://auth.apiture.example/.well-known/openid-configuration"
    );
}

#[test]
fn discovery_urls_for_a_root_issuer() {
    assert_eq!(
        discovery_urls("https://auth.apiture.example"),
        [
            "https://auth.apiture.example/.well-known/openid-configuration".to_owned(),
            "https://auth.apiture.example/.well-known/oauth-authorization-server".to_owned(),
        ]
    );
}

#[test]
fn discovery_urls_for_an_issuer_with_a_path() {
    // OpenID Connect Discovery appends to the issuer; RFC 8414 §3.1 inserts the well-known
    // suffix between the host and the issuer's path.
    assert_eq!(
        discovery_urls("https://sso.example.test:8443/realms/ncp"),
        [
            "https://sso.example.test:8443/realms/ncp/.well-known/openid-configuration".to_owned(),
            "https://sso.example.test:8443/.well-known/oauth-authorization-server/realms/ncp"
                .to_owned(),
            "https://sso.example.test:8443/realms/ncp/.well-known/oauth-authorization-server"
                .to_owned(),
        ]
    );
}

#[test]
fn discovery_request_is_a_plain_get() {
    let request =
        discovery_request("https://auth.apiture.example/.well-known/openid-configuration".into());
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.url,
        "https://auth.apiture.example/.well-known/openid-configuration"
    );
    assert_eq!(
        request.headers,
        vec![("Accept", "application/json".to_owned())]
    );
    assert_eq!(request.body, None);
}

#[test]
fn percent_encode_form_and_path_modes() {
    let input = "a b~*-._/:é";
    assert_eq!(percent_encode(input, true), "a+b%7E*-._%2F%3A%C3%A9");
    assert_eq!(percent_encode(input, false), "a%20b~%2A-._%2F%3A%C3%A9");
    // RFC 6749 Appendix B's example.
    assert_eq!(percent_encode(" %&+£€", true), "+%25%26%2B%C2%A3%E2%82%AC");
}

#[test]
fn base64_encode_rfc_4648_vectors() {
    // RFC 4648 §10.
    let vectors = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (plain, encoded) in vectors {
        assert_eq!(base64_encode(plain.as_bytes()), encoded, "{plain:?}");
    }
    assert_eq!(base64_encode(&[0xfb, 0xff, 0xfe]), "+//+");
}

#[test]
fn the_secret_appears_only_where_the_method_puts_it() {
    let config = config();
    let basic = token_request(
        &config,
        TOKEN_URL,
        AuthMethod::ClientSecretBasic,
        Grant::ClientCredentials,
    );
    assert!(!basic.body.as_deref().unwrap().contains(SECRET));
    let none = token_request(
        &config,
        TOKEN_URL,
        AuthMethod::None,
        Grant::ClientCredentials,
    );
    assert!(!none.body.as_deref().unwrap().contains(SECRET));
    assert_eq!(header(&none, "Authorization"), None);
}

// ---- basicAuthEncoding --------------------------------------------------------------------

fn basic_with_encoding(encoding: Option<&str>, id: &str, secret: &str) -> HttpRequest {
    request_for(
        ConfigInput {
            basic_auth_encoding: encoding.map(str::to_owned),
            ..with_id_secret(id, secret)
        },
        AuthMethod::ClientSecretBasic,
    )
}

#[test]
fn basic_auth_encoding_rfc6749_versus_raw() {
    // ':' '%' '+' ' ' in both id and secret. Computed with Python:
    //   rfc6749: base64("svc%3Aa%25b%2Bc+d:S3C%3Ar%25t%2B+y")
    //   raw:     base64("svc:a%b+c d:S3C:r%t+ y")
    let (id, secret) = ("svc:a%b+c d", "S3C:r%t+ y");
    let rfc6749 = "Basic c3ZjJTNBYSUyNWIlMkJjK2Q6UzNDJTNBciUyNXQlMkIreQ==";
    let raw = "Basic c3ZjOmElYitjIGQ6UzNDOnIldCsgeQ==";
    for (encoding, expected) in [
        (None, rfc6749),
        (Some("rfc6749"), rfc6749),
        (Some("raw"), raw),
    ] {
        let request = basic_with_encoding(encoding, id, secret);
        assert_eq!(
            header(&request, "Authorization"),
            Some(expected),
            "{encoding:?}"
        );
        assert_eq!(
            request.body.as_deref(),
            Some("grant_type=client_credentials"),
            "{encoding:?}"
        );
    }
}

#[test]
fn basic_auth_encoding_raw_sends_utf8_bytes_as_they_are() {
    // base64("Aladdin é:sésame") over its UTF-8 bytes.
    let request = basic_with_encoding(Some("raw"), "Aladdin é", "sésame");
    assert_eq!(
        header(&request, "Authorization"),
        Some("Basic QWxhZGRpbiDDqTpzw6lzYW1l")
    );
}

#[test]
fn basic_auth_encoding_makes_no_difference_without_special_characters() {
    for encoding in ["rfc6749", "raw"] {
        let request = basic_with_encoding(Some(encoding), "edge-client", SECRET);
        assert_eq!(
            header(&request, "Authorization"),
            Some("Basic ZWRnZS1jbGllbnQ6U0VDUkVULWM0ZjFlOQ=="),
            "{encoding}"
        );
    }
}

#[test]
fn basic_auth_encoding_does_not_change_the_post_body() {
    // client_secret_post is always form-encoded.
    for encoding in ["rfc6749", "raw"] {
        let request = request_for(
            ConfigInput {
                basic_auth_encoding: Some(encoding.into()),
                ..with_id_secret("svc:a%b+c d", "S3C:r%t+ y")
            },
            AuthMethod::ClientSecretPost,
        );
        assert_eq!(header(&request, "Authorization"), None);
        assert_eq!(
            request.body.as_deref(),
            Some(
                "grant_type=client_credentials&client_id=svc%3Aa%25b%2Bc+d&client_secret=S3C%3Ar%25t%2B+y"
            ),
            "{encoding}"
        );
    }
}
