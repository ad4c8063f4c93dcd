//! Who the client is: the peer address, or the address a trusted reverse proxy names in
//! `X-Forwarded-For`. Addresses are compared, and returned, in one form: an IPv4-mapped IPv6
//! address (`::ffff:192.0.2.1`, the peer of an IPv4 client on a `[::]` listener) is the IPv4
//! address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::HttpRequest;

use crate::network::IpNetwork;

/// The client's address: the peer, or, when the peer is in a `trusted` network, the
/// right-most hop of `X-Forwarded-For` that is not. A hop that is no address (`unknown`, an
/// obfuscated name, a malformed port) stops the walk and the peer is the client: nothing to
/// its left can be trusted, and an attacker who sends garbage shares the proxy's allowance
/// instead of getting a fresh one with each request.
pub(super) fn client_address(req: &HttpRequest, trusted: &[IpNetwork]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(Ipv4Addr::UNSPECIFIED.into(), |peer| {
            peer.ip().to_canonical()
        });
    let is_trusted = |address: IpAddr| trusted.iter().any(|network| network.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in forwarded.iter().rev() {
        match hop_address(hop) {
            Some(address) if is_trusted(address) => continue,
            Some(address) => return address,
            None => return peer,
        }
    }
    peer
}

/// The address of one `X-Forwarded-For` hop: an address, IPv4 with a port
/// (`192.0.2.1:51234`), or IPv6 in brackets with or without one (`[2001:db8::1]:443`); an
/// IPv4-mapped address as IPv4. `None` for anything else, a zone (`fe80::1%eth0`) included.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let address = if let Some(bracketed) = hop.strip_prefix('[') {
        let (v6, rest) = bracketed.split_once(']')?;
        if !(rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(address) = hop.parse::<IpAddr>() {
        address
    } else {
        let (v4, port) = hop.split_once(':')?;
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(v4.parse::<Ipv4Addr>().ok()?)
    };
    Some(address.to_canonical())
}

/// Whether `text` is a port number, in digits only.
fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn hops_with_a_port_or_brackets_are_their_address() {
        for (hop, address) in [
            ("203.0.113.7", "203.0.113.7"),
            (" 203.0.113.7:51234 ", "203.0.113.7"),
            ("203.0.113.7:0", "203.0.113.7"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("[::ffff:203.0.113.7]:8080", "203.0.113.7"),
        ] {
            assert_eq!(hop_address(hop), ip(address), "{hop}");
        }
    }

    #[test]
    fn a_hop_that_is_no_address_is_none() {
        for hop in [
            "",
            "unknown",
            "_hidden",
            "203.0.113.7:",
            "203.0.113.7:http",
            "203.0.113.7:+80",
            "203.0.113.7:65536",
            "203.0.113.7:80:80",
            "[203.0.113.7]:80",
            "[2001:db8::1",
            "2001:db8::1]:443",
            "[2001:db8::1]443",
            "[2001:db8::1]:",
            "fe80::1%eth0",
            "[fe80::1%1]:80",
            "example.com:80",
        ] {
            assert_eq!(hop_address(hop), None, "{hop:?}");
        }
    }
}
