//! The settings table (`src/options.rs`) is the one source of each setting's name, var, type,
//! default, limits and doc. This test fails when anything derived from it drifts: the npm
//! package's option check (`pkg-template/option-table.js`), the option types and docs in
//! `pkg-template/index.d.ts`, the README's two configuration tables, and the limits and
//! defaults validation applies. `UPDATE_GENERATED=1 cargo test --test options` rewrites the
//! generated files.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;

use common::SerdeJson as Urls;
use edge_oauth::config::{ConfigInput, Timing};
use edge_oauth::error::TokenError;
use edge_oauth::options::{Kind, Setting, Surface, SETTINGS};
use edge_oauth::secret::ClientSecret;
use edge_oauth::worker::config::{gateway_config, WorkerEnv};

/// The options a `TokenClient` takes: rows with an option name.
fn npm_rows() -> impl Iterator<Item = &'static Setting> {
    SETTINGS
        .iter()
        .copied()
        .filter(|s| !s.name.option.is_empty())
}

/// The option rows that name the token endpoint: typed by hand in `index.d.ts` as a union.
const ENDPOINT_OPTIONS: [&str; 3] = ["tokenUrl", "issuer", "keycloak"];

fn js_type(kind: &Kind) -> &'static str {
    match kind {
        Kind::Text | Kind::Secret | Kind::Choice(..) => "text",
        Kind::Scopes => "scopes",
        Kind::Params => "params",
        Kind::Number(_) => "number",
        Kind::Flag => "flag",
        Kind::Function(_) => "function",
        Kind::Group(_) => "group",
    }
}

fn ts_type(kind: &Kind) -> String {
    match kind {
        Kind::Text | Kind::Secret => "string".into(),
        Kind::Choice(names, _) => names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(" | "),
        Kind::Scopes => "string | string[]".into(),
        Kind::Params => "Record<string, string>".into(),
        Kind::Number(_) => "number".into(),
        Kind::Flag => "boolean".into(),
        Kind::Function(ts) => (*ts).into(),
        Kind::Group(ts) => (*ts).into(),
    }
}

/// A setting's default as a user writes it; empty when there is none.
fn default_value(setting: &Setting) -> String {
    match setting.kind {
        Kind::Number(limits) => format!("{}", limits.default),
        _ => setting.default.to_owned(),
    }
}

/// A setting's default as the docs show it.
fn default_text(setting: &Setting) -> String {
    match (setting.required, default_value(setting).as_str()) {
        (true, _) => "required".into(),
        (false, "") => "—".into(),
        (false, default) => format!("`{default}`"),
    }
}

fn option_table_js() -> String {
    let rows: String = npm_rows()
        .map(|s| {
            let key = if s.name.option.contains('.') {
                format!("'{}'", s.name.option)
            } else {
                s.name.option.to_owned()
            };
            format!("  {key}: '{}',\n", js_type(&s.kind))
        })
        .collect();
    format!(
        "// Generated from the settings table in src/options.rs by tests/options.rs\n\
         // (UPDATE_GENERATED=1 cargo test --test options); do not edit.\n\n\
         /** Each option's type; a `group` is an object whose fields are its `group.field` rows. */\n\
         export const OPTIONS = {{\n{rows}}};\n"
    )
}

fn index_d_ts_options() -> String {
    npm_rows()
        .filter(|s| !s.name.option.contains('.') && !ENDPOINT_OPTIONS.contains(&s.name.option))
        .map(|s| {
            let default = match (s.required, default_value(s).as_str()) {
                (true, _) | (false, "") => String::new(),
                (false, d) => format!(" Default `{d}`."),
            };
            let optional = if s.required { "" } else { "?" };
            format!(
                "  /** {}.{default} */\n  {}{optional}: {};\n",
                capitalized(s.doc),
                s.name.option,
                ts_type(&s.kind)
            )
        })
        .collect()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn readme_npm_table() -> String {
    let rows: String = npm_rows()
        .filter(|s| !s.name.option.contains('.'))
        .map(|s| {
            format!(
                "| `{}` | {} | {} |\n",
                s.name.option,
                default_text(s),
                s.doc
            )
        })
        .collect();
    format!("| option | default | meaning |\n|---|---|---|\n{rows}")
}

fn readme_worker_table() -> String {
    let rows: String = SETTINGS
        .iter()
        .filter(|s| !s.name.var.is_empty())
        .map(|s| {
            let secret = if s.kind == Kind::Secret {
                " (secret)"
            } else {
                ""
            };
            let option = if s.name.option.is_empty() {
                String::new()
            } else {
                format!(" (npm: `{}`)", s.name.option)
            };
            format!(
                "| `{}`{secret} | {} | {}{option} |\n",
                s.name.var,
                default_text(s),
                s.doc
            )
        })
        .collect();
    format!("| var | default | meaning |\n|---|---|---|\n{rows}")
}

/// Checks that `path` holds `expected` between the lines `start` and `end` (or, without
/// markers, as a whole); rewrites it with `UPDATE_GENERATED=1`.
fn check_generated(path: &str, markers: Option<(&str, &str)>, expected: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let updated = match markers {
        None => expected.to_owned(),
        Some((start, end)) => {
            let from = text
                .find(start)
                .unwrap_or_else(|| panic!("{path} lacks the line {start}"))
                + start.len()
                + 1;
            let to = text[from..]
                .find(end)
                .unwrap_or_else(|| panic!("{path} lacks the line {end}"))
                + from;
            let indent = text[..to].rfind('\n').map_or(0, |n| to - n - 1);
            [&text[..from], expected, &text[to - indent..]].concat()
        }
    };
    if updated == text {
        return;
    }
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::write(&file, updated).unwrap();
    } else {
        panic!(
            "{path} has drifted from src/options.rs: run UPDATE_GENERATED=1 cargo test --test options"
        );
    }
}

