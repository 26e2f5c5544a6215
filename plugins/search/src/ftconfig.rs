//! FT.CONFIG GET / SET / HELP over the plugin's settings.

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply};

use crate::reply::{err, is, state, text};
use crate::{OnTimeout, SearchConfig};

const NAMES: &[&str] = &[
    "TIMEOUT",
    "ON_TIMEOUT",
    "MAXSEARCHRESULTS",
    "MAXAGGREGATERESULTS",
    "DEFAULT_DIALECT",
];

fn get(c: &SearchConfig, name: &str) -> String {
    match name {
        "TIMEOUT" => c.timeout_ms.to_string(),
        "ON_TIMEOUT" => match c.on_timeout {
            OnTimeout::Return => "return".into(),
            OnTimeout::Fail => "fail".into(),
        },
        "MAXSEARCHRESULTS" => c.max_search_results.to_string(),
        "MAXAGGREGATERESULTS" => c.max_aggregate_results.to_string(),
        _ => c.default_dialect.to_string(),
    }
}

/// `FT.CONFIG GET option|*`, `FT.CONFIG SET option value`, `FT.CONFIG HELP option|*`.
pub fn ft_config(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(st) = state(ctx) else {
        return err("ERR the search plugin is not running");
    };
    let sub = &argv[1];
    let Some(option) = argv.get(2).map(|o| text(o).to_uppercase()) else {
        return err("ERR wrong number of arguments for 'ft.config' command");
    };
    if is(sub, "GET") || is(sub, "HELP") {
        if argv.len() != 3 {
            return err("ERR wrong number of arguments for 'ft.config' command");
        }
        let names: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| option == "*" || *n == option)
            .collect();
        return Reply::Array(
            names
                .into_iter()
                .map(|n| {
                    Reply::Array(vec![
                        Reply::Bulk(Bytes::from(n)),
                        Reply::Bulk(Bytes::from(get(&st.config, n))),
                    ])
                })
                .collect(),
        );
    }
    if !is(sub, "SET") {
        return err("ERR unknown subcommand");
    }
    let Some(value) = argv.get(3).map(|v| text(v)) else {
        return err("ERR wrong number of arguments for 'ft.config' command");
    };
    let num = value.parse::<u64>();
    let c = &mut st.config;
    match (option.as_str(), num) {
        ("TIMEOUT", Ok(n)) => c.timeout_ms = n,
        ("MAXSEARCHRESULTS", Ok(n)) => c.max_search_results = n,
        ("MAXAGGREGATERESULTS", Ok(n)) => c.max_aggregate_results = n,
        ("DEFAULT_DIALECT", Ok(n)) if (1..=4).contains(&n) => c.default_dialect = n as u32,
        ("ON_TIMEOUT", _) if value.eq_ignore_ascii_case("return") => {
            c.on_timeout = OnTimeout::Return
        }
        ("ON_TIMEOUT", _) if value.eq_ignore_ascii_case("fail") => c.on_timeout = OnTimeout::Fail,
        (o, _) if NAMES.contains(&o) => return err("Invalid option value"),
        _ => return err("Invalid option"),
    }
    Reply::ok()
}
