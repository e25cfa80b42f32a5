//! Which IP addresses a request allowed only by a wildcard entry may reach.
//!
//! `allowed_outbound_hosts` entries such as `https://*:443` (Bluesky PDS hosts found in
//! DID documents) let a component reach any name. Without a further check such a name
//! could point at the host's own network: loopback services, a cloud metadata address,
//! private ranges. So a request allowed *only* by an entry whose host is a wildcard
//! (`*` or `*.example.com`) connects only to [public](is_public) addresses. The check
//! runs after DNS resolution, in the connector ([`PublicOnlyResolver`]): the connection
//! goes to the very addresses that were checked, so a name that resolves differently
//! the second time (DNS rebinding) gains nothing. Entries naming a host or an address
//! literally are trusted as written.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};

/// The error a refused destination carries through the client, so that it is reported
/// to the guest as `HTTP-request-denied`.
#[derive(Debug, thiserror::Error)]
#[error("the destination resolves only to non-public addresses")]
pub struct NonPublicAddress;

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918),
/// link-local, shared (CGNAT, 100.64.0.0/10), unique-local (fc00::/7), multicast,
/// unspecified, broadcast or reserved, nor an IPv4-mapped, IPv4-compatible or NAT64
/// IPv6 form of one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let blocked = a == 0 // "this network", including the unspecified address
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 224; // multicast, reserved and broadcast
    !blocked
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms.
    if let Some(v4) = ip.to_ipv4() {
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(v4);
    }
    // NAT64: the well-known prefix 64:ff9b::/96 and the local-use 64:ff9b:1::/48.
    if segments[0] == 0x64 && segments[1] == 0xff9b {
        if segments[2..6] == [0, 0, 0, 0] {
            let octets = ip.octets();
            let v4 = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
            return is_public_v4(v4);
        }
        if segments[2] == 1 {
            return false;
        }
    }
    let first = segments[0];
    let blocked = ip.is_unspecified()
        || ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first & 0xff00) == 0xff00; // multicast
    !blocked
}

/// The system resolver, keeping only [public](is_public) addresses. A name with none
/// fails with [`NonPublicAddress`], which the client reports as `HTTP-request-denied`.
#[derive(Clone)]
pub struct PublicOnlyResolver {
    inner: GaiResolver,
}

impl PublicOnlyResolver {
    /// A resolver over the system's `getaddrinfo`.
    pub fn new() -> Self {
        Self {
            inner: GaiResolver::new(),
        }
    }
}

impl Default for PublicOnlyResolver {
    fn default() -> Self {
        Self::new()
    }
}

type ResolveFuture =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, io::Error>> + Send>>;

impl tower_service::Service<Name> for PublicOnlyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = ResolveFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolving = self.inner.call(name);
        Box::pin(async move {
            let public: Vec<SocketAddr> = resolving
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    NonPublicAddress,
                ));
            }
            Ok(public.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(address: &str) -> bool {
        is_public(address.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_public() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(public(address), "{address} was refused");
        }
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
        ] {
            assert!(!public(address), "{address} was allowed");
        }
    }

    #[tokio::test]
    async fn names_resolving_only_to_loopback_are_refused() {
        use tower_service::Service as _;
        let mut resolver = PublicOnlyResolver::new();
        let name: Name = "localhost".parse().unwrap();
        let error = resolver.call(name).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
        assert!(error.get_ref().is_some_and(|e| e.is::<NonPublicAddress>()));
    }
}
