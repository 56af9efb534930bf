//! The client's address, believing `X-Forwarded-For` only from proxies the operator lists.
//!
//! `X-Forwarded-For` is written by whoever sends the request. Read naively (its leftmost
//! entry), any client can claim any address: dodge a per-client rate limit, or put an
//! arbitrary string on a span. [`TrustedProxies`] implements the usual rule: start from the
//! TCP peer; while the hop that handed us the request is a trusted proxy, step one entry left
//! in `X-Forwarded-For`. The first untrusted hop is the client. With no proxies configured
//! (the default) the header is ignored and the client is the peer.
//!
//! The result is always a parsed [`IpAddr`], never header text, and at most
//! [`MAX_FORWARDED_HOPS`] entries are examined, so the work per request is bounded whatever
//! the header holds.
//!
//! ```
//! use std::net::IpAddr;
//! use http::HeaderMap;
//! use obs_axum::TrustedProxies;
//!
//! let proxies: TrustedProxies = "10.0.0.0/8, 127.0.0.1".parse()?;
//! let mut headers = HeaderMap::new();
//! headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3".parse()?);
//!
//! // Through our proxies: the first hop they did not add is the client (the spoofed
//! // 6.6.6.6 is left of it and never read).
//! let peer: IpAddr = "127.0.0.1".parse()?;
//! assert_eq!(proxies.client_ip(Some(peer), &headers), Some("203.0.113.7".parse()?));
//!
//! // Straight from the internet: the header is the client's own claim and is ignored.
//! let peer: IpAddr = "198.51.100.9".parse()?;
//! assert_eq!(proxies.client_ip(Some(peer), &headers), Some(peer));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::ConnectInfo;
use http::{HeaderMap, Request};

/// How many `X-Forwarded-For` entries, from the right, are examined at most. A chain of
/// trusted proxies longer than this is cut there and the hop reached is taken as the client.
pub const MAX_FORWARDED_HOPS: usize = 16;

/// The most networks a [`TrustedProxies`] list may hold.
pub const MAX_TRUSTED_NETWORKS: usize = 256;

/// A list of proxy addresses and networks whose `X-Forwarded-For` is believed.
///
/// Parse it from a comma- or whitespace-separated list of addresses and CIDR networks
/// (`"10.0.0.0/8, 172.16.0.0/12, ::1"`), as in a `TRUSTED_PROXIES` environment variable.
/// Defaults to an empty list: the header is never believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<Network>,
}

/// A trusted-proxy list that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustedProxiesError {
    /// An entry is neither an IP address nor a CIDR network.
    #[error("trusted proxy `{0}` is not an IP address or CIDR network (e.g. 10.0.0.0/8)")]
    Invalid(String),
    /// A CIDR prefix is longer than the address.
    #[error("trusted proxy `{0}` has a prefix longer than its address (32 for IPv4, 128 for IPv6)")]
    Prefix(String),
    /// More than [`MAX_TRUSTED_NETWORKS`] entries.
    #[error("more than {MAX_TRUSTED_NETWORKS} trusted proxy networks; list networks, not hosts")]
    TooMany,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack listener reports) compare
/// as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut networks = Vec::new();
        for entry in s.split(|c: char| c == ',' || c.is_whitespace()) {
            if entry.is_empty() {
                continue;
            }
            if networks.len() == MAX_TRUSTED_NETWORKS {
                return Err(TrustedProxiesError::TooMany);
            }
            networks.push(parse_network(entry)?);
        }
        Ok(Self { networks })
    }
}

fn parse_network(entry: &str) -> Result<Network, TrustedProxiesError> {
    let invalid = || TrustedProxiesError::Invalid(entry.to_owned());
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| invalid())?)),
        None => (entry, None),
    };
    let addr = canonical(addr.parse::<IpAddr>().map_err(|_| invalid())?);
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    if prefix > max {
        return Err(TrustedProxiesError::Prefix(entry.to_owned()));
    }
    Ok(Network { addr, prefix })
}

