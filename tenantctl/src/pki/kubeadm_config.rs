//! kubeadm's own config file (`kubeadm init --config FILE`): the fields of `InitConfiguration`
//! and `ClusterConfiguration` that decide what goes into the certificates, for API versions
//! `kubeadm.k8s.io/v1beta3` and `kubeadm.k8s.io/v1beta4`.
//!
//! [`parse`] is pure: it gets the file's text and returns what the file sets, every field an
//! `Option`, so the caller can apply "flag, else file, else default". Everything else in the
//! file is ignored, as kubeadm ignores what it does not know: other documents
//! (`KubeletConfiguration`, `KubeProxyConfiguration`, `JoinConfiguration`, ...) and fields that
//! do not affect certificates.
//!
//! Where kubeadm would only print a warning and then ignore a certificate-relevant setting, this
//! parser refuses the file instead, so a setting is never silently dropped:
//!
//! - a v1beta4-only field (`encryptionAlgorithm`, `certificateValidityPeriod`,
//!   `caCertificateValidityPeriod`) in a v1beta3 `ClusterConfiguration` (kubeadm's v1beta3 types
//!   do not have them, so its decoder drops them and its strict check only warns);
//! - a `ClusterConfiguration` field placed in `InitConfiguration`, or the other way round;
//! - a known field name in the wrong case (`certSans`): kubeadm's decoder is case-sensitive;
//! - `featureGates.PublicKeysECDSA` contradicting `encryptionAlgorithm` (kubeadm lets the
//!   deprecated gate win, see [`KubeadmConfig::encryption_algorithm`]).
//!
//! Like kubeadm, every document must have `apiVersion` and `kind`, and a kind may appear only
//! once. Empty documents are skipped and are not counted in the document numbers of errors.

use std::{fmt, net::IpAddr, path::PathBuf, time::Duration};

use pki_core::{Cidr, Endpoint, KeyAlgorithm, San};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::time::parse_duration;

mod tree;

use tree::*;

#[cfg(test)]
mod tests;

/// What a kubeadm config file sets. `None` means the file does not set it (or sets kubeadm's
/// "unset" value: an empty string, `bindPort: 0`, `advertiseAddress: 0.0.0.0`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeadmConfig {
    /// `ClusterConfiguration.clusterName`.
    pub cluster_name: Option<String>,
    /// `ClusterConfiguration.controlPlaneEndpoint`: `HOST` or `HOST:PORT`, IPv6 in brackets.
    pub control_plane_endpoint: Option<Endpoint>,
    /// `ClusterConfiguration.networking.serviceSubnet`: one CIDR, or two (one per IP family,
    /// comma-separated) for dual-stack.
    pub service_subnets: Option<Vec<Cidr>>,
    /// `ClusterConfiguration.networking.dnsDomain`.
    pub dns_domain: Option<String>,
    /// `ClusterConfiguration.apiServer.certSANs`.
    pub cert_sans: Option<Vec<San>>,
    /// `ClusterConfiguration.etcd`: `local` (with its extra SANs) or `external`.
    pub etcd: Option<EtcdConfig>,
    /// `ClusterConfiguration.certificatesDir` (kubeadm requires an absolute path).
    pub cert_dir: Option<PathBuf>,
    /// The key algorithm: v1beta4 `encryptionAlgorithm`, or the deprecated feature gate
    /// `featureGates.PublicKeysECDSA` (either version): `true` means `ECDSA-P256`, `false`
    /// means `RSA-2048`. kubeadm (`ClusterConfiguration.EncryptionAlgorithmType`) lets a set gate
    /// override `encryptionAlgorithm`; when both are set and disagree, [`parse`] refuses the
    /// file rather than pick one.
    pub encryption_algorithm: Option<KeyAlgorithm>,
    /// v1beta4 `ClusterConfiguration.certificateValidityPeriod` (leaf certificates).
    pub cert_validity: Option<Duration>,
    /// v1beta4 `ClusterConfiguration.caCertificateValidityPeriod`.
    pub ca_validity: Option<Duration>,
    /// `InitConfiguration.localAPIEndpoint.advertiseAddress`. An unspecified address
    /// (`0.0.0.0`, `::`) is `None`: kubeadm then picks the default interface's address.
    pub advertise_address: Option<IpAddr>,
    /// `InitConfiguration.localAPIEndpoint.bindPort` (`0` is kubeadm's "unset", so `None`).
    pub bind_port: Option<u16>,
    /// `InitConfiguration.nodeRegistration.name`.
    pub node_name: Option<String>,
}

