//! Configuration validation: the endpoint choice, the https rule, required fields, numbers,
//! header names, reserved parameters and defaults. Every error has code `config`, says what
//! to fix, and never contains the secret.

mod common;

use common::{input, password_input, SerdeJson, PASSWORD, SECRET, USERNAME};
use edge_oauth::config::{
    is_loopback, AuthMethod, BasicAuthEncoding, ConfigInput, Endpoint, GrantConfig, Timing,
};
use edge_oauth::secret::{ClientSecret, Password, Username};
use edge_oauth::TokenError;

/// Validates `input`, expects a config error, checks the secret is in neither its Display
/// nor its Debug, and returns the message.
fn config_error(input: ConfigInput) -> String {
    let error = match input.validate(&SerdeJson) {
        Ok(config) => panic!("expected a config error, got {config:?}"),
        Err(error) => error,
    };
    assert_eq!(error.code(), "config", "{error:?}");
    assert!(
        matches!(error, TokenError::Config { .. }),
        "not a Config variant: {error:?}"
    );
    assert!(!error.retryable());
    assert_eq!(error.status(), None);
    let display = error.to_string();
    let debug = format!("{error:?}");
    assert!(!display.contains(SECRET), "{display}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(display.starts_with("invalid configuration: "), "{display}");
    display
}

fn with_url(url: &str) -> ConfigInput {
    ConfigInput {
        token_url: Some(url.into()),
        ..input()
    }
}

#[test]
fn defaults() {
    let config = input().validate(&SerdeJson).unwrap();
    assert_eq!(
        config.endpoint,
        Endpoint::TokenUrl("https://auth.example.test/oauth2/token".into())
    );
    assert_eq!(config.client_id, "edge-client");
    assert_eq!(
        config.client_secret.as_ref().map(|s| s.expose()),
        Some(SECRET)
    );
    assert_eq!(config.auth_method, None);
    assert_eq!(config.scope, None);
    assert!(config.extra_params.is_empty());
    assert_eq!(config.header_name, "Authorization");
    assert_eq!(
        config.timing,
        Timing {
            refresh_ahead_ms: 60_000,
            expiry_margin_ms: 10_000,
            default_expires_in_ms: 300_000,
        }
    );
    assert_eq!(config.timing, Timing::default());
    assert_eq!(config.timeout_ms, 10_000);
    assert_eq!(config.max_retries, 2);
    assert!(!config.allow_insecure_http);
}

#[test]
fn explicit_values_are_converted_to_milliseconds() {
    let config = ConfigInput {
        refresh_ahead_seconds: Some(30.0),
        expiry_margin_seconds: Some(0.5),
        default_expires_in_seconds: Some(3600.0),
        timeout_ms: Some(2500.0),
        max_retries: Some(0.0),
        header_name: Some("Authentication".into()),
        auth_method: Some("client_secret_post".into()),
        scope: vec!["a".into(), "b:c".into()],
        ..input()
    }
    .validate(&SerdeJson)
    .unwrap();
    assert_eq!(
        config.timing,
        Timing {
            refresh_ahead_ms: 30_000,
            expiry_margin_ms: 500,
            default_expires_in_ms: 3_600_000,
        }
    );
    assert_eq!(config.timeout_ms, 2500);
    assert_eq!(config.max_retries, 0);
    assert_eq!(config.header_name, "Authentication");
    assert_eq!(config.auth_method, Some(AuthMethod::ClientSecretPost));
    assert_eq!(config.scope.as_deref(), Some("a b:c"));
}

#[test]
fn number_limits_that_are_accepted() {
    let config = ConfigInput {
        refresh_ahead_seconds: Some(0.0),
        expiry_margin_seconds: Some(86_400.0),
        default_expires_in_seconds: Some(0.001),
        timeout_ms: Some(600_000.0),
        max_retries: Some(10.0),
        ..input()
    }
    .validate(&SerdeJson)
    .unwrap();
    assert_eq!(config.timing.refresh_ahead_ms, 0);
    assert_eq!(config.timing.expiry_margin_ms, 86_400_000);
    assert_eq!(config.timing.default_expires_in_ms, 1);
    assert_eq!(config.timeout_ms, 600_000);
    assert_eq!(config.max_retries, 10);

    let config = ConfigInput {
        timeout_ms: Some(1.0),
        ..input()
    }
    .validate(&SerdeJson)
    .unwrap();
    assert_eq!(config.timeout_ms, 1);
}

#[test]
fn auth_method_names() {
    for (name, method) in [
        ("client_secret_basic", AuthMethod::ClientSecretBasic),
        ("client_secret_post", AuthMethod::ClientSecretPost),
    ] {
        let config = ConfigInput {
            auth_method: Some(name.into()),
            ..input()
        }
        .validate(&SerdeJson)
        .unwrap();
        assert_eq!(config.auth_method, Some(method));
        assert_eq!(method.name(), name);
    }
    assert_eq!(AuthMethod::None.name(), "none");
    let message = config_error(ConfigInput {
        auth_method: Some("private_key_jwt".into()),
        ..input()
    });
    assert!(
        message.contains("'private_key_jwt' is not supported"),
        "{message}"
    );
    assert!(message.contains("client_secret_basic"), "{message}");
}

#[test]
fn exactly_one_endpoint_option() {
    let keycloak = || Some(("https://sso.example.test".to_owned(), "ncp".to_owned()));
    let issuer = || Some("https://auth.example.test".to_owned());
    let cases = [
        ConfigInput {
            token_url: None,
            ..input()
        },
        ConfigInput {
            issuer: issuer(),
            ..input()
        },
        ConfigInput {
            keycloak: keycloak(),
            ..input()
        },
        ConfigInput {
            token_url: None,
            issuer: issuer(),
            keycloak: keycloak(),
            ..input()
        },
        ConfigInput {
            issuer: issuer(),
            keycloak: keycloak(),
            ..input()
        },
    ];
    for case in cases {
        let message = config_error(case);
        assert_eq!(
            message,
            "invalid configuration: give exactly one of tokenUrl, issuer or keycloak: { baseUrl, realm }"
        );
    }
}

#[test]
fn each_endpoint_option_alone_is_accepted() {
    let issuer = ConfigInput {
        token_url: None,
        issuer: Some("https://auth.example.test/tenant".into()),
        ..input()
    };
    assert_eq!(
        issuer.validate(&SerdeJson).unwrap().endpoint,
        Endpoint::Issuer("https://auth.example.test/tenant".into())
    );
    let keycloak = ConfigInput {
        token_url: None,
        keycloak: Some(("https://sso.example.test".into(), "ncp".into())),
        ..input()
    };
    assert_eq!(
        keycloak.validate(&SerdeJson).unwrap().endpoint,
        Endpoint::TokenUrl(
            "https://sso.example.test/realms/ncp/protocol/openid-connect/token".into()
        )
    );
}

#[test]
fn empty_keycloak_realm_is_refused() {
    let message = config_error(ConfigInput {
        token_url: None,
        keycloak: Some(("https://sso.example.test".into(), String::new())),
        ..input()
    });
    assert_eq!(
        message,
        "invalid configuration: keycloak.realm must not be empty"
    );
}

#[test]
fn plain_http_is_refused_with_a_way_to_opt_in() {
    let message = config_error(with_url("http://10.1.2.3:8080/api/v1/oauth2/token"));
    assert_eq!(
        message,
        "invalid configuration: tokenUrl uses plain http to '10.1.2.3', which would send credentials and tokens unencrypted: use https, or set allowInsecureHttp: true if this host is on a network you trust"
    );
    for url in [
        "http://auth.example.test/token",
        "HTTP://auth.example.test/token",
        "http://127.0.0.1.nip.io/token",
        "http://localhost.evil.example/token",
        // The URL parser fetch uses reads the backslash as a slash: the host is evil.example.
        "http://evil.example\\.localhost/token",
        "http://api.localhost/token",
        "http://128.0.0.1/token",
        "http://[::2]/token",
        "http://0.0.0.0/token",
    ] {
        let message = config_error(with_url(url));
        assert!(
            message.contains("allowInsecureHttp: true"),
            "{url}: {message}"
        );
    }
}

#[test]
fn plain_http_rule_applies_to_issuer_and_keycloak() {
    let message = config_error(ConfigInput {
        token_url: None,
        issuer: Some("http://auth.example.test".into()),
        ..input()
    });
    assert!(message.contains("issuer uses plain http"), "{message}");
    assert!(message.contains("allowInsecureHttp: true"), "{message}");

    let message = config_error(ConfigInput {
        token_url: None,
        keycloak: Some(("http://sso.example.test".into(), "ncp".into())),
        ..input()
    });
    assert!(
        message.contains("keycloak.baseUrl uses plain http"),
        "{message}"
    );
}

#[test]
fn plain_http_to_loopback_is_allowed() {
    for url in [
        "http://127.0.0.1:4000/token",
        "http://127.255.10.1/token",
        "http://localhost:3000/token",
        "http://LOCALHOST/token",
        // WHATWG reads "127.0.0" as 127.0.0.0, as fetch will.
        "http://127.0.0/token",
        "http://[::1]:8443/token",
        "http://[::1]/token",
    ] {
        let config = with_url(url)
            .validate(&SerdeJson)
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(config.endpoint, Endpoint::TokenUrl(url.into()));
    }
}

#[test]
fn plain_http_with_opt_in_is_allowed() {
    // Seed 003: InfoLink on a private host over http.
    let config = ConfigInput {
        allow_insecure_http: true,
        ..with_url("http://infolink.lan/api/v1/oauth2/token")
    }
    .validate(&SerdeJson)
    .unwrap();
    assert_eq!(
        config.endpoint,
        Endpoint::TokenUrl("http://infolink.lan/api/v1/oauth2/token".into())
    );
    assert!(config.allow_insecure_http);
}

#[test]
fn loopback_hosts() {
    // Hostnames as the WHATWG parser writes them.
    for host in ["localhost", "127.0.0.1", "127.1.2.3", "[::1]"] {
        assert!(is_loopback(host), "{host}");
    }
    for host in [
        "example.com",
        "127.0.0.1.example.com",
        "127.0.0.256",
        "localhost.example",
        "a.localhost",
        "::1",
        "[::2]",
        "10.0.0.1",
        "",
    ] {
        assert!(!is_loopback(host), "{host}");
    }
}

#[test]
fn malformed_urls_are_refused() {
    let cases = [
        (
            "/oauth2/token",
            "tokenUrl must be an absolute URL such as https://auth.example.com/token",
        ),
        (
            "auth.example.test/token",
            "tokenUrl must be an absolute URL such as https://auth.example.com/token",
        ),
        (
            "ftp://auth.example.test/token",
            "tokenUrl must use https:// (or http:// with allowInsecureHttp)",
        ),
        (
            "https://auth.example.test/token#frag",
            "tokenUrl must not have a #fragment",
        ),
        (
            "https://",
            "tokenUrl must be an absolute URL such as https://auth.example.com/token",
        ),
        (
            "javascript:alert(1)",
            "tokenUrl must use https:// (or http:// with allowInsecureHttp)",
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(
            config_error(with_url(url)),
            format!("invalid configuration: {expected}"),
            "{url}"
        );
    }
}

#[test]
fn credentials_in_the_url_are_refused_without_echoing_them() {
    let message = config_error(with_url(&format!(
        "https://edge-client:{SECRET}@auth.example.test/token"
    )));
    assert_eq!(
        message,
        "invalid configuration: tokenUrl must not carry credentials in the URL: use clientId and clientSecret"
    );
}

#[test]
fn missing_client_id() {
    for id in [None, Some(String::new())] {
        let message = config_error(ConfigInput {
            client_id: id,
            ..input()
        });
        assert_eq!(message, "invalid configuration: clientId is required");
    }
}

#[test]
fn missing_or_empty_client_secret() {
    for auth in [
        None,
        Some("client_secret_basic"),
        Some("client_secret_post"),
    ] {
        let message = config_error(ConfigInput {
            client_secret: None,
            auth_method: auth.map(Into::into),
            ..input()
        });
        assert_eq!(
            message,
            "invalid configuration: clientSecret is required (or set authMethod: 'none' for a public client)"
        );
    }
    let message = config_error(ConfigInput {
        client_secret: Some(ClientSecret::new("")),
        ..input()
    });
    assert_eq!(
        message,
        "invalid configuration: clientSecret must not be empty"
    );
}

#[test]
fn auth_method_none_and_secrets() {
    let message = config_error(ConfigInput {
        auth_method: Some("none".into()),
        ..input()
    });
    assert_eq!(
        message,
        "invalid configuration: authMethod 'none' sends no secret: remove clientSecret or choose another authMethod"
    );
    let config = ConfigInput {
        auth_method: Some("none".into()),
        client_secret: None,
        ..input()
    }
    .validate(&SerdeJson)
    .unwrap();
    assert_eq!(config.auth_method, Some(AuthMethod::None));
    assert!(config.client_secret.is_none());
}

#[test]
fn bad_numbers() {
    let bad = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        86_400.5,
        1e12,
    ];
    for value in bad {
        let message = config_error(ConfigInput {
            refresh_ahead_seconds: Some(value),
            ..input()
        });
        assert_eq!(
            message,
            "invalid configuration: refreshAheadSeconds must be a number of seconds from 0 to 86400",
            "{value}"
        );
        let message = config_error(ConfigInput {
            expiry_margin_seconds: Some(value),
            ..input()
        });
        assert_eq!(
            message,
            "invalid configuration: expiryMarginSeconds must be a number of seconds from 0 to 86400",
            "{value}"
        );
    }
    for value in [0.0, -5.0, f64::NAN, 86_401.0] {
        let message = config_error(ConfigInput {
            default_expires_in_seconds: Some(value),
            ..input()
        });
        assert_eq!(
            message,
            "invalid configuration: defaultExpiresInSeconds must be a number of seconds from more than 0 to 86400",
            "{value}"
        );
    }
    for value in [0.0, 0.5, -1.0, 600_001.0, f64::NAN, f64::INFINITY] {
        let message = config_error(ConfigInput {
            timeout_ms: Some(value),
            ..input()
        });
        assert_eq!(
            message,
            "invalid configuration: timeoutMs must be a number of milliseconds from 1 to 600000",
            "{value}"
        );
    }
    for value in [-1.0, 1.5, 11.0, f64::NAN, f64::INFINITY] {
        let message = config_error(ConfigInput {
            max_retries: Some(value),
            ..input()
        });
        assert_eq!(
            message, "invalid configuration: maxRetries must be a whole number from 0 to 10",
            "{value}"
        );
    }
}

#[test]
fn header_names() {
    for good in ["Authorization", "Authentication", "X-Api-Token", "x_token!"] {
        let config = ConfigInput {
            header_name: Some(good.into()),
            ..input()
        }
        .validate(&SerdeJson)
        .unwrap();
        assert_eq!(config.header_name, good);
    }
    for bad in [
        "",
        "Bad Header",
        "X-Token:",
        "Authórization",
        "X\r\nInjected",
        "a\"b",
        "(x)",
    ] {
        let message = config_error(ConfigInput {
            header_name: Some(bad.into()),
            ..input()
        });
        assert_eq!(
            message,
            "invalid configuration: headerName must be a valid HTTP header name such as 'Authorization'",
            "{bad:?}"
        );
    }
}

#[test]
fn reserved_extra_params_are_refused() {
    for name in [
        "grant_type",
        "client_id",
        "client_secret",
        "scope",
        "username",
        "password",
        "refresh_token",
        "device_code",
    ] {
        let message = config_error(ConfigInput {
            extra_params: vec![
                ("audience".into(), "https://api.example.test".into()),
                (name.into(), SECRET.into()),
            ],
            ..input()
        });
        assert_eq!(
            message,
            format!("invalid configuration: extraParams: '{name}' is set by the client itself; use the matching option instead")
        );
    }
    let message = config_error(ConfigInput {
        extra_params: vec![(String::new(), "x".into())],
        ..input()
    });
    assert_eq!(
        message,
        "invalid configuration: extraParams: parameter names must not be empty"
    );
    let config = ConfigInput {
        extra_params: vec![("audience".into(), "https://api.example.test".into())],
        ..input()
    }
    .validate(&SerdeJson)
    .unwrap();
    assert_eq!(
        config.extra_params,
        vec![("audience".to_owned(), "https://api.example.test".to_owned())]
    );
}

#[test]
fn bad_scopes_are_refused() {
    for scope in ["", "banking read", "a\"b", "back\\slash", "é"] {
        let message = config_error(ConfigInput {
            scope: vec!["ok".into(), scope.into()],
            ..input()
        });
        assert!(
            message.starts_with("invalid configuration: scope: each scope must be non-empty"),
            "{scope:?}: {message}"
        );
    }
}

// ---- grant and basicAuthEncoding ----------------------------------------------------------

#[test]
fn grant_and_basic_auth_encoding_defaults() {
    let config = input().validate(&SerdeJson).unwrap();
    assert!(
        matches!(config.grant, GrantConfig::ClientCredentials),
        "{:?}",
        config.grant
    );
    assert!(matches!(
        GrantConfig::default(),
        GrantConfig::ClientCredentials
    ));
    assert!(matches!(
        ConfigInput::default().grant,
        GrantConfig::ClientCredentials
    ));
    assert_eq!(config.basic_auth_encoding, BasicAuthEncoding::Rfc6749);
    assert_eq!(BasicAuthEncoding::default(), BasicAuthEncoding::Rfc6749);
}

#[test]
fn password_grant_is_kept_as_given() {
    let config = password_input().validate(&SerdeJson).unwrap();
    match &config.grant {
        GrantConfig::Password { username, password } => {
            assert_eq!(username.expose(), USERNAME);
            assert_eq!(password.expose(), PASSWORD);
        }
        other => panic!("expected the password grant, got {other:?}"),
    }
    // The client's own authentication is unchanged by the grant.
    assert_eq!(config.client_id, "edge-client");
    assert_eq!(
        config.client_secret.as_ref().map(ClientSecret::expose),
        Some(SECRET)
    );
}

#[test]
fn password_grant_for_a_public_client_needs_no_secret() {
    let config = ConfigInput {
        client_secret: None,
        auth_method: Some("none".into()),
        ..password_input()
    }
    .validate(&SerdeJson)
    .unwrap();
    assert_eq!(config.auth_method, Some(AuthMethod::None));
    assert!(config.client_secret.is_none());
    assert!(matches!(config.grant, GrantConfig::Password { .. }));
}

#[test]
fn password_grant_with_an_empty_username_is_refused() {
    let message = config_error(ConfigInput {
        grant: GrantConfig::Password {
            username: Username::new(""),
            password: Password::new(PASSWORD),
        },
        ..input()
    });
    assert_eq!(
        message,
        "invalid configuration: grant.username must not be empty"
    );
    assert!(!message.contains(PASSWORD), "{message}");
}

#[test]
fn basic_auth_encoding_names() {
    for (name, encoding) in [
        ("rfc6749", BasicAuthEncoding::Rfc6749),
        ("raw", BasicAuthEncoding::Raw),
    ] {
        let config = ConfigInput {
            basic_auth_encoding: Some(name.into()),
            ..input()
        }
        .validate(&SerdeJson)
        .unwrap();
        assert_eq!(config.basic_auth_encoding, encoding, "{name}");
    }
}

#[test]
fn bad_basic_auth_encoding_is_refused_naming_the_option() {
    for bad in ["RAW", "Rfc6749", "rfc 6749", "base64", ""] {
        let message = config_error(ConfigInput {
            basic_auth_encoding: Some(bad.into()),
            ..input()
        });
        assert_eq!(
            message,
            format!(
                "invalid configuration: basicAuthEncoding '{bad}' is not supported: use 'rfc6749' (the default) or 'raw'"
            )
        );
    }
}

#[test]
fn user_credentials_are_reserved_extra_params() {
    for name in ["username", "password", "refresh_token"] {
        let message = config_error(ConfigInput {
            extra_params: vec![(name.into(), PASSWORD.into())],
            ..password_input()
        });
        assert_eq!(
            message,
            format!(
                "invalid configuration: extraParams: '{name}' is set by the client itself; use the matching option instead"
            )
        );
    }
}

#[test]
fn no_error_message_contains_the_username_or_password() {
    let cases = [
        ConfigInput {
            token_url: None,
            ..password_input()
        },
        ConfigInput {
            token_url: Some("http://auth.example.test/token".into()),
            ..password_input()
        },
        ConfigInput {
            token_url: Some(format!(
                "https://{USERNAME}:{PASSWORD}@auth.example.test/token"
            )),
            ..password_input()
        },
        ConfigInput {
            client_id: None,
            ..password_input()
        },
        ConfigInput {
            client_secret: None,
            ..password_input()
        },
        ConfigInput {
            auth_method: Some("none".into()),
            ..password_input()
        },
        ConfigInput {
            basic_auth_encoding: Some("utf8".into()),
            ..password_input()
        },
        ConfigInput {
            scope: vec![format!("{USERNAME} {PASSWORD}")],
            ..password_input()
        },
        ConfigInput {
            extra_params: vec![("password".into(), PASSWORD.into())],
            ..password_input()
        },
        ConfigInput {
            grant: GrantConfig::Password {
                username: Username::new(""),
                password: Password::new(PASSWORD),
            },
            ..input()
        },
        ConfigInput {
            max_retries: Some(-1.0),
            ..password_input()
        },
    ];
    for case in cases {
        let error = case.validate(&SerdeJson).unwrap_err();
        for text in [
            error.to_string(),
            format!("{error:?}"),
            format!("{error:#?}"),
        ] {
            for credential in [USERNAME, PASSWORD, "jane.doe", "p@ss"] {
                assert!(!text.contains(credential), "{credential:?} in {text}");
            }
        }
    }
}
