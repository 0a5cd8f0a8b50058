//! The `FromStr` value types on arbitrary text. On success each one's `Display` parses back to
//! an equal value, and the paths that join them agree:
//! - `San`, `Cidr`, `KeyAlgorithm`, `ServerUrl`: `to_string()` → `parse()` is the identity;
//!   a `Cidr` has a first host, inside the range;
//! - `Endpoint`: its host parses as the same `San`, and `pki_core::https_url(host, port)` is a
//!   `ServerUrl` with that host and port (what `pki init` puts in the kubeconfigs);
//! - `ServerUrl`: `host()`/`port()` work, and `ServerUrl::from_host_port(host, port)` gives a URL
//!   with the same host and port.
#![no_main]

use std::net::IpAddr;

use kubeconfig::ServerUrl;
use libfuzzer_sys::fuzz_target;
use pki_core::{Cidr, Endpoint, KeyAlgorithm, San, https_url};
use tenantctl_fuzz::text;

fn round_trips<T>(s: &str)
where
    T: std::str::FromStr + std::fmt::Display + std::fmt::Debug + PartialEq,
    T::Err: std::fmt::Display,
{
    let Ok(value) = s.parse::<T>() else {
        return;
    };
    let shown = value.to_string();
    match shown.parse::<T>() {
        Ok(again) => assert_eq!(again, value, "{s:?} → {shown:?} parsed differently"),
        Err(e) => panic!("{s:?} parsed to {value:?}, whose Display {shown:?} does not parse: {e}"),
    }
}

/// Hosts compare as IP addresses when both are (IPv6 spellings vary), else as text.
fn same_host(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.eq_ignore_ascii_case(b),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(s) = text(data) else {
        return;
    };
    round_trips::<San>(s);
    round_trips::<Cidr>(s);
    round_trips::<KeyAlgorithm>(s);
    round_trips::<ServerUrl>(s);

    if let Ok(cidr) = s.parse::<Cidr>() {
        let host = cidr.first_host().expect("a parsed CIDR has a first host");
        let shown = cidr.to_string();
        let (network, prefix) = shown
            .split_once('/')
            .expect("a CIDR shows as ADDRESS/PREFIX");
        let network: IpAddr = network.parse().expect("the network is an IP");
        let prefix: u32 = prefix.parse().expect("the prefix is a number");
        let within = match (network, host) {
            (IpAddr::V4(n), IpAddr::V4(h)) => {
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                u32::from(h) & mask == u32::from(n)
            }
            (IpAddr::V6(n), IpAddr::V6(h)) => {
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                u128::from(h) & mask == u128::from(n)
            }
            _ => false,
        };
        assert!(within, "first host {host} of {cidr} is outside the range");
    }

    if let Ok(endpoint) = s.parse::<Endpoint>() {
        let host = endpoint.host.to_string();
        assert_eq!(
            host.parse::<San>().ok().as_ref(),
            Some(&endpoint.host),
            "endpoint host {host:?} does not parse as the same SAN"
        );
        let port = endpoint.port.unwrap_or(6443);
        let url = https_url(&endpoint.host, port);
        match url.parse::<ServerUrl>() {
            Ok(server) => {
                assert!(
                    same_host(server.host(), &host),
                    "{url}: host {}",
                    server.host()
                );
                assert_eq!(server.port(), Some(port), "{url}");
            }
            Err(e) => panic!("endpoint {s:?} gives a server URL kubeconfig refuses: {e}"),
        }
    }

    if let Ok(server) = s.parse::<ServerUrl>() {
        let host = server.host();
        if let Some(port) = server.port() {
            match ServerUrl::from_host_port(host, port) {
                Ok(joined) => {
                    assert!(same_host(joined.host(), host), "{server} → {joined}");
                    assert_eq!(joined.port(), Some(port), "{server} → {joined}");
                }
                Err(e) => panic!("{server}: from_host_port({host:?}, {port}) fails: {e}"),
            }
        }
    }
});