/// `ClusterConfiguration.etcd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EtcdConfig {
    /// `etcd.local`: kubeadm runs etcd, and the etcd certificates get these extra SANs.
    Local {
        /// `etcd.local.serverCertSANs`.
        server_cert_sans: Vec<San>,
        /// `etcd.local.peerCertSANs`.
        peer_cert_sans: Vec<San>,
    },
    /// `etcd.external`: etcd has its own PKI; no etcd certificates are made.
    External,
}

impl From<EtcdConfig> for pki_core::Etcd {
    fn from(etcd: EtcdConfig) -> Self {
        match etcd {
            EtcdConfig::Local {
                server_cert_sans,
                peer_cert_sans,
            } => Self::Local {
                server_extra_sans: server_cert_sans,
                peer_extra_sans: peer_cert_sans,
            },
            EtcdConfig::External => Self::External,
        }
    }
}

/// Why a kubeadm config file was refused. Every message names where: the YAML position, the
/// document, or the document kind and field path (`ClusterConfiguration.apiServer.certSANs[1]`),
/// with the line when the parser knows it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KubeadmConfigError {
    /// The text is not YAML (or exceeds the YAML parser's limits on size, depth and aliases).
    #[error("malformed YAML: {message}")]
    Yaml {
        /// The YAML parser's message.
        message: String,
        /// Where, when known.
        line: Option<u64>,
    },
    /// A document kubeadm would not accept: not a mapping, no `apiVersion` or `kind`, an
    /// unsupported kubeadm API version, a kind given twice.
    #[error("document {document}{}: {problem}", Line(*line))]
    Document {
        /// 1-based, counting non-empty documents.
        document: usize,
        /// Where the document starts, when known.
        line: Option<u64>,
        /// What is wrong.
        problem: String,
    },
    /// A field with a value of the wrong type, an invalid value, or in the wrong place.
    #[error("{kind}.{path}: {problem}{}", Line(*line))]
    Field {
        /// `InitConfiguration` or `ClusterConfiguration`.
        kind: &'static str,
        /// The path inside the document, e.g. `networking.serviceSubnet`.
        path: String,
        /// Where the value is, when known.
        line: Option<u64>,
        /// What is wrong.
        problem: String,
    },
}

impl KubeadmConfigError {
    /// The 1-based line the error is about, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Yaml { line, .. } | Self::Document { line, .. } | Self::Field { line, .. } => {
                *line
            }
        }
    }
}

/// Parses a kubeadm config file (multi-document YAML) into the settings it makes.
///
/// Documents with `apiVersion: kubeadm.k8s.io/v1beta3` or `v1beta4` and kind
/// `InitConfiguration` or `ClusterConfiguration` are read; other kinds and other groups are
/// ignored. An empty file, or one with neither kind, gives all `None`.
pub fn parse(text: &str) -> Result<KubeadmConfig, KubeadmConfigError> {
    let docs: Vec<Spanned<Node>> = serde_saphyr::from_multiple(text).map_err(yaml_error)?;
    let mut config = KubeadmConfig::default();
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        let number = index + 1;
        let doc_error = |problem: String| KubeadmConfigError::Document {
            document: number,
            line: line_of(doc),
            problem,
        };
        let (api_version, kind) = header(doc).map_err(doc_error)?;
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == kind) {
            return Err(doc_error(format!(
                "kind {kind} is given twice (also in document {first})"
            )));
        }
        seen.push((kind, number));

        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        if group != GROUP {
            if KUBEADM_KINDS.contains(&kind) {
                return Err(doc_error(format!(
                    "kind {kind} needs apiVersion {GROUP}/v1beta3 or {GROUP}/v1beta4, \
                     not {api_version}"
                )));
            }
            continue;
        }
        let version = match version {
            "v1beta3" => Version::V1beta3,
            "v1beta4" => Version::V1beta4,
            _ => {
                return Err(doc_error(format!(
                    "apiVersion {api_version} is not supported (v1beta3, v1beta4)"
                )));
            }
        };
        match kind {
            CLUSTER => read_cluster(version, &Value::root(CLUSTER, doc), &mut config)?,
            INIT => read_init(&Value::root(INIT, doc), &mut config)?,
            _ => {}
        }
    }
    Ok(config)
}

