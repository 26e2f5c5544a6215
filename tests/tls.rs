//! TLS on `tls.port`: a CA and certificates made at run time (rcgen), a rustls client
//! speaking RESP, and redis-cli `--tls`; client certificates required / optional / not asked
//! for, plain text on the TLS port, protocol and cipher choices, and reloading the
//! certificate on CONFIG SET and SIGHUP without dropping connected clients.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

use common::{encode, parse_reply, Reply, Server, IO_TIMEOUT};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tempfile::TempDir;

/// A test CA and the files it signs, in a temporary directory.
struct Pki {
    dir: TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        let pki = Pki {
            dir: tempfile::tempdir().expect("temp dir"),
            ca,
            ca_key,
        };
        pki.write("ca.pem", &pki.ca.pem());
        pki
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write PEM file");
        path
    }

    /// A certificate and key signed by this CA, as PEM: for `localhost` and 127.0.0.1 when
    /// `server`, a client certificate otherwise.
    fn issue(&self, cn: &str, server: bool) -> (String, String) {
        let names = if server {
            vec!["localhost".to_string(), "127.0.0.1".to_string()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        (cert.pem(), key.serialize_pem())
    }

    /// Issues a server certificate and writes it as `<stem>.crt` / `<stem>.key`.
    fn server_files(&self, stem: &str, cn: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue(cn, true);
        (
            self.write(&format!("{stem}.crt"), &cert),
            self.write(&format!("{stem}.key"), &key),
        )
    }
}

fn pem_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    rustls_pemfile_like::certs(pem)
}

/// Just enough PEM reading for the tests (the server's own reader is under test).
mod rustls_pemfile_like {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    pub fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM certificates")
    }

    pub fn key(pem: &str) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("PEM key")
    }
}

/// How a test client connects.
#[derive(Default, Clone)]
struct ClientOptions {
    /// (certificate PEM, key PEM) to present.
    cert: Option<(String, String)>,
    /// Only TLS 1.2 or only TLS 1.3; both when `None`.
    only: Option<&'static rustls::SupportedProtocolVersion>,
}

/// A RESP client over rustls.
struct TlsConn {
    stream: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsConn {
    /// Connects and completes the handshake (a refused client certificate may only show on
    /// the first read, with TLS 1.3).
    fn connect(port: u16, ca_pem: &str, options: &ClientOptions) -> io::Result<TlsConn> {
        let mut roots = RootCertStore::empty();
        for cert in pem_certs(ca_pem) {
            roots.add(cert).expect("CA into the root store");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = match options.only {
            Some(v) => vec![v],
            None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .expect("versions")
            .with_root_certificates(roots);
        let config = match &options.cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(pem_certs(cert), rustls_pemfile_like::key(key))
                .expect("client certificate"),
        };
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = ClientConnection::new(Arc::new(config), name).expect("client connection");
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsConn {
            stream,
            buf: Vec::new(),
        })
    }

    fn try_cmd(&mut self, args: &[&str]) -> io::Result<Reply> {
        self.stream.write_all(&encode(args))?;
        self.stream.flush()?;
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, args: &[&str]) -> Reply {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("{args:?} over TLS: {e}"))
    }

    /// The server's leaf certificate.
    fn server_cert(&self) -> Vec<u8> {
        self.stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .expect("server certificate")
    }
}

