//! Where a webhook delivery may connect. A webhook is a request our network makes
//! for whoever configured it, so in production it must not reach our own host or a
//! private address (the database, the instance metadata service at 169.254.169.254).
//!
//! A name is checked by what it resolves to when the delivery is made, not when the
//! webhook was registered, and the connection goes to the addresses that were
//! checked: [`GuardedResolver`] is the HTTP client's resolver, so resolving, checking
//! and pinning are one step and a name that re-resolves elsewhere in between (DNS
//! rebinding) gains nothing. Addresses written literally in a URL never reach a
//! resolver; `check_url` refuses those with the same rule, [`internal_ip`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is one production deliveries must not reach: loopback, private,
/// link-local, shared (CGNAT), unspecified, broadcast, multicast or reserved, and
/// any IPv6 form that embeds such an IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        // "This network" 0.0.0.0/8 and reserved 240.0.0.0/4.
        || a == 0
        || a >= 240
        // Shared address space (carrier-grade NAT) 100.64.0.0/10.
        || (a == 100 && (b & 0xc0) == 64)
        // IETF protocol assignments 192.0.0.0/24 and benchmarking 198.18.0.0/15.
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded = |high: u16, low: u16| {
        Ipv4Addr::new(
            (high >> 8) as u8,
            (high & 0xff) as u8,
            (low >> 8) as u8,
            (low & 0xff) as u8,
        )
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7 (AWS's IPv6 metadata address among them), link-local
        // fe80::/10 and the deprecated site-local fec0::/10.
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
        || (segments[..6] == [0; 6] && internal_v4(embedded(segments[6], segments[7])))
        // NAT64: the well-known 64:ff9b::/96 and the local-use 64:ff9b:1::/48.
        || (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            && internal_v4(embedded(segments[6], segments[7])))
        || (segments[..3] == [0x64, 0xff9b, 1])
        // 6to4 2002::/16 carries its IPv4 address in the next 32 bits.
        || (segments[0] == 0x2002 && internal_v4(embedded(segments[1], segments[2])))
}

/// The addresses a delivery may connect to, out of what a name resolved to: all of
/// them outside production; in production only the public ones, and an error when
/// none is left.
pub fn permitted(
    name: &str,
    addrs: Vec<SocketAddr>,
    production: bool,
) -> Result<Vec<SocketAddr>, String> {
    if !production {
        return Ok(addrs);
    }
    let public: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| !internal_ip(addr.ip()))
        .collect();
    if public.is_empty() {
        return Err(format!(
            "`{name}` resolves to no public address; webhooks must not reach local or private addresses in production"
        ));
    }
    Ok(public)
}

/// The webhook sender's DNS resolver: the system's answer, kept to [`permitted`]
/// addresses, which are then the only ones the connection may use.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub production: bool,
}

impl GuardedResolver {
    /// Resolves `name` and keeps what a delivery may connect to.
    pub async fn lookup(self, name: &str) -> Result<Vec<SocketAddr>, String> {
        // The port is the URL's; the HTTP client sets it on whatever comes back.
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, 0))
            .await
            .map_err(|e| format!("cannot resolve `{name}`: {e}"))?
            .collect();
        permitted(name, addrs, self.production)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = *self;
        Box::pin(async move {
            let addrs = resolver.lookup(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn internal_addresses_are_caught_in_every_spelling() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.1.2.3",
            "192.0.0.170",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:100.64.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = inside.parse().unwrap();
            assert!(internal_ip(ip), "{inside}");
        }
        for outside in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::5db8:d70e",
            "2002:5db8:d70e::1",
            "::ffff:93.184.215.14",
        ] {
            let ip: IpAddr = outside.parse().unwrap();
            assert!(!internal_ip(ip), "{outside}");
        }
    }

    #[test]
    fn production_keeps_only_public_addresses() {
        let addr = |raw: &str| SocketAddr::new(raw.parse().unwrap(), 0);
        let mixed = vec![addr("10.0.0.1"), addr("93.184.215.14")];
        assert_eq!(
            permitted("mixed.example", mixed.clone(), true).unwrap(),
            [addr("93.184.215.14")]
        );
        assert_eq!(
            permitted("mixed.example", mixed.clone(), false).unwrap(),
            mixed
        );
        let inside = vec![addr("169.254.169.254"), addr("::ffff:127.0.0.1")];
        let refused = permitted("rebind.example", inside, true).unwrap_err();
        assert!(refused.contains("no public address"), "{refused}");
    }

    #[tokio::test]
    async fn the_resolver_checks_what_a_name_resolves_to() {
        // `localhost` resolves on every machine, and only to loopback.
        let production = GuardedResolver { production: true };
        let refused = production.lookup("localhost").await.unwrap_err();
        assert!(refused.contains("no public address"), "{refused}");
        let resolving = production.resolve(Name::from_str("localhost").unwrap());
        assert!(resolving.await.is_err());
        let development = GuardedResolver { production: false };
        let addrs = development.lookup("localhost").await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