const GROUP: &str = "kubeadm.k8s.io";
const INIT: &str = "InitConfiguration";
const CLUSTER: &str = "ClusterConfiguration";
/// Every kind of the kubeadm API group; only the first two matter for certificates.
const KUBEADM_KINDS: [&str; 5] = [
    INIT,
    CLUSTER,
    "JoinConfiguration",
    "ResetConfiguration",
    "UpgradeConfiguration",
];
/// Top-level `ClusterConfiguration` fields read here (for the misplaced-field check).
const CLUSTER_FIELDS: [&str; 10] = [
    "clusterName",
    "controlPlaneEndpoint",
    "networking",
    "apiServer",
    "etcd",
    "certificatesDir",
    "encryptionAlgorithm",
    "certificateValidityPeriod",
    "caCertificateValidityPeriod",
    "featureGates",
];
/// Top-level `InitConfiguration` fields read here.
const INIT_FIELDS: [&str; 2] = ["localAPIEndpoint", "nodeRegistration"];
/// `ClusterConfiguration` fields that v1beta3 does not have.
const V1BETA4_ONLY: [&str; 3] = [
    "encryptionAlgorithm",
    "certificateValidityPeriod",
    "caCertificateValidityPeriod",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1beta3,
    V1beta4,
}

/// `apiVersion` and `kind` of a document, or why it has none.
fn header(doc: &Spanned<Node>) -> Result<(&str, &str), String> {
    let Node::Map(entries) = &doc.value else {
        return Err(format!(
            "expected a mapping with apiVersion and kind, found {}",
            doc.value.describe()
        ));
    };
    let field = |name: &str| match entries.iter().find(|(k, _)| k.as_deref() == Some(name)) {
        Some((_, value)) => match &value.value {
            Node::Str(s) if !s.is_empty() => Ok(s.as_str()),
            Node::Null | Node::Str(_) => Err(format!("{name} is empty")),
            other => Err(format!(
                "{name} must be a string, found {}",
                other.describe()
            )),
        },
        None => Err(format!(
            "no {name}; every document of a kubeadm config file needs apiVersion and kind"
        )),
    };
    Ok((field("apiVersion")?, field("kind")?))
}

fn read_cluster(
    version: Version,
    root: &Value<'_>,
    out: &mut KubeadmConfig,
) -> Result<(), KubeadmConfigError> {
    let Some(doc) = root.mapping()? else {
        return Ok(());
    };
    doc.refuse_misplaced(&INIT_FIELDS, INIT)?;
    if version == Version::V1beta3 {
        for name in V1BETA4_ONLY {
            if let Some(field) = doc.get(name)?.filter(|f| !f.is_null()) {
                return Err(field.error(format!(
                    "not a field of {GROUP}/v1beta3 (kubeadm would ignore it); \
                     use apiVersion {GROUP}/v1beta4, or remove it"
                )));
            }
        }
    }

    if let Some(field) = doc.get("clusterName")? {
        out.cluster_name = field
            .string()?
            .map(|s| cluster_name(&field, s))
            .transpose()?;
    }
    if let Some(field) = doc.get("controlPlaneEndpoint")? {
        out.control_plane_endpoint = field
            .string()?
            .map(|s| {
                s.parse::<Endpoint>().map_err(|e| {
                    field.error(format!("{s:?} is not HOST or HOST:PORT: {}", reason(e)))
                })
            })
            .transpose()?;
    }
    if let Some(networking) = doc.mapping_at("networking")? {
        if let Some(field) = networking.get("serviceSubnet")? {
            out.service_subnets = field
                .string()?
                .map(|s| service_subnets(&field, s))
                .transpose()?;
        }
        if let Some(field) = networking.get("dnsDomain")? {
            out.dns_domain = field
                .string()?
                .map(|s| dns_name(&field, s).map(|()| s.to_owned()))
                .transpose()?;
        }
    }
    if let Some(api_server) = doc.mapping_at("apiServer")?
        && let Some(field) = api_server.get("certSANs")?
    {
        out.cert_sans = sans(&field)?;
    }
    if let Some(field) = doc.get("etcd")? {
        out.etcd = etcd(&field)?;
    }
    if let Some(field) = doc.get("certificatesDir")? {
        out.cert_dir = field
            .string()?
            .map(|s| {
                if std::path::Path::new(s).is_absolute() {
                    Ok(PathBuf::from(s))
                } else {
                    Err(field.error(format!("{s:?} is not an absolute path")))
                }
            })
            .transpose()?;
    }

    let algorithm = match doc.get("encryptionAlgorithm")? {
        Some(field) => field
            .string()?
            .map(|s| key_algorithm(&field, s))
            .transpose()?,
        None => None,
    };
    let gate = match doc.mapping_at("featureGates")? {
        Some(gates) => match gates.get("PublicKeysECDSA")? {
            Some(field) => field.bool()?.map(|on| (field, on)),
            None => None,
        },
        None => None,
    };
    out.encryption_algorithm = match (algorithm, gate) {
        (algorithm, None) => algorithm,
        (None, Some((_, on))) => Some(gate_algorithm(on)),
        (Some(algorithm), Some((field, on))) => {
            if algorithm != gate_algorithm(on) {
                return Err(field.error(format!(
                    "{on} contradicts encryptionAlgorithm: {algorithm} (kubeadm lets the \
                     deprecated gate win); remove the gate"
                )));
            }
            Some(algorithm)
        }
    };

    if let Some(field) = doc.get("certificateValidityPeriod")? {
        out.cert_validity = field.duration()?;
    }
    if let Some(field) = doc.get("caCertificateValidityPeriod")? {
        out.ca_validity = field.duration()?;
    }
    Ok(())
}