/// Whether a client with `options` can connect and run PING.
fn ping_works(port: u16, ca_pem: &str, options: &ClientOptions) -> bool {
    match TlsConn::connect(port, ca_pem, options) {
        Ok(mut c) => matches!(c.try_cmd(&["PING"]), Ok(Reply::Simple(s)) if s == "PONG"),
        Err(_) => false,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A server with TLS on a free port, the server certificate `server.crt` of `pki` and its
/// CA, and `extra` lines in `[tls]`; a port taken between choosing and binding it is
/// retried with another.
fn start(pki: &Pki, extra: &str) -> (Server, u16) {
    if !pki.path("server.crt").exists() {
        pki.server_files("server", "respite-test-server");
    }
    let mut last = String::new();
    for _ in 0..10 {
        let port = free_port();
        let config = format!(
            "[tls]\nport = {port}\ncert_file = {:?}\nkey_file = {:?}\nca_cert_file = {:?}\n{extra}\n",
            pki.path("server.crt"),
            pki.path("server.key"),
            pki.path("ca.pem"),
        );
        match Server::builder().memory().config(config).try_start() {
            Ok(server) => return (server, port),
            Err(e) if e.contains("cannot listen") => last = e,
            Err(e) => panic!("server did not start: {e}"),
        }
    }
    panic!("no free TLS port: {last}");
}

fn client_cert(pki: &Pki, cn: &str) -> ClientOptions {
    ClientOptions {
        cert: Some(pki.issue(cn, false)),
        only: None,
    }
}

fn info_field(server: &Server, field: &str) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut server.conn())
        .expect("INFO");
    common::info_field(&info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO has no {field}"))
}

#[test]
fn tls_and_plain_ports_serve_the_same_data() {
    let pki = Pki::new("Respite Test CA");
    let (server, port) = start(&pki, "auth_clients = \"no\"");
    let mut tls = TlsConn::connect(port, &pki.ca_pem(), &ClientOptions::default()).expect("TLS");
    assert_eq!(tls.cmd(&["SET", "k", "over-tls"]), Reply::ok());
    let mut plain = server.conn();
    let v: String = redis::cmd("GET").arg("k").query(&mut plain).expect("GET");
    assert_eq!(v, "over-tls");
    let _: () = redis::cmd("SET")
        .arg("k2")
        .arg("plain")
        .query(&mut plain)
        .expect("SET");
    assert_eq!(tls.cmd(&["GET", "k2"]), Reply::bulk("plain"));
    // CLIENT LIST and INFO see the TLS client like any other.
    assert!(info_field(&server, "tls_handshakes") >= 1);
}

#[test]
fn redis_cli_connects_with_tls() {
    let pki = Pki::new("Respite Test CA");
    let (_server, port) = start(&pki, "auth_clients = \"optional\"");
    let (cert, key) = pki.issue("cli", false);
    let cert = pki.write("cli.crt", &cert);
    let key = pki.write("cli.key", &key);
    let run = |extra: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new("redis-cli")
            .arg("--tls")
            .arg("--cacert")
            .arg(pki.path("ca.pem"))
            .args(extra)
            .args(["-p", &port.to_string(), "SET", "cli", "yes"])
            .output()
            .expect("redis-cli (with TLS support) must be installed for this test");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(run(&[]), "OK");
    assert_eq!(
        run(&[
            "--cert".as_ref(),
            cert.as_os_str(),
            "--key".as_ref(),
            key.as_os_str()
        ]),
        "OK"
    );
}

#[test]
fn client_certificate_required() {
    let pki = Pki::new("Respite Test CA");
    let rogue = Pki::new("Someone Else's CA");
    let (server, port) = start(&pki, "auth_clients = \"yes\"");
    let ca = pki.ca_pem();
    assert!(ping_works(port, &ca, &client_cert(&pki, "alice")));
    assert!(!ping_works(port, &ca, &ClientOptions::default()));
    assert!(!ping_works(port, &ca, &client_cert(&rogue, "mallory")));
    // Refused handshakes leave the server serving.
    assert!(ping_works(port, &ca, &client_cert(&pki, "bob")));
    assert!(info_field(&server, "tls_handshake_failures") >= 2);
}

#[test]
fn client_certificate_optional() {
    let pki = Pki::new("Respite Test CA");
    let rogue = Pki::new("Someone Else's CA");
    let (_server, port) = start(&pki, "auth_clients = \"optional\"");
    let ca = pki.ca_pem();
    assert!(ping_works(port, &ca, &ClientOptions::default()));
    assert!(ping_works(port, &ca, &client_cert(&pki, "alice")));
    // A certificate that is given must still be good.
    assert!(!ping_works(port, &ca, &client_cert(&rogue, "mallory")));
}

#[test]
fn a_client_not_trusting_the_server_certificate_fails() {
    let pki = Pki::new("Respite Test CA");
    let other = Pki::new("Unrelated CA");
    let (_server, port) = start(&pki, "auth_clients = \"no\"");
    assert!(TlsConn::connect(port, &other.ca_pem(), &ClientOptions::default()).is_err());
    assert!(ping_works(port, &pki.ca_pem(), &ClientOptions::default()));
}

#[test]
fn plain_text_and_garbage_on_the_tls_port_are_closed_cleanly() {
    let pki = Pki::new("Respite Test CA");
    let (server, port) = start(&pki, "auth_clients = \"no\"");
    for junk in [
        &b"*1\r\n$4\r\nPING\r\n"[..],
        b"PING\r\n",
        b"\x16\x03\x01\x00\x05garbage-handshake",
        &[0xffu8; 300][..],
    ] {
        let mut raw = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        raw.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        raw.write_all(junk).expect("send");
        let mut rest = Vec::new();
        // The server answers with at most a TLS alert and closes; it never answers RESP.
        let _ = raw.read_to_end(&mut rest);
        assert!(!rest.starts_with(b"+PONG"), "{rest:?}");
    }
    // Garbage after a completed handshake: a protocol error, then the server goes on.
    let mut tls = TlsConn::connect(port, &pki.ca_pem(), &ClientOptions::default()).expect("TLS");
    tls.stream.write_all(b"*1\r\n$-5\r\n").expect("send");
    tls.stream.flush().expect("flush");
    let mut rest = Vec::new();
    let _ = tls.stream.read_to_end(&mut rest);
    assert!(
        String::from_utf8_lossy(&rest).starts_with("-ERR Protocol error"),
        "{rest:?}"
    );
    assert!(ping_works(port, &pki.ca_pem(), &ClientOptions::default()));
    assert_eq!(common::ping_fresh(&server), Reply::simple("PONG"));
    assert!(info_field(&server, "tls_handshake_failures") >= 4);
}

#[test]
fn protocols_and_cipher_suites() {
    let pki = Pki::new("Respite Test CA");
    let (server, port) = start(
        &pki,
        "auth_clients = \"no\"\nprotocols = \"TLSv1.2\"\nciphers = \"ECDHE-ECDSA-CHACHA20-POLY1305\"",
    );
    let ca = pki.ca_pem();
    let only = |v: &'static rustls::SupportedProtocolVersion| ClientOptions {
        cert: None,
        only: Some(v),
    };
    assert!(!ping_works(port, &ca, &only(&rustls::version::TLS13)));
    let c = TlsConn::connect(port, &ca, &only(&rustls::version::TLS12)).expect("TLS 1.2");
    assert_eq!(
        c.stream.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        format!(
            "{:?}",
            c.stream
                .conn
                .negotiated_cipher_suite()
                .expect("suite")
                .suite()
        ),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
    );

    let mut admin = server.conn();
    let set = |con: &mut redis::Connection, name: &str, value: &str| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query::<()>(con)
            .map_err(|e| common::err_text(&e))
    };
    set(&mut admin, "tls-protocols", "TLSv1.3").expect("tls-protocols");
    set(
        &mut admin,
        "tls-ciphersuites",
        "TLS_CHACHA20_POLY1305_SHA256",
    )
    .expect("tls-ciphersuites");
    assert!(!ping_works(port, &ca, &only(&rustls::version::TLS12)));
    let c = TlsConn::connect(port, &ca, &only(&rustls::version::TLS13)).expect("TLS 1.3");
    assert_eq!(
        format!(
            "{:?}",
            c.stream
                .conn
                .negotiated_cipher_suite()
                .expect("suite")
                .suite()
        ),
        "TLS13_CHACHA20_POLY1305_SHA256"
    );

    let e = set(&mut admin, "tls-ciphersuites", "HIGH:!aNULL").expect_err("bad suite");
    assert!(
        e.contains("possibly related to argument 'tls-ciphersuites'") && e.contains("HIGH"),
        "{e}"
    );
    let e = set(&mut admin, "tls-protocols", "TLSv1.1").expect_err("old protocol");
    assert!(e.contains("TLSv1.1"), "{e}");
    let e = set(&mut admin, "tls-auth-clients", "sometimes").expect_err("bad value");
    assert_eq!(
        e,
        "ERR CONFIG SET failed (possibly related to argument 'tls-auth-clients') - argument(s) \
         must be one of the following: no, yes, optional"
    );
    // Failed changes left the working setup in place.
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("tls-ciphersuites")
        .query(&mut admin)
        .expect("CONFIG GET");
    assert_eq!(v, ["tls-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]);
    assert!(ping_works(port, &ca, &only(&rustls::version::TLS13)));
}

#[test]
fn config_set_reloads_the_certificate_and_keeps_clients() {
    let pki = Pki::new("Respite Test CA");
    let (server, port) = start(&pki, "auth_clients = \"optional\"");
    let ca = pki.ca_pem();
    let mut before = TlsConn::connect(port, &ca, &client_cert(&pki, "early")).expect("TLS");
    assert_eq!(before.cmd(&["SET", "k", "1"]), Reply::ok());
    let first_cert = before.server_cert();

    let (cert, key) = pki.server_files("renewed", "respite-renewed");
    let mut admin = server.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-cert-file")
        .arg(cert.to_str().unwrap())
        .arg("tls-key-file")
        .arg(key.to_str().unwrap())
        .query(&mut admin)
        .expect("CONFIG SET tls-cert-file");
    let after = TlsConn::connect(port, &ca, &ClientOptions::default()).expect("TLS");
    let renewed = after.server_cert();
    assert_ne!(renewed, first_cert);
    assert_eq!(
        renewed,
        pem_certs(&std::fs::read_to_string(&cert).unwrap())[0].to_vec()
    );
    // The client connected before the reload is still served.
    assert_eq!(before.cmd(&["INCR", "k"]), Reply::Int(2));

    // A file that cannot be used fails CONFIG SET and changes nothing.
    let e = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-cert-file")
        .arg(pki.path("missing.crt").to_str().unwrap())
        .query::<()>(&mut admin)
        .map_err(|e| common::err_text(&e))
        .expect_err("missing file");
    assert!(
        e.starts_with(
            "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to \
             update TLS configuration"
        ),
        "{e}"
    );
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("tls-cert-file")
        .query(&mut admin)
        .expect("CONFIG GET");
    assert_eq!(v[1], cert.display().to_string());
    let again = TlsConn::connect(port, &ca, &ClientOptions::default()).expect("TLS");
    assert_eq!(again.server_cert(), renewed);

    // Requiring client certificates applies to new clients only.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("tls-auth-clients")
        .arg("yes")
        .query(&mut admin)
        .expect("CONFIG SET tls-auth-clients");
    assert!(!ping_works(port, &ca, &ClientOptions::default()));
    assert!(ping_works(port, &ca, &client_cert(&pki, "late")));
    assert_eq!(before.cmd(&["GET", "k"]), Reply::bulk("2"));
}

#[test]
fn sighup_rereads_certificate_files_in_place() {
    let pki = Pki::new("Respite Test CA");
    let (server, port) = start(&pki, "auth_clients = \"no\"");
    let ca = pki.ca_pem();
    let mut before = TlsConn::connect(port, &ca, &ClientOptions::default()).expect("TLS");
    let first_cert = before.server_cert();
    // Renewed in place, as certbot and friends do.
    let (cert, key) = pki.issue("respite-rotated", true);
    pki.write("server.crt", &cert);
    pki.write("server.key", &key);
    let rotated = pem_certs(&cert)[0].to_vec();
    assert_ne!(rotated, first_cert);
    server.signal(libc::SIGHUP);
    common::wait_until("the rotated certificate", IO_TIMEOUT, || {
        TlsConn::connect(port, &ca, &ClientOptions::default())
            .map(|c| c.server_cert() == rotated)
            .unwrap_or(false)
    });
    assert_eq!(before.cmd(&["PING"]), Reply::simple("PONG"));
    assert!(server.stderr().contains("TLS certificates reloaded"));
}

#[test]
fn unusable_certificate_files_stop_startup_with_exit_code_5() {
    let pki = Pki::new("Respite Test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("respite.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\nport = {}\ncert_file = {:?}\nkey_file = {:?}\nauth_clients = \"no\"\n",
            free_port(),
            pki.path("nope.crt"),
            pki.path("nope.key"),
        ),
    )
    .expect("config");
    let out = common::run_respite(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--port",
            "0",
            "--db",
            ":memory:",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(5), "{}", common::output_text(&out));
    let text = common::output_text(&out);
    assert!(
        text.contains("cannot set up TLS") && text.contains("nope.crt"),
        "{text}"
    );

    // auth_clients = "yes" (the default) without a CA is a configuration error.
    std::fs::write(
        &config,
        format!(
            "[tls]\nport = {}\ncert_file = {:?}\nkey_file = {:?}\n",
            free_port(),
            pki.path("ca.pem"),
            pki.path("ca.pem"),
        ),
    )
    .expect("config");
    let out = common::run_respite(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", common::output_text(&out));
    assert!(common::output_text(&out).contains("tls.ca_cert_file"));
}

#[test]
fn ca_certificates_from_a_directory() {
    let pki = Pki::new("Respite Test CA");
    let other = Pki::new("Second Trusted CA");
    let rogue = Pki::new("Untrusted CA");
    let cas = tempfile::tempdir().expect("temp dir");
    std::fs::write(cas.path().join("first.pem"), pki.ca_pem()).unwrap();
    std::fs::write(cas.path().join("second.pem"), other.ca_pem()).unwrap();
    // OpenSSL-style directories hold other files too.
    std::fs::write(cas.path().join("README"), "not a certificate").unwrap();
    pki.server_files("server", "respite-test-server");
    let (_server, port) = start(
        &pki,
        &format!("auth_clients = \"yes\"\nca_cert_dir = {:?}", cas.path()),
    );
    // start() also names ca.pem as ca_cert_file; both sources are trusted.
    let ca = pki.ca_pem();
    assert!(ping_works(port, &ca, &client_cert(&pki, "from-first")));
    assert!(ping_works(port, &ca, &client_cert(&other, "from-second")));
    assert!(!ping_works(port, &ca, &client_cert(&rogue, "mallory")));
}
