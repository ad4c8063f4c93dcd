//! IP networks (`10.0.0.0/8`, `fd00::/8`, or one address), as `trusted_proxies` lists them.

use std::fmt;
use std::net::IpAddr;

/// An IP network: an address and how many of its leading bits every member shares. One address
/// is a network of all its bits (`/32`, `/128`). An entry of
/// [`RawServerConfig::trusted_proxies`](crate::RawServerConfig::trusted_proxies) becomes one.
///
/// ```
/// use auth_server::RawServerConfig;
///
/// let config = RawServerConfig {
///     audience: "api".into(),
///     trusted_proxies: vec!["10.0.0.0/8".into(), "fd00::1".into()],
///     ..RawServerConfig::default()
/// }
/// .validate()?;
/// let proxies = config.trusted_proxies();
/// assert!(proxies[0].contains("10.1.2.3".parse()?));
/// // An IPv4-mapped IPv6 address is the IPv4 address it maps.
/// assert!(proxies[0].contains("::ffff:10.1.2.3".parse()?));
/// assert!(!proxies[0].contains("11.0.0.1".parse()?));
/// assert_eq!(proxies[1].to_string(), "fd00::1/128");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    address: IpAddr,
    prefix_len: u8,
}

/// Why a text is not an [`IpNetwork`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetworkError {
    /// Neither an address nor `address/prefix length`.
    NotANetwork,
    /// The prefix length is longer than the address (32 bits for IPv4, 128 for IPv6).
    PrefixTooLong {
        /// The longest there is.
        max: u8,
    },
    /// The address has bits set past the prefix length: the network meant is this one.
    HostBitsSet {
        /// The network with those bits cleared.
        network: IpNetwork,
    },
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::NotANetwork => f.write_str("is neither an IP address nor a network"),
            NetworkError::PrefixTooLong { max } => write!(f, "has a prefix length over {max}"),
            NetworkError::HostBitsSet { network } => {
                write!(f, "has address bits set past its prefix; write {network}")
            }
        }
    }
}

impl IpNetwork {
    /// Reads `10.0.0.5`, `10.0.0.0/8`, `fd00::1` or `fd00::/8`. The address must have no bits
    /// set past the prefix length (`10.0.0.1/8` is refused): such a typo would trust a whole
    /// network where one host was meant.
    pub(crate) fn parse(text: &str) -> Result<IpNetwork, NetworkError> {
        let (address, prefix_len) = match text.split_once('/') {
            Some((address, prefix_len)) => (address, Some(prefix_len)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| NetworkError::NotANetwork)?;
        let max = bits(address);
        let prefix_len = match prefix_len {
            None => max,
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                match digits.parse::<u8>() {
                    Ok(len) if len <= max => len,
                    _ => return Err(NetworkError::PrefixTooLong { max }),
                }
            }
            Some(_) => return Err(NetworkError::NotANetwork),
        };
        let network = IpNetwork {
            address: masked(address, prefix_len),
            prefix_len,
        };
        if network.address != address {
            return Err(NetworkError::HostBitsSet { network });
        }
        Ok(network)
    }

    /// The first address of the network.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// How many leading bits the members share: 32 (IPv4) or 128 (IPv6) for one address.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `address` is in the network. IPv4 addresses and their IPv4-mapped IPv6 form
    /// (`::ffff:10.0.0.1`) are one: each is in an IPv4 network that holds the other, and in an
    /// IPv6 network (such as `::ffff:0:0/96`) that holds the mapped form.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match (self.address, address.to_canonical()) {
            (IpAddr::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            (_, address) => address,
        };
        bits(address) == bits(self.address) && masked(address, self.prefix_len) == self.address
    }
}

/// Shown as `address/prefix length`, also for one address (`10.0.0.5/32`).
impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// The length of `address` in bits.
fn bits(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `address` with every bit past the first `prefix_len` cleared.
fn masked(address: IpAddr, prefix_len: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(text: &str) -> IpNetwork {
        IpNetwork::parse(text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_hold_the_addresses_under_their_prefix() {
        let private = network("10.0.0.0/8");
        assert!(private.contains(ip("10.0.0.0")));
        assert!(private.contains(ip("10.255.255.255")));
        assert!(!private.contains(ip("11.0.0.0")));
        assert!(!private.contains(ip("9.255.255.255")));
        let ula = network("fd00::/8");
        assert!(ula.contains(ip("fd12:3456::1")));
        assert!(!ula.contains(ip("fc00::1")));
        assert!(!ula.contains(ip("10.0.0.1")));
        assert!(!private.contains(ip("fd00::1")));
        let one = network("192.0.2.7");
        assert_eq!(one.prefix_len(), 32);
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        assert!(network("0.0.0.0/0").contains(ip("203.0.113.1")));
        assert!(network("::/0").contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv4_mapped_addresses_are_the_ipv4_address_on_either_side() {
        assert!(network("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(network("127.0.0.0/8").contains(ip("::ffff:127.9.9.9")));
        assert!(network("::ffff:127.0.0.1").contains(ip("127.0.0.1")));
        assert!(network("::ffff:0:0/96").contains(ip("203.0.113.1")));
        assert!(network("::/0").contains(ip("203.0.113.1")));
        assert!(!network("::ffff:127.0.0.1").contains(ip("127.0.0.2")));
        assert!(!network("::1").contains(ip("127.0.0.1")));
    }

    #[test]
    fn a_text_that_is_no_network_says_why() {
        for text in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "proxy",
            "10.0.0",
        ] {
            assert_eq!(
                IpNetwork::parse(text),
                Err(NetworkError::NotANetwork),
                "{text}"
            );
        }
        assert_eq!(
            IpNetwork::parse("10.0.0.0/33"),
            Err(NetworkError::PrefixTooLong { max: 32 })
        );
        assert_eq!(
            IpNetwork::parse("::/300"),
            Err(NetworkError::PrefixTooLong { max: 128 })
        );
        assert_eq!(
            IpNetwork::parse("10.0.0.1/8"),
            Err(NetworkError::HostBitsSet {
                network: network("10.0.0.0/8")
            })
        );
    }
}