fn read_init(root: &Value<'_>, out: &mut KubeadmConfig) -> Result<(), KubeadmConfigError> {
    let Some(doc) = root.mapping()? else {
        return Ok(());
    };
    doc.refuse_misplaced(&CLUSTER_FIELDS, CLUSTER)?;
    if let Some(endpoint) = doc.mapping_at("localAPIEndpoint")? {
        if let Some(field) = endpoint.get("advertiseAddress")? {
            out.advertise_address = field
                .string()?
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map_err(|_| field.error(format!("{s:?} is not an IP address")))
                })
                .transpose()?
                .filter(|ip| !ip.is_unspecified());
        }
        if let Some(field) = endpoint.get("bindPort")? {
            out.bind_port = field.port()?;
        }
    }
    if let Some(registration) = doc.mapping_at("nodeRegistration")?
        && let Some(field) = registration.get("name")?
    {
        out.node_name = field
            .string()?
            .map(|s| dns_name(&field, s).map(|()| s.to_owned()))
            .transpose()?;
    }
    Ok(())
}

fn cluster_name(field: &Value<'_>, s: &str) -> Result<String, KubeadmConfigError> {
    if s.chars().any(char::is_control) {
        return Err(field.error(format!("{s:?} contains a control character")));
    }
    Ok(s.to_owned())
}

/// kubeadm splits `serviceSubnet` on commas; dual-stack means one CIDR of each family.
fn service_subnets(field: &Value<'_>, s: &str) -> Result<Vec<Cidr>, KubeadmConfigError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let mut cidrs = Vec::with_capacity(parts.len());
    for part in &parts {
        let cidr = part.parse::<Cidr>().map_err(|e| {
            let what = if parts.len() == 1 {
                format!("{s:?}")
            } else {
                format!("{part:?} (in {s:?})")
            };
            field.error(format!("{what} is not a CIDR: {}", reason(e)))
        })?;
        cidrs.push(cidr);
    }
    match cidrs.as_slice() {
        [_] => Ok(cidrs),
        [a, b] if is_ipv4(a) != is_ipv4(b) => Ok(cidrs),
        [_, _] => Err(field.error(format!(
            "{s:?} has two CIDRs of the same IP family; dual-stack needs one IPv4 and one IPv6"
        ))),
        _ => Err(field.error(format!(
            "{s:?} has {} CIDRs; at most two (one IPv4, one IPv6) are allowed",
            cidrs.len()
        ))),
    }
}

fn is_ipv4(cidr: &Cidr) -> bool {
    cidr.first_host().is_ok_and(|ip| ip.is_ipv4())
}