impl TrustedProxies {
    /// No trusted proxies: `X-Forwarded-For` is ignored.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// The client's address: `peer` unless it is a trusted proxy, in which case the rightmost
    /// `X-Forwarded-For` entry not added by a trusted proxy. `None` when there is no peer
    /// address (the server was not started with
    /// [`into_make_service_with_connect_info`](axum::Router::into_make_service_with_connect_info)).
    ///
    /// A malformed entry where a hop is expected ends the walk at the last hop known good.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = canonical(peer?);
        if !self.contains(client) {
            return Some(client);
        }
        // Entries from the right: each was appended by the hop that handed the request on.
        // Several header lines are one list, in order.
        let values: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .take(MAX_FORWARDED_HOPS)
            .filter_map(|v| v.to_str().ok())
            .collect();
        let hops = values
            .into_iter()
            .flat_map(|v| v.rsplit(','))
            .take(MAX_FORWARDED_HOPS);
        for hop in hops {
            let Some(ip) = parse_hop(hop.trim()) else {
                break;
            };
            client = ip;
            if !self.contains(client) {
                break;
            }
        }
        Some(client)
    }

    /// Whether the request's TCP peer (axum's [`ConnectInfo<SocketAddr>`](ConnectInfo)) is a
    /// trusted proxy, whose forwarding headers are believed.
    pub(crate) fn peer_is_trusted<B>(&self, req: &Request<B>) -> bool {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(addr)| self.contains(canonical(addr.ip())))
    }

    /// [`client_ip`](Self::client_ip) of a request, with the peer from axum's
    /// [`ConnectInfo<SocketAddr>`](ConnectInfo) extension.
    pub fn client_ip_of<B>(&self, req: &Request<B>) -> Option<IpAddr> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        self.client_ip(peer, req.headers())
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:567`,
/// `[::1]:567`) as some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<SocketAddr>().ok().map(|s| canonical(s.ip()))
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.networks.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            n.fmt(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::none();
        let h = xff(&["1.1.1.1"]);
        assert_eq!(none.client_ip(Some(ip("9.9.9.9")), &h), Some(ip("9.9.9.9")));
        assert_eq!(none.client_ip(None, &h), None);
    }

    #[test]
    fn walks_right_to_left_past_trusted_hops_only() {
        let p: TrustedProxies = "10.0.0.0/8 192.168.1.1".parse().unwrap();
        let h = xff(&["6.6.6.6, 7.7.7.7", "203.0.113.7, 10.9.9.9"]);
        assert_eq!(
            p.client_ip(Some(ip("192.168.1.1")), &h),
            Some(ip("203.0.113.7"))
        );
        // Every hop trusted: the leftmost reached is the client.
        let h = xff(&["10.0.0.5, 10.0.0.6"]);
        assert_eq!(p.client_ip(Some(ip("10.0.0.1")), &h), Some(ip("10.0.0.5")));
        // No header from a trusted peer: the peer.
        assert_eq!(
            p.client_ip(Some(ip("10.0.0.1")), &HeaderMap::new()),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn garbage_hops_stop_the_walk_at_the_last_good_hop() {
        let p: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = xff(&["1.2.3.4, <script>, 10.0.0.7"]);
        assert_eq!(p.client_ip(Some(ip("10.0.0.1")), &h), Some(ip("10.0.0.7")));
        let h = xff(&["[2001:db8::1]:443, 5.6.7.8:1234"]);
        assert_eq!(p.client_ip(Some(ip("10.0.0.1")), &h), Some(ip("5.6.7.8")));
    }

    #[test]
    fn long_chains_are_cut_at_max_hops() {
        let p: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let chain = vec!["10.0.0.9"; 10_000].join(",");
        let h = xff(&[&format!("1.2.3.4,{chain}")]);
        assert_eq!(p.client_ip(Some(ip("10.0.0.1")), &h), Some(ip("10.0.0.9")));
    }

    #[test]
    fn ipv4_mapped_ipv6_peers_match_ipv4_networks() {
        let p: TrustedProxies = "127.0.0.1".parse().unwrap();
        let h = xff(&["8.8.4.4"]);
        assert_eq!(
            p.client_ip(Some(ip("::ffff:127.0.0.1")), &h),
            Some(ip("8.8.4.4"))
        );
        let p6: TrustedProxies = "fd00::/8".parse().unwrap();
        assert!(p6.contains(ip("fd12::1")));
        assert!(!p6.contains(ip("fe80::1")));
    }

    #[test]
    fn parse_errors_name_the_entry() {
        assert_eq!(
            "10.0.0.0/8, proxy.internal".parse::<TrustedProxies>(),
            Err(TrustedProxiesError::Invalid("proxy.internal".into()))
        );
        assert_eq!(
            "10.0.0.0/33".parse::<TrustedProxies>(),
            Err(TrustedProxiesError::Prefix("10.0.0.0/33".into()))
        );
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::none()));
        let p: TrustedProxies = "0.0.0.0/0".parse().unwrap();
        assert!(p.contains(ip("255.1.2.3")));
        assert_eq!(p.to_string(), "0.0.0.0/0");
    }
}