#[test]
fn the_npm_option_check_is_generated_from_the_table() {
    check_generated("pkg-template/option-table.js", None, &option_table_js());
}

#[test]
fn index_d_ts_option_docs_are_generated_from_the_table() {
    check_generated(
        "pkg-template/index.d.ts",
        Some((
            "// <options> generated from src/options.rs by tests/options.rs",
            "// </options>",
        )),
        &index_d_ts_options(),
    );
    let types = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pkg-template/index.d.ts"),
    )
    .unwrap();
    for endpoint in ENDPOINT_OPTIONS {
        assert!(
            types.contains(&format!("  {endpoint}: ")),
            "index.d.ts types the endpoint option {endpoint}"
        );
    }
}

#[test]
fn the_readme_configuration_tables_are_generated_from_the_table() {
    check_generated(
        "README.md",
        Some((
            "<!-- options: generated from src/options.rs by tests/options.rs -->",
            "<!-- /options -->",
        )),
        &readme_npm_table(),
    );
    check_generated(
        "README.md",
        Some((
            "<!-- vars: generated from src/options.rs by tests/options.rs -->",
            "<!-- /vars -->",
        )),
        &readme_worker_table(),
    );
}

#[test]
fn every_name_is_declared_once() {
    let mut seen = std::collections::HashSet::new();
    for s in SETTINGS {
        assert!(!s.doc.is_empty(), "{s:?} has a doc line");
        assert!(
            !(s.name.option.is_empty() && s.name.var.is_empty()),
            "{s:?} has a name"
        );
        for name in [s.name.option, s.name.var] {
            assert!(
                name.is_empty() || seen.insert(name),
                "{name} is declared twice"
            );
        }
        if let Some((group, _)) = s.name.option.split_once('.') {
            let parent = SETTINGS.iter().find(|p| p.name.option == group);
            assert!(
                parent.is_some_and(|p| matches!(p.kind, Kind::Group(_))),
                "{} belongs to a group row",
                s.name.option
            );
        }
        if let Kind::Choice(names, listed) = s.kind {
            assert!(
                s.default.is_empty() || names.contains(&s.default),
                "{}'s default is one of its choices",
                s.name.option
            );
            let expected: Vec<String> = names
                .iter()
                .map(|n| {
                    let default = if *n == s.default {
                        " (the default)"
                    } else {
                        ""
                    };
                    format!("'{n}'{default}")
                })
                .collect();
            let (last, rest) = expected.split_last().unwrap();
            assert_eq!(listed, format!("{} or {last}", rest.join(", ")), "{s:?}");
        }
        if let Kind::Number(limits) = s.kind {
            let what = match (limits.whole, limits.unit) {
                (true, _) => "a whole number".to_owned(),
                (false, "") => "a number".to_owned(),
                (false, unit) => format!("a number of {unit}"),
            };
            let low = if limits.above_min { "more than " } else { "" };
            let expected = format!("{what} from {low}{} to {}", limits.min, limits.max);
            assert_eq!(limits.text, expected, "{s:?}");
            assert!(
                limits.allows(limits.default),
                "{s:?}: its default is allowed"
            );
            assert!(
                s.default.is_empty(),
                "{s:?}: a number's default is its limits'"
            );
        }
    }
}

fn minimal_input(names: Surface) -> ConfigInput {
    ConfigInput {
        token_url: Some("https://auth.example.com/token".into()),
        client_id: Some("client".into()),
        client_secret: Some(ClientSecret::new("secret")),
        names,
        ..ConfigInput::default()
    }
}

