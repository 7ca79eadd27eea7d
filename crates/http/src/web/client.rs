//! The client's address: the peer of the TCP connection, or — only when that peer is one of
//! the configured `server.trusted_proxies` — the address the proxy reports in
//! `X-Forwarded-For` (the right-most entry that is not itself a trusted proxy) or `X-Real-IP`.
//!
//! Per-client rate limits and audit entries use this address; a header sent by anyone else
//! is ignored, so a client cannot choose the bucket it is counted in.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

/// The client address of a request, put into its extensions by [`resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The configured trusted proxies, parsed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[(IpAddr, u8)]>);

impl TrustedProxies {
    /// From `server.trusted_proxies` (already validated by the configuration; anything
    /// unparsable is skipped).
    pub fn from_config(list: &[String]) -> Self {
        Self(
            list.iter()
                .filter_map(|s| xiaobao_config::parse_cidr(s))
                .collect(),
        )
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|net| xiaobao_config::cidr_contains(*net, ip))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        // Each proxy appends the address it received the request from: walk from the right
        // past our own proxies; the first other address is the client.
        let mut forwarded: Vec<IpAddr> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for part in text.split(',').take(32) {
                match parse_forwarded(part) {
                    Some(ip) => forwarded.push(ip),
                    None => return peer,
                }
            }
        }
        if let Some(client) = forwarded.iter().rev().find(|ip| !self.trusts(**ip)) {
            return *client;
        }
        if let Some(first) = forwarded.first() {
            return *first;
        }
        headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_forwarded)
            .unwrap_or(peer)
    }
}

/// One entry of `X-Forwarded-For`: an address, possibly with a port or in brackets.
fn parse_forwarded(part: &str) -> Option<IpAddr> {
    let part = part.trim();
    if let Ok(ip) = part.parse() {
        return Some(ip);
    }
    if let Ok(addr) = part.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    part.strip_prefix('[')
        .and_then(|p| p.strip_suffix(']'))
        .and_then(|p| p.parse().ok())
}

/// The middleware: records the request's [`ClientIp`] when the connection's peer is known.
pub async fn resolve(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let ip = proxies.client_of(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn headers_from_untrusted_peers_are_ignored() {
        let none = TrustedProxies::default();
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "5.6.7.8")]);
        assert_eq!(none.client_of(ip("127.0.0.2"), &h), ip("127.0.0.2"));
        let proxy = TrustedProxies::from_config(&["10.0.0.5".into()]);
        assert_eq!(proxy.client_of(ip("10.0.0.6"), &h), ip("10.0.0.6"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let proxies = TrustedProxies::from_config(&["10.0.0.0/8".into()]);
        // A client-supplied entry on the left does not win over what our proxy saw.
        let h = headers(&[("x-forwarded-for", "9.9.9.9, 203.0.113.7, 10.0.0.2")]);
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &h), ip("203.0.113.7"));
        let h = headers(&[("x-real-ip", "203.0.113.8")]);
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &h), ip("203.0.113.8"));
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &h), ip("2001:db8::1"));
        // Garbage from the proxy: the proxy itself is the client we know.
        let h = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        assert_eq!(
            proxies.client_of(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }
}
