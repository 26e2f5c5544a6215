//! `[commands]`: commands renamed or disabled at start-up, as Redis's `rename-command`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One change: a command's current name, and its new name (`None`: disabled).
pub type CommandChange = (String, Option<String>);

/// `[commands]`: `rename = { CONFIG = "CFG-x9" }` and `disable = ["FLUSHALL"]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// Old name -> new name; the old name then answers as an unknown command. A new name of
    /// `""` disables the command, as in Redis.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
    /// Commands that answer as unknown.
    pub disable: Vec<String>,
}

impl CommandsConfig {
    /// Every change as (old name, new name or `None` to disable), lower-cased, disables
    /// first; the problems (a name listed twice, a bad new name) as messages with their key.
    pub fn changes(&self) -> Result<Vec<CommandChange>, (String, String)> {
        let mut out: Vec<CommandChange> = Vec::new();
        let seen = |out: &Vec<CommandChange>, name: &str| out.iter().any(|(old, _)| old == name);
        for name in &self.disable {
            let old = name.to_ascii_lowercase();
            if old.is_empty() || seen(&out, &old) {
                return Err((
                    "commands.disable".into(),
                    format!("command {name:?} is empty or listed twice"),
                ));
            }
            out.push((old, None));
        }
        for (old, new) in &self.rename {
            let key = format!("commands.rename.{old}");
            let old = old.to_ascii_lowercase();
            if seen(&out, &old) {
                return Err((key, format!("command {old:?} is both disabled and renamed")));
            }
            let new = new.to_ascii_lowercase();
            let valid = new.bytes().all(|b| b.is_ascii_graphic() && b != b'|') && new.len() <= 64;
            if !valid {
                return Err((
                    key,
                    format!(
                        "expected a new command name (printable, no spaces or '|', at most 64 \
                         characters) or \"\" to disable it, found {new:?}"
                    ),
                ));
            }
            if !new.is_empty() && out.iter().any(|(_, n)| n.as_deref() == Some(new.as_str())) {
                return Err((key, format!("two commands are renamed to {new:?}")));
            }
            out.push((old, (!new.is_empty()).then_some(new)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rename: &[(&str, &str)], disable: &[&str]) -> CommandsConfig {
        CommandsConfig {
            rename: rename
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            disable: disable.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn changes_are_lower_case_and_empty_disables() {
        let c = config(&[("CONFIG", "CFG-x9"), ("KEYS", "")], &["FLUSHALL"]);
        assert_eq!(
            c.changes().unwrap(),
            vec![
                ("flushall".to_string(), None),
                ("config".to_string(), Some("cfg-x9".to_string())),
                ("keys".to_string(), None),
            ]
        );
    }

    #[test]
    fn conflicts_are_refused() {
        let key = |c: CommandsConfig| c.changes().unwrap_err().0;
        assert_eq!(key(config(&[], &["GET", "get"])), "commands.disable");
        assert_eq!(
            key(config(&[("GET", "x")], &["GET"])),
            "commands.rename.GET"
        );
        assert_eq!(
            key(config(&[("GET", "same"), ("SET", "same")], &[])),
            "commands.rename.SET"
        );
        assert_eq!(key(config(&[("GET", "a b")], &[])), "commands.rename.GET");
        assert_eq!(key(config(&[("GET", "a|b")], &[])), "commands.rename.GET");
    }
}