/// Sets the number setting `setting` on `input` (the only place that maps rows to fields).
fn set_number(input: &mut ConfigInput, setting: &Setting, value: f64) {
    let field = match setting.name.option {
        "refreshAheadSeconds" => &mut input.refresh_ahead_seconds,
        "expiryMarginSeconds" => &mut input.expiry_margin_seconds,
        "defaultExpiresInSeconds" => &mut input.default_expires_in_seconds,
        "timeoutMs" => &mut input.timeout_ms,
        "maxRetries" => &mut input.max_retries,
        "maxWaitMs" => &mut input.max_wait_ms,
        other => panic!("a number setting without a field: {other}"),
    };
    *field = Some(value);
}

#[test]
fn validation_applies_each_numbers_limits_and_names_it_as_the_user_wrote_it() {
    // The token client's numbers (the Worker's own, BROKER_TIMEOUT_MS, is tested with it).
    for setting in SETTINGS
        .iter()
        .filter(|s| matches!(s.kind, Kind::Number(_)) && !s.name.option.is_empty())
    {
        let limits = setting.limits();
        let ok = [
            limits.default,
            limits.max,
            if limits.above_min {
                limits.min + 1.0
            } else {
                limits.min
            },
        ];
        for value in ok {
            let mut input = minimal_input(Surface::Npm);
            set_number(&mut input, setting, value);
            assert!(
                input.validate(&Urls).is_ok(),
                "{} = {value} is allowed",
                setting.name.option
            );
        }
        let mut bad = vec![limits.max + 1.0, f64::NAN, f64::INFINITY, limits.min - 1.0];
        if limits.above_min {
            bad.push(limits.min);
        }
        if limits.whole {
            bad.push(limits.min + 0.5);
        }
        for value in bad {
            for names in [Surface::Npm, Surface::Worker] {
                let mut input = minimal_input(names);
                set_number(&mut input, setting, value);
                let name = names.of(setting.name);
                match input.validate(&Urls) {
                    Err(TokenError::Config { option, message }) => {
                        assert_eq!(option, name);
                        assert!(
                            message.starts_with(&format!("{name} must be ")),
                            "{message}"
                        );
                        assert!(message.contains(&format!("to {}", limits.max)), "{message}");
                    }
                    other => panic!("{name} = {value}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn defaults_come_from_the_table() {
    let config = minimal_input(Surface::Npm).validate(&Urls).unwrap();
    assert_eq!(config.timing, Timing::default());
    let seconds = |s: &Setting| (s.limits().default * 1000.0) as u64;
    use edge_oauth::options::*;
    assert_eq!(
        config.timing.refresh_ahead_ms,
        seconds(&REFRESH_AHEAD_SECONDS)
    );
    assert_eq!(
        config.timing.expiry_margin_ms,
        seconds(&EXPIRY_MARGIN_SECONDS)
    );
    assert_eq!(
        config.timing.default_expires_in_ms,
        seconds(&DEFAULT_EXPIRES_IN_SECONDS)
    );
    assert_eq!(config.timeout_ms as f64, TIMEOUT_MS.limits().default);
    assert_eq!(config.max_wait_ms as f64, MAX_WAIT_MS.limits().default);
    assert_eq!(f64::from(config.max_retries), MAX_RETRIES.limits().default);
    assert_eq!(config.header_name, HEADER_NAME.default);
}

#[test]
fn the_worker_reads_every_var_of_the_table_and_no_other() {
    // Every var the table declares is asked for; a var outside it never is.
    let asked = std::cell::RefCell::new(Vec::new());
    let var = |name: &str| {
        asked.borrow_mut().push(name.to_owned());
        match name {
            "ORIGIN_URL" => Some("https://api.example.com".to_owned()),
            "TOKEN_URL" => Some("https://auth.example.com/token".to_owned()),
            "CLIENT_ID" => Some("client".to_owned()),
            "CLIENT_SECRET" | "PROXY_KEYS" => Some("secret".to_owned()),
            _ => None,
        }
    };
    struct Recording<F>(F);
    impl<F: Fn(&str) -> Option<String>> WorkerEnv for Recording<F> {
        fn var(&self, name: &str) -> Option<String> {
            (self.0)(name)
        }
        fn is_service(&self, _: &str) -> bool {
            false
        }
        fn has_token_broker(&self) -> bool {
            false
        }
    }
    gateway_config(None, &Recording(var), &Urls).unwrap();
    let asked = asked.into_inner();
    // ROUTES is read as JSON, by the entry point, and handed to `gateway_config`.
    let vars = SETTINGS
        .iter()
        .filter(|s| !s.name.var.is_empty() && s.name != edge_oauth::options::ROUTES.name);
    for setting in vars {
        assert!(
            asked.iter().any(|a| a == setting.name.var),
            "{} is read",
            setting.name.var
        );
    }
    for name in &asked {
        assert!(
            SETTINGS.iter().any(|s| s.name.var == name),
            "{name} is read but not declared in src/options.rs"
        );
    }
}
