//! Where users come from and go to: Redis's aclfile format (`user alice on #... ~* +@all`,
//! one user a line) and the TOML file's `[[acl.users]]` entries (`name` and `rules`).

use super::user::{RuleError, User};

/// Parses an aclfile's text. Blank lines and lines starting with `#` are skipped; an error
/// names the line as Redis does (`path:3: Syntax error`), and nothing is loaded then.
pub fn parse_aclfile(
    path: &str,
    text: &str,
    known: super::user::Lookup<'_>,
    allchannels: bool,
) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |msg: &str| format!("{path}:{}: {msg}", n + 1);
        let mut words = line.split_whitespace();
        if words.next() != Some("user") {
            return Err(at("line should start with user keyword"));
        }
        let Some(name) = words.next() else {
            return Err(at("user name missing"));
        };
        if users.iter().any(|u| u.name == name) {
            return Err(at(&format!("duplicate user '{name}' found")));
        }
        let mut user = User::new(name, allchannels);
        user.apply_all(words, known, allchannels)
            .map_err(|(rule, e)| {
                at(&format!(
                    "Error in applying operation '{rule}': {}",
                    e.message()
                ))
            })?;
        users.push(user);
    }
    Ok(users)
}

/// The aclfile text of `users` (ACL SAVE), one line each, in the order given.
pub fn format_aclfile<'a>(users: impl IntoIterator<Item = &'a User>) -> String {
    let mut out = String::new();
    for user in users {
        out.push_str(&user.describe());
        out.push('\n');
    }
    out
}

/// Builds a user of the TOML file from its name and rules. Clear-text passwords (`>`, `<`)
/// are refused there: the file holds hashes (`#<sha256>`) only.
pub fn toml_user(
    name: &str,
    rules: &str,
    known: super::user::Lookup<'_>,
    allchannels: bool,
) -> Result<User, String> {
    if !super::user::valid_name(name.as_bytes()) || name.is_empty() {
        return Err(format!("invalid user name {name:?}"));
    }
    if let Some(rule) = rules
        .split_whitespace()
        .find(|r| r.starts_with('>') || r.starts_with('<'))
    {
        let shown: String = rule.chars().take(1).collect();
        return Err(format!(
            "user '{name}': clear-text password rules ('{shown}...') are not allowed in the \
             configuration file; use '#<sha256 hex>' (ACL GETUSER shows it)"
        ));
    }
    let words: Vec<&str> = rules.split_whitespace().collect();
    let rules = super::user::merge_selectors(&words)
        .map_err(|e| format!("user '{name}': {}", e.trim_start_matches("ERR ")))?;
    let mut user = User::new(name, allchannels);
    user.apply_all(rules.iter().map(String::as_str), known, allchannels)
        .map_err(|(rule, e): (&str, RuleError)| {
            format!("user '{name}': rule '{rule}': {}", e.message())
        })?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> super::super::user::Known {
        use super::super::user::Known;
        match name {
            "get" => Known::Command(super::super::categories::bit("read").unwrap_or(0)),
            "set" => Known::Command(super::super::categories::bit("write").unwrap_or(0)),
            _ => Known::Unknown,
        }
    }

    #[test]
    fn aclfile_round_trip() {
        let text = "# users\n\nuser alice on nopass ~a* &* +@all -set\nuser bob off resetchannels -@all +get\n";
        let users = parse_aclfile("f.acl", text, &known, false).unwrap();
        assert_eq!(users.len(), 2);
        let out = format_aclfile(&users);
        assert_eq!(
            out,
            "user alice on nopass ~a* &* +@all -set\nuser bob off resetchannels -@all +get\n"
        );
        assert_eq!(parse_aclfile("f.acl", &out, &known, false).unwrap(), users);
    }

    #[test]
    fn aclfile_errors_name_the_line() {
        assert_eq!(
            parse_aclfile("f.acl", "user a on\nuser b +nosuch\n", &known, false).unwrap_err(),
            "f.acl:2: Error in applying operation '+nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(
            parse_aclfile("f.acl", "usr a\n", &known, false).unwrap_err(),
            "f.acl:1: line should start with user keyword"
        );
        assert!(parse_aclfile("f.acl", "user a\nuser a\n", &known, false)
            .unwrap_err()
            .contains("duplicate user 'a'"));
    }

    #[test]
    fn toml_users_take_hashes_only() {
        assert!(toml_user("a", "on >secret +@all", &known, false)
            .unwrap_err()
            .contains("clear-text"));
        let hash = super::super::user::hex(&super::super::user::hash_password(b"s"));
        let u = toml_user("a", &format!("on #{hash} ~* +get"), &known, false).unwrap();
        assert!(u.password_ok(b"s"));
        assert!(toml_user("a b", "on", &known, false).is_err());
    }
}
