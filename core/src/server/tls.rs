//! TLS on `tls.port` (Redis's `tls-*` parameters) with rustls: the server certificate and key,
//! client certificates checked against a CA (`tls-auth-clients` yes / no / optional), the
//! protocol versions and cipher suites by OpenSSL's names. The setup is rebuilt from the files
//! on CONFIG SET of a `tls-*` parameter and on SIGHUP; connected clients keep their sessions,
//! new handshakes use the new setup.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use tokio_rustls::TlsAcceptor;

use crate::config::{parse_protocols, TlsAuthClients, TlsConfig};

/// Why the TLS setup could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

fn err(message: impl Into<String>) -> TlsError {
    TlsError(message.into())
}

/// The running TLS setup, shared by the TLS listeners and the reload paths.
pub(crate) struct Tls {
    acceptor: RwLock<TlsAcceptor>,
    /// The settings the current setup was built from (SIGHUP rebuilds from them).
    settings: Mutex<TlsConfig>,
}

impl Tls {
    /// Builds the setup from the files `config` names.
    pub(crate) fn new(config: &TlsConfig) -> Result<Tls, TlsError> {
        let acceptor = TlsAcceptor::from(Arc::new(server_config(config)?));
        Ok(Tls {
            acceptor: RwLock::new(acceptor),
            settings: Mutex::new(config.clone()),
        })
    }

    /// The acceptor for the next handshake.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.acceptor
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Rebuilds the setup from `config` (CONFIG SET); on failure the current one stays.
    pub(crate) fn reload(&self, config: &TlsConfig) -> Result<(), TlsError> {
        let acceptor = TlsAcceptor::from(Arc::new(server_config(config)?));
        *self
            .acceptor
            .write()
            .unwrap_or_else(PoisonError::into_inner) = acceptor;
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = config.clone();
        Ok(())
    }

    /// Re-reads the certificate, key and CA files of the current settings (SIGHUP), for
    /// certificates renewed in place.
    pub(crate) fn reload_files(&self) -> Result<(), TlsError> {
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.reload(&settings)
    }
}

/// rustls's server configuration for `config`.
fn server_config(config: &TlsConfig) -> Result<ServerConfig, TlsError> {
    let (v12, v13) = parse_protocols(&config.protocols).map_err(err)?;
    let base = ring::default_provider();
    let suites = choose_suites(&base.cipher_suites, config, v12, v13)?;
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..base
    });
    let mut versions = Vec::new();
    if v13 {
        versions.push(&rustls::version::TLS13);
    }
    if v12 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| err(format!("tls-protocols: {e}")))?;
    let builder = match config.auth_clients {
        TlsAuthClients::No => builder.with_no_client_auth(),
        mode => {
            let roots = load_roots(config)?;
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if mode == TlsAuthClients::Optional {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| err(format!("client certificate verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let certs = load_certs(Path::new(&config.cert_file), "tls-cert-file")?;
    let key = load_key(Path::new(&config.key_file))?;
    let mut server = builder
        .with_single_cert(certs, key)
        .map_err(|e| err(format!("tls-cert-file / tls-key-file: {e}")))?;
    server.ignore_client_order = config.prefer_server_ciphers;
    Ok(server)
}

/// OpenSSL's names for the suites rustls offers, with rustls's (IANA) names.
const SUITE_NAMES: &[(&str, &str)] = &[
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The suites to offer: TLS 1.3 ones as `tls-ciphersuites` lists them, TLS 1.2 ones as
/// `tls-ciphers` does (each empty = all), in the order listed.
fn choose_suites(
    all: &[SupportedCipherSuite],
    config: &TlsConfig,
    v12: bool,
    v13: bool,
) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let is13 = |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_));
    let mut out = Vec::new();
    for (list, param, tls13) in [
        (&config.ciphersuites, "tls-ciphersuites", true),
        (&config.ciphers, "tls-ciphers", false),
    ] {
        let of_version: Vec<SupportedCipherSuite> =
            all.iter().copied().filter(|s| is13(s) == tls13).collect();
        if list.trim().is_empty() {
            out.extend(of_version);
            continue;
        }
        for name in list.split(':').map(str::trim).filter(|n| !n.is_empty()) {
            let iana = SUITE_NAMES
                .iter()
                .find(|(openssl, rustls)| {
                    openssl.eq_ignore_ascii_case(name) || rustls.eq_ignore_ascii_case(name)
                })
                .map(|(_, rustls)| *rustls);
            let suite = iana.and_then(|iana| {
                of_version
                    .iter()
                    .find(|s| format!("{:?}", s.suite()) == iana)
                    .copied()
            });
            match suite {
                Some(s) if !out.contains(&s) => out.push(s),
                Some(_) => {}
                None => {
                    let known: Vec<&str> = SUITE_NAMES
                        .iter()
                        .filter(|(_, r)| r.starts_with("TLS13_") == tls13)
                        .map(|(o, _)| *o)
                        .collect();
                    return Err(err(format!(
                        "{param}: unknown or unsupported cipher '{name}' (supported: {})",
                        known.join(":")
                    )));
                }
            }
        }
    }
    let usable = out.iter().any(|s| (is13(s) && v13) || (!is13(s) && v12));
    if !usable {
        return Err(err(
            "tls-ciphersuites / tls-ciphers leave no cipher for the protocols of tls-protocols",
        ));
    }
    Ok(out)
}

fn open(path: &Path, param: &str) -> Result<BufReader<File>, TlsError> {
    if path.as_os_str().is_empty() {
        return Err(err(format!("{param} is not set")));
    }
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| err(format!("{param} {}: {e}", path.display())))
}

fn load_certs(path: &Path, param: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut reader = open(path, param)?;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("{param} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(err(format!(
            "{param} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let param = "tls-key-file";
    let mut reader = open(path, param)?;
    rustls_pemfile::private_key(&mut reader)
        .map_err(|e| err(format!("{param} {}: {e}", path.display())))?
        .ok_or_else(|| {
            err(format!(
                "{param} {}: no unencrypted PEM private key in it",
                path.display()
            ))
        })
}

/// The CA certificates of `tls-ca-cert-file` and of every file in `tls-ca-cert-dir`.
fn load_roots(config: &TlsConfig) -> Result<RootCertStore, TlsError> {
    let mut certs = Vec::new();
    if !config.ca_cert_file.is_empty() {
        certs.extend(load_certs(
            Path::new(&config.ca_cert_file),
            "tls-ca-cert-file",
        )?);
    }
    if !config.ca_cert_dir.is_empty() {
        let dir = Path::new(&config.ca_cert_dir);
        let entries = std::fs::read_dir(dir)
            .map_err(|e| err(format!("tls-ca-cert-dir {}: {e}", dir.display())))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths.iter().filter(|p| p.is_file()) {
            // OpenSSL's hashed directories hold other files too: those without a
            // certificate are passed over.
            if let Ok(found) = load_certs(path, "tls-ca-cert-dir") {
                certs.extend(found);
            }
        }
    }
    if certs.is_empty() {
        return Err(err(
            "tls-auth-clients is not 'no' but tls-ca-cert-file and tls-ca-cert-dir hold no CA \
             certificate",
        ));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| err(format!("CA certificate: {e}")))?;
    }
    Ok(roots)
}
