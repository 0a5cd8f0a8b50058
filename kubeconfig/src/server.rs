//! `ServerUrl`: an `https://` API server URL that kubectl and client-go accept.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::Error;

/// An API server URL: `https://host[:port][/path]`.
///
/// The host is a DNS name, an IPv4 address, or an IPv6 address in brackets (`https://[fd00::10]:6443`),
/// exactly what a kubeconfig `server` field holds. An HA virtual IP or load balancer name is just a host
/// here. Parse with [`FromStr`], or join a host and port with [`ServerUrl::from_host_port`], which adds the
/// brackets for IPv6 the way kubeadm's `GetControlPlaneEndpoint`/`GetLocalAPIEndpoint` do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerUrl(String);

const SCHEME: &str = "https://";

impl ServerUrl {
    /// `https://host:port`, with an IPv6 `host` put in brackets.
    pub fn from_host_port(host: &str, port: u16) -> Result<Self, Error> {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let url = match host.parse::<Ipv6Addr>() {
            Ok(v6) => format!("{SCHEME}[{v6}]:{port}"),
            Err(_) => format!("{SCHEME}{host}:{port}"),
        };
        url.parse()
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host, without IPv6 brackets.
    pub fn host(&self) -> &str {
        let authority = authority(&self.0);
        match authority.strip_prefix('[') {
            // Checked at parse time: a bracketed host has a closing bracket.
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => authority.split(':').next().unwrap_or(authority),
        }
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        let authority = authority(&self.0);
        let after_host = match authority.strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or("", |(_, p)| p),
            None => authority.find(':').map_or("", |i| &authority[i..]),
        };
        after_host.strip_prefix(':').and_then(|p| p.parse().ok())
    }
}

/// The part between `https://` and the first `/`, `?` or `#`.
fn authority(url: &str) -> &str {
    let rest = url.get(SCHEME.len()..).unwrap_or("");
    rest.find(['/', '?', '#']).map_or(rest, |i| &rest[..i])
}

impl FromStr for ServerUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidServerUrl {
            url: url.to_owned(),
            reason,
        };
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("contains whitespace or control characters"));
        }
        if !url.starts_with(SCHEME) {
            return Err(invalid("must start with https://"));
        }
        let authority = authority(url);
        if authority.contains('@') {
            return Err(invalid("must not contain user information"));
        }
        let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
            let Some((v6, after)) = rest.split_once(']') else {
                return Err(invalid("unclosed '[' in IPv6 host"));
            };
            if v6.parse::<Ipv6Addr>().is_err() {
                return Err(invalid("not an IPv6 address inside '[' ']'"));
            }
            if !after.is_empty() && !after.starts_with(':') {
                return Err(invalid("unexpected text after ']'"));
            }
            (v6, after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((host, port)) => {
                    if port.contains(':') {
                        return Err(invalid(
                            "an IPv6 host must be written in brackets, e.g. https://[fd00::1]:6443",
                        ));
                    }
                    (host, Some(port))
                }
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("has no host"));
        }
        if !authority.starts_with('[')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(invalid(
                "host has characters not allowed in a DNS name or IP address",
            ));
        }
        if let Some(port) = port
            && !matches!(port.parse::<u16>(), Ok(p) if p != 0)
        {
            return Err(invalid("port must be a number from 1 to 65535"));
        }
        Ok(Self(url.to_owned()))
    }
}

impl From<SocketAddr> for ServerUrl {
    /// `https://ip:port`, `https://[ipv6]:port` (the scope id of an IPv6 address is dropped).
    fn from(addr: SocketAddr) -> Self {
        match addr.ip() {
            IpAddr::V4(v4) => Self(format!("{SCHEME}{v4}:{}", addr.port())),
            IpAddr::V6(v6) => Self(format!("{SCHEME}[{v6}]:{}", addr.port())),
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ServerUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kubectl_server_urls() {
        for (url, host, port) in [
            ("https://10.0.0.10:6443", "10.0.0.10", Some(6443)),
            ("https://[fd00::10]:6443", "fd00::10", Some(6443)),
            ("https://[::1]", "::1", None),
            (
                "https://k8s-vip.example.com:8443",
                "k8s-vip.example.com",
                Some(8443),
            ),
            ("https://lb.example.com", "lb.example.com", None),
            (
                "https://rancher.example/k8s/clusters/c-abc",
                "rancher.example",
                None,
            ),
        ] {
            let parsed: ServerUrl = url.parse().unwrap();
            assert_eq!(parsed.as_str(), url);
            assert_eq!(parsed.host(), host, "{url}");
            assert_eq!(parsed.port(), port, "{url}");
        }
    }

    #[test]
    fn rejects_what_kubectl_cannot_use() {
        for url in [
            "http://10.0.0.1:6443",
            "10.0.0.1:6443",
            "https://",
            "https://:6443",
            "https://fd00::10:6443",
            "https://[fd00::10:6443",
            "https://[nothex]:6443",
            "https://host:0",
            "https://host:65536",
            "https://host:port",
            "https://user@host",
            "https://ho st",
            "https://[::1]x",
        ] {
            assert!(
                url.parse::<ServerUrl>().is_err(),
                "{url} should be rejected"
            );
        }
    }

    #[test]
    fn joins_host_and_port_like_kubeadm() {
        assert_eq!(
            ServerUrl::from_host_port("fd00::10", 6443)
                .unwrap()
                .as_str(),
            "https://[fd00::10]:6443"
        );
        assert_eq!(
            ServerUrl::from_host_port("[fd00::10]", 6443)
                .unwrap()
                .as_str(),
            "https://[fd00::10]:6443"
        );
        assert_eq!(
            ServerUrl::from_host_port("10.0.0.1", 6443)
                .unwrap()
                .as_str(),
            "https://10.0.0.1:6443"
        );
        assert_eq!(
            ServerUrl::from_host_port("vip.example", 443)
                .unwrap()
                .as_str(),
            "https://vip.example:443"
        );
        let v6: SocketAddr = "[fd00::1]:6443".parse().unwrap();
        assert_eq!(ServerUrl::from(v6).as_str(), "https://[fd00::1]:6443");
    }
}
