//! `[tls]`: TLS on a port of its own beside the plain one, with Redis's `tls-*` parameters.
//! The certificates themselves are read by the server (`server::tls`); this is only what the
//! file and CONFIG SET say.

use serde::{Deserialize, Serialize};

/// Whether TLS clients must present a certificate (`tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsAuthClients {
    /// A client without a certificate signed by the CA is refused (Redis's default).
    #[default]
    Yes,
    /// No certificate is asked for.
    No,
    /// A certificate is asked for and checked when given, but not required.
    Optional,
}

impl TlsAuthClients {
    /// Every value, as CONFIG's error message lists them.
    pub const NAMES: [&'static str; 3] = ["no", "yes", "optional"];

    /// Redis's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsAuthClients::Yes => "yes",
            TlsAuthClients::No => "no",
            TlsAuthClients::Optional => "optional",
        }
    }

    /// From Redis's spelling (case-insensitive).
    pub fn parse(v: &str) -> Option<Self> {
        match v.to_ascii_lowercase().as_str() {
            "yes" => Some(TlsAuthClients::Yes),
            "no" => Some(TlsAuthClients::No),
            "optional" => Some(TlsAuthClients::Optional),
            _ => None,
        }
    }
}

/// `[tls]`: TLS settings; `port = 0` (the default) serves no TLS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Port for TLS connections on every `server.bind` address (`tls-port`); 0 = no TLS.
    pub port: u16,
    /// The server's certificate chain, PEM (`tls-cert-file`).
    pub cert_file: String,
    /// The server certificate's private key, PEM, unencrypted (`tls-key-file`).
    pub key_file: String,
    /// CA certificates (PEM) that client certificates must chain to (`tls-ca-cert-file`).
    pub ca_cert_file: String,
    /// A directory of CA certificates, every PEM file in it (`tls-ca-cert-dir`).
    pub ca_cert_dir: String,
    /// Whether clients must present a certificate: yes, no or optional (`tls-auth-clients`).
    pub auth_clients: TlsAuthClients,
    /// Protocol versions allowed, space-separated: `TLSv1.2`, `TLSv1.3`; empty = both
    /// (`tls-protocols`).
    pub protocols: String,
    /// TLS 1.3 cipher suites, colon-separated OpenSSL names such as
    /// `TLS_AES_256_GCM_SHA384`; empty = all that rustls offers (`tls-ciphersuites`).
    pub ciphersuites: String,
    /// TLS 1.2 ciphers, colon-separated OpenSSL names such as `ECDHE-RSA-AES256-GCM-SHA384`;
    /// empty = all that rustls offers (`tls-ciphers`).
    pub ciphers: String,
    /// Choose the cipher by the server's order rather than the client's
    /// (`tls-prefer-server-ciphers`).
    pub prefer_server_ciphers: bool,
}

/// The protocol versions `tls-protocols` names, as (TLS 1.2 allowed, TLS 1.3 allowed); an
/// empty value allows both. TLSv1 and TLSv1.1 are refused: rustls does not speak them.
pub fn parse_protocols(value: &str) -> Result<(bool, bool), String> {
    let mut v12 = false;
    let mut v13 = false;
    for word in value.split_ascii_whitespace() {
        match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => v12 = true,
            "tlsv1.3" => v13 = true,
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "{word} is not supported (only TLSv1.2 and TLSv1.3 are)"
                ))
            }
            _ => return Err(format!("invalid tls-protocols value '{word}'")),
        }
    }
    if !v12 && !v13 {
        return Ok((true, true));
    }
    Ok((v12, v13))
}

impl TlsConfig {
    /// Whether a TLS port is configured.
    pub fn enabled(&self) -> bool {
        self.port != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        assert_eq!(parse_protocols(""), Ok((true, true)));
        assert_eq!(parse_protocols("TLSv1.2"), Ok((true, false)));
        assert_eq!(parse_protocols("tlsv1.3"), Ok((false, true)));
        assert_eq!(parse_protocols(" TLSv1.2  TLSv1.3 "), Ok((true, true)));
        assert!(parse_protocols("TLSv1.1")
            .unwrap_err()
            .contains("not supported"));
        assert!(parse_protocols("SSLv3").unwrap_err().contains("SSLv3"));
    }

    #[test]
    fn auth_clients_names() {
        for name in TlsAuthClients::NAMES {
            assert_eq!(TlsAuthClients::parse(name).map(|v| v.as_str()), Some(name));
        }
        assert_eq!(TlsAuthClients::parse("YES"), Some(TlsAuthClients::Yes));
        assert_eq!(TlsAuthClients::parse("maybe"), None);
    }
}