/// `etcd.local` or `etcd.external`; kubeadm defaults to local when neither is given.
fn etcd(field: &Value<'_>) -> Result<Option<EtcdConfig>, KubeadmConfigError> {
    let Some(etcd) = field.mapping()? else {
        return Ok(None);
    };
    let local = etcd.get("local")?.filter(|f| !f.is_null());
    let external = etcd.get("external")?.filter(|f| !f.is_null());
    match (local, external) {
        (Some(_), Some(_)) => Err(field.error("local and external are mutually exclusive")),
        (Some(local), None) => {
            let local = local.mapping()?;
            let list = |name| -> Result<Vec<San>, KubeadmConfigError> {
                match &local {
                    Some(local) => match local.get(name)? {
                        Some(field) => Ok(sans(&field)?.unwrap_or_default()),
                        None => Ok(Vec::new()),
                    },
                    None => Ok(Vec::new()),
                }
            };
            Ok(Some(EtcdConfig::Local {
                server_cert_sans: list("serverCertSANs")?,
                peer_cert_sans: list("peerCertSANs")?,
            }))
        }
        (None, Some(external)) => {
            let endpoints = match external.mapping()? {
                Some(m) => match m.get("endpoints")? {
                    Some(field) => match field.list()? {
                        Some(items) => {
                            for item in &items {
                                item.string()?;
                            }
                            items.len()
                        }
                        None => 0,
                    },
                    None => 0,
                },
                None => 0,
            };
            if endpoints == 0 {
                return Err(external.error("external etcd needs at least one entry in endpoints"));
            }
            Ok(Some(EtcdConfig::External))
        }
        (None, None) => Ok(None),
    }
}

/// A list of SANs (`certSANs`, `serverCertSANs`, `peerCertSANs`).
fn sans(field: &Value<'_>) -> Result<Option<Vec<San>>, KubeadmConfigError> {
    let Some(items) = field.list()? else {
        return Ok(None);
    };
    let mut sans = Vec::with_capacity(items.len());
    for item in &items {
        let Some(s) = item.string()? else {
            return Err(item.error("an empty SAN"));
        };
        let san = s.parse::<San>().map_err(|e| {
            item.error(format!(
                "{s:?} is not an IP address or DNS name: {}",
                reason(e)
            ))
        })?;
        sans.push(san);
    }
    Ok(Some(sans))
}

/// kubeadm accepts exactly its own spellings (`ValidateEncryptionAlgorithm`).
fn key_algorithm(field: &Value<'_>, s: &str) -> Result<KeyAlgorithm, KubeadmConfigError> {
    let names = KeyAlgorithm::ALL.map(KeyAlgorithm::as_str).join(", ");
    match s.parse::<KeyAlgorithm>() {
        Ok(algorithm) if algorithm.as_str() == s => Ok(algorithm),
        Ok(algorithm) => Err(field.error(format!(
            "{s:?} is not one of {names} (kubeadm wants the exact spelling: {algorithm})"
        ))),
        Err(_) => Err(field.error(format!("{s:?} is not one of {names}"))),
    }
}

fn gate_algorithm(ecdsa: bool) -> KeyAlgorithm {
    if ecdsa {
        KeyAlgorithm::EcdsaP256
    } else {
        KeyAlgorithm::Rsa2048
    }
}

/// A lowercase RFC 1123 subdomain, as kubeadm requires of node names and the DNS domain.
fn dns_name(field: &Value<'_>, s: &str) -> Result<(), KubeadmConfigError> {
    let bad = |why: &str| field.error(format!("{s:?} is not a lowercase RFC 1123 DNS name: {why}"));
    if s.contains(['*', ':']) {
        return Err(bad("only letters, digits, '-' and '.' are allowed"));
    }
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad("uppercase letters are not allowed"));
    }
    s.parse::<San>().map(|_| ()).map_err(|e| bad(&reason(e)))
}

/// The reason inside a pki-core parse error, without its own "invalid X" prefix.
fn reason(e: pki_core::Error) -> String {
    match e {
        pki_core::Error::InvalidSan { reason, .. }
        | pki_core::Error::InvalidCidr { reason, .. }
        | pki_core::Error::InvalidEndpoint { reason, .. }
        | pki_core::Error::InvalidName { reason, .. } => reason.to_owned(),
        other => other.to_string(),
    }
}

fn yaml_error(e: serde_saphyr::Error) -> KubeadmConfigError {
    let inner = e.without_snippet();
    // The parser's hint on duplicate keys is meant for programmers, not for config authors.
    let message = inner
        .to_string()
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    KubeadmConfigError::Yaml {
        message,
        line: inner.location().map(|l| l.line()).filter(|l| *l > 0),
    }
}
