//! `[acl]`: users defined in the configuration file. The other ACL settings keep Redis's
//! names in the `[redis]` table (`aclfile`, `acllog-max-len`, `acl-pubsub-default`).

use serde::{Deserialize, Serialize};

/// `[acl]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AclConfig {
    /// `[[acl.users]]`: users and their rules, as ACL SETUSER takes them; passwords as
    /// SHA-256 hashes only (`#<hex>`). Not together with an `aclfile`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<AclUser>,
}

/// One `[[acl.users]]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AclUser {
    /// The user name (`default` redefines the default user).
    pub name: String,
    /// Space-separated rules: `on #<sha256> ~app:* &* +@all -@dangerous`.
    #[serde(default)]
    pub rules: String,
}

impl AclConfig {
    /// Problems the file itself shows (the rules are checked against the command table at
    /// start-up).
    pub fn problems(&self) -> Vec<super::Problem> {
        let mut out = Vec::new();
        for (i, user) in self.users.iter().enumerate() {
            let key = format!("acl.users[{i}]");
            if user.name.is_empty() || user.name.contains([' ', '\0']) {
                out.push(super::Problem::new(
                    format!("{key}.name"),
                    format!("expected a user name without spaces, found {:?}", user.name),
                ));
            }
            if user
                .rules
                .split_whitespace()
                .any(|r| r.starts_with('>') || r.starts_with('<'))
            {
                out.push(super::Problem::new(
                    format!("{key}.rules"),
                    "expected passwords as '#<sha256 hex>' only: clear-text '>password' rules \
                     are not allowed in the file"
                        .to_string(),
                ));
            }
        }
        out
    }
}
