//! protected-mode, as Redis: with no password set, a client that does not connect from a
//! loopback address gets Redis's `-DENIED` explanation and is disconnected.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use crate::engine::SharedState;

/// Redis 7's reply, word for word: clients and operators recognise it.
pub(super) const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected \
mode is enabled and no password is set for the default user. In this mode connections are only \
accepted from the loopback interface. If you want to connect from external computers to Redis \
you may adopt one of the following solutions: 1) Just disable protected mode sending the command \
'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same \
host the server is running, however MAKE SURE Redis is not publicly accessible from internet if \
you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just \
disable the protected mode by editing the Redis configuration file, and setting the protected \
mode option to 'no', and then restarting the server. 3) If you started the server manually just \
for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication \
password for the default user. NOTE: You only need to do one of the above things in order for \
the server to start accepting connections from the outside.\r\n";

/// Whether protected mode turns away a client connecting from `peer`.
pub(super) fn refuses(shared: &SharedState, peer: &SocketAddr) -> bool {
    shared.protected_mode.load(Ordering::Relaxed)
        && !shared.auth_required.load(Ordering::Acquire)
        && !peer.ip().to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_clients_pass_others_are_refused() {
        let shared = SharedState::new(&crate::config::Config::default());
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(!refuses(&shared, &at("127.0.0.1:5000")));
        assert!(!refuses(&shared, &at("127.3.4.5:5000")));
        assert!(!refuses(&shared, &at("[::1]:5000")));
        assert!(!refuses(&shared, &at("[::ffff:127.0.0.1]:5000")));
        assert!(refuses(&shared, &at("192.0.2.7:5000")));
        assert!(refuses(&shared, &at("[2001:db8::1]:5000")));
        shared.auth_required.store(true, Ordering::Release);
        assert!(!refuses(&shared, &at("192.0.2.7:5000")));
        shared.auth_required.store(false, Ordering::Release);
        shared.protected_mode.store(false, Ordering::Relaxed);
        assert!(!refuses(&shared, &at("192.0.2.7:5000")));
    }

    #[test]
    fn the_message_is_one_line() {
        assert!(DENIED.starts_with(b"-DENIED "));
        assert!(DENIED.ends_with(b"outside.\r\n"));
        assert!(!DENIED[..DENIED.len() - 2].contains(&b'\n'));
    }
}
