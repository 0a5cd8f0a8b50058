//! Subject alternative names, service CIDRs and endpoints: parsed once, valid afterwards.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use crate::Error;

/// A subject alternative name: an IP address or a DNS name (RFC 1123 subdomain, optionally a
/// `*.` wildcard). Parsing tries an IP first, as kubeadm does; DNS names are lowercased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum San {
    /// A DNS name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl FromStr for San {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        validate_dns(s, true).map(Self::Dns)
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(d) => f.write_str(d),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

fn invalid(value: &str, reason: &'static str) -> Error {
    Error::InvalidSan {
        value: value.to_owned(),
        reason,
    }
}

/// Checks an RFC 1123 subdomain (lowercasing it), allowing a leading `*.` when `wildcard`.
pub(crate) fn validate_dns(s: &str, wildcard: bool) -> Result<String, Error> {
    if s.is_empty() {
        return Err(invalid(s, "empty"));
    }
    if s.len() > 253 {
        return Err(invalid(s, "longer than 253 characters"));
    }
    let lower = s.to_ascii_lowercase();
    let body = match lower.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        Some(_) => return Err(invalid(s, "a wildcard is not allowed here")),
        None => lower.as_str(),
    };
    for label in body.split('.') {
        if label.is_empty() {
            return Err(invalid(s, "empty DNS label"));
        }
        if label.len() > 63 {
            return Err(invalid(s, "a DNS label is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                s,
                "not an IP address or RFC 1123 DNS name (letters, digits, '-' and '.' only)",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(s, "a DNS label starts or ends with '-'"));
        }
    }
    Ok(lower)
}

/// A service CIDR such as `10.96.0.0/12` or `fd00:10:96::/112`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The first usable address (index 1): the API server's service IP for this family.
    pub fn first_host(&self) -> Result<IpAddr, Error> {
        let too_small = || Error::InvalidCidr {
            value: self.to_string(),
            reason: "the range has no address after the network address",
        };
        match self.network {
            IpAddr::V4(v4) => {
                if self.prefix >= 32 {
                    return Err(too_small());
                }
                Ok(IpAddr::V4(Ipv4Addr::from(u32::from(v4) + 1)))
            }
            IpAddr::V6(v6) => {
                if self.prefix >= 128 {
                    return Err(too_small());
                }
                Ok(IpAddr::V6(Ipv6Addr::from(u128::from(v6) + 1)))
            }
        }
    }
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidCidr {
            value: s.to_owned(),
            reason,
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/PREFIX"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("the address is not an IP address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| bad("the prefix length is not a number"))?;
        let network = match addr {
            IpAddr::V4(v4) => {
                if prefix > 32 {
                    return Err(bad("the prefix length is above 32"));
                }
                let mask = if prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - prefix)
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                if prefix > 128 {
                    return Err(bad("the prefix length is above 128"));
                }
                let mask = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - prefix)
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        };
        let cidr = Self { network, prefix };
        cidr.first_host()?;
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A control-plane endpoint: `host` or `host:port`, the host an IP or a DNS name
/// (IPv6 with a port in brackets: `[fd00::1]:6443`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The host, as it goes into the apiserver certificate's SANs.
    pub host: San,
    /// The port, if given.
    pub port: Option<u16>,
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidEndpoint {
            value: s.to_owned(),
            reason,
        };
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self {
                host: San::Ip(ip),
                port: None,
            });
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("expected ':PORT' after ']'")),
            };
            (h, port)
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("the port is not a number from 1 to 65535"))
            })
            .transpose()?;
        let host = if let Ok(ip) = host.parse::<IpAddr>() {
            San::Ip(ip)
        } else {
            San::Dns(
                validate_dns(host, false)
                    .map_err(|_| bad("the host is not an IP address or RFC 1123 DNS name"))?,
            )
        };
        Ok(Self { host, port })
    }
}

/// `https://host:port`, with an IPv6 host in brackets.
pub fn https_url(host: &San, port: u16) -> String {
    match host {
        San::Ip(IpAddr::V6(v6)) => format!("https://[{v6}]:{port}"),
        other => format!("https://{other}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_parses_ip_before_dns_and_lowercases() {
        assert_eq!(
            "10.0.0.1".parse::<San>().unwrap(),
            San::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            "::1".parse::<San>().unwrap(),
            San::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            "API.Example.com".parse::<San>().unwrap(),
            San::Dns("api.example.com".into())
        );
        assert_eq!(
            "*.example.com".parse::<San>().unwrap(),
            San::Dns("*.example.com".into())
        );
    }

    #[test]
    fn san_rejects_garbage_and_names_it() {
        for bad in [
            "",
            "a b",
            "under_score",
            "-lead.com",
            "a..b",
            "*.*.x",
            "é.com",
            "x*.com",
        ] {
            let err = bad.parse::<San>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn service_ip_is_first_host() {
        let c: Cidr = "10.96.0.0/12".parse().unwrap();
        assert_eq!(c.first_host().unwrap().to_string(), "10.96.0.1");
        let c: Cidr = "10.96.5.7/12".parse().unwrap();
        assert_eq!(c.to_string(), "10.96.0.0/12");
        let c: Cidr = "fd00:10:96::/112".parse().unwrap();
        assert_eq!(c.first_host().unwrap().to_string(), "fd00:10:96::1");
        assert!("10.0.0.1/32".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("nope/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn endpoints() {
        let e: Endpoint = "vip.example.com:8443".parse().unwrap();
        assert_eq!(e.host, San::Dns("vip.example.com".into()));
        assert_eq!(e.port, Some(8443));
        let e: Endpoint = "[fd00::10]:6443".parse().unwrap();
        assert_eq!(e.host, San::Ip("fd00::10".parse().unwrap()));
        let e: Endpoint = "fd00::10".parse().unwrap();
        assert_eq!(e.port, None);
        assert_eq!(https_url(&e.host, 6443), "https://[fd00::10]:6443");
        assert!("host:0".parse::<Endpoint>().is_err());
        assert!("bad host:1".parse::<Endpoint>().is_err());
    }
}
