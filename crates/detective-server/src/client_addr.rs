//! Which client sent a request: the TCP peer, or, when the peer is one of the
//! configured load balancers (`server.trusted_proxies`), the nearest address in
//! `X-Forwarded-For` that is not one of them. A client cannot choose its own
//! address this way: a header from an untrusted peer is ignored, and entries added
//! by the client itself lie left of the ones the trusted proxies appended.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

/// The client address of the request in `parts` (`unknown` without a peer
/// address, as in tests that call the router directly).
pub fn client_of(parts: &Parts, trusted: &[IpAddr]) -> String {
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return "unknown".into();
    };
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    client_from(peer.ip(), &forwarded, trusted).to_string()
}

/// The client given the peer, the `X-Forwarded-For` entries in order and the
/// trusted proxies.
fn client_from(peer: IpAddr, forwarded: &[&str], trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => client = ip,
            Ok(ip) => return ip,
            // garbage in the header: stop at the last address we could trust
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let trusted = [ip("127.0.0.1")];
        assert_eq!(client_from(ip("10.0.0.9"), &["1.2.3.4"], &trusted), ip("10.0.0.9"));
        assert_eq!(client_from(ip("127.0.0.1"), &["1.2.3.4"], &trusted), ip("1.2.3.4"));
        assert_eq!(client_from(ip("127.0.0.1"), &[], &trusted), ip("127.0.0.1"));
        assert_eq!(client_from(ip("127.0.0.1"), &["1.2.3.4"], &[]), ip("127.0.0.1"));
    }

    #[test]
    fn a_client_cannot_pick_its_address_by_sending_the_header_itself() {
        let trusted = [ip("127.0.0.1"), ip("10.0.0.2")];
        // the client wrote "6.6.6.6"; nginx appended the real peer 5.5.5.5
        assert_eq!(
            client_from(ip("127.0.0.1"), &["6.6.6.6", "5.5.5.5"], &trusted),
            ip("5.5.5.5")
        );
        // two proxies in a row
        assert_eq!(
            client_from(ip("127.0.0.1"), &["6.6.6.6", "5.5.5.5", "10.0.0.2"], &trusted),
            ip("5.5.5.5")
        );
        assert_eq!(
            client_from(ip("127.0.0.1"), &["5.5.5.5", "junk"], &trusted),
            ip("127.0.0.1")
        );
    }
}
