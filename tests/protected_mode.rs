//! protected-mode: with no password, a client connecting from a non-loopback address gets
//! Redis's `-DENIED` text, byte for byte as redis-server 7.0.15 sends it, and is
//! disconnected; CONFIG SET protected-mode and requirepass change that at once.
//!
//! The non-loopback client is this test itself, connecting to one of the machine's own
//! non-loopback addresses (the kernel then uses that address as the source too).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};

use common::redis_server::RedisServer;
use common::{Server, IO_TIMEOUT};

/// One of this machine's addresses that is not a loopback one (IPv4 preferred; IPv6
/// link-local ones need a scope and are skipped).
fn non_loopback_ip() -> IpAddr {
    let mut found: Vec<IpAddr> = Vec::new();
    // SAFETY: getifaddrs fills a list that we only read and then free with freeifaddrs.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        assert_eq!(libc::getifaddrs(&mut list), 0, "getifaddrs failed");
        let mut cur = list;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match (*addr).sa_family as i32 {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        found.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        found.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    let usable = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified(),
        IpAddr::V6(v6) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    };
    found
        .iter()
        .copied()
        .filter(usable)
        .min_by_key(|ip| ip.is_ipv6())
        .expect("this test needs a network interface with a non-loopback address")
}

/// What a client connecting from `ip` to `addr` receives before the server closes (or, if
/// it does not close, what PING gets).
fn first_words(addr: SocketAddr, ip: IpAddr) -> Vec<u8> {
    // Connecting to one of the machine's own addresses makes it the source address too.
    assert_eq!(addr.ip(), ip);
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(b"PING\r\n").expect("send");
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.ends_with(b"\r\n") && !out.starts_with(b"-DENIED") {
                    break; // an ordinary reply: the connection stays open
                }
            }
        }
    }
    out
}

/// The address Respite listens on for `ip` (its second bind address).
fn listening_on(server: &Server, ip: IpAddr) -> SocketAddr {
    let mut found = None;
    common::wait_until("the second Ready line", IO_TIMEOUT, || {
        found = server
            .stderr()
            .lines()
            .filter_map(common::parse_ready_line)
            .find(|a| a.ip() == ip);
        found.is_some()
    });
    found.unwrap()
}

fn config_set(server: &Server, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(&mut server.conn())
        .expect("CONFIG SET");
}

#[test]
fn remote_clients_are_denied_as_redis_does() {
    let ip = non_loopback_ip();
    let bind = format!("127.0.0.1 {ip}");
    let server = Server::builder().bind(bind.clone()).start();
    let remote = listening_on(&server, ip);
    let redis = RedisServer::start_with(&["--bind", &bind]);

    let ours = first_words(remote, ip);
    let theirs = first_words(SocketAddr::new(ip, redis.port()), ip);
    assert!(ours.starts_with(b"-DENIED Redis is running in protected mode"));
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
    // Loopback clients are served.
    assert_eq!(common::ping_fresh(&server), common::Reply::simple("PONG"));

    config_set(&server, "protected-mode", "no");
    assert_eq!(first_words(remote, ip), b"+PONG\r\n");
    config_set(&server, "protected-mode", "yes");
    assert!(first_words(remote, ip).starts_with(b"-DENIED"));
    // With a password, remote clients connect (and must authenticate).
    config_set(&server, "requirepass", "secret");
    assert!(first_words(remote, ip).starts_with(b"-NOAUTH"));
}

#[test]
fn protected_mode_off_in_the_file() {
    let ip = non_loopback_ip();
    let server = Server::builder()
        .bind(format!("127.0.0.1 {ip}"))
        .config("[server]\nprotected_mode = false\n")
        .start();
    let remote = listening_on(&server, ip);
    assert_eq!(first_words(remote, ip), b"+PONG\r\n");
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("protected-mode")
        .query(&mut server.conn())
        .expect("CONFIG GET");
    assert_eq!(v, ["protected-mode", "no"]);
}
