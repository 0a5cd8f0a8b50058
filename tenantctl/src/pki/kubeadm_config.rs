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

fn line_of(node: &Spanned<Node>) -> Option<u64> {
    Some(node.referenced.line()).filter(|l| *l > 0)
}

/// ` (line N)`, or nothing when the line is unknown.
struct Line(Option<u64>);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, " (line {line})"),
            None => Ok(()),
        }
    }
}

/// One value inside a document, with its path for error messages.
struct Value<'a> {
    kind: &'static str,
    path: String,
    node: &'a Spanned<Node>,
}

impl<'a> Value<'a> {
    fn root(kind: &'static str, node: &'a Spanned<Node>) -> Self {
        Self {
            kind,
            path: String::new(),
            node,
        }
    }

    fn error(&self, problem: impl Into<String>) -> KubeadmConfigError {
        KubeadmConfigError::Field {
            kind: self.kind,
            path: self.path.clone(),
            line: line_of(self.node),
            problem: problem.into(),
        }
    }

    fn wrong_type(&self, expected: &str) -> KubeadmConfigError {
        self.error(format!(
            "expected {expected}, found {}",
            self.node.value.describe()
        ))
    }

    fn is_null(&self) -> bool {
        matches!(self.node.value, Node::Null)
    }

    /// A mapping; `None` for null.
    fn mapping(&self) -> Result<Option<Mapping<'a>>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Map(entries) => Ok(Some(Mapping {
                kind: self.kind,
                path: self.path.clone(),
                entries,
            })),
            _ => Err(self.wrong_type("a mapping")),
        }
    }

    /// A list, each item with its path; `None` for null.
    fn list(&self) -> Result<Option<Vec<Self>>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Seq(items) => Ok(Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, node)| Value {
                        kind: self.kind,
                        path: format!("{}[{i}]", self.path),
                        node,
                    })
                    .collect(),
            )),
            _ => Err(self.wrong_type("a list")),
        }
    }

    /// A string; `None` for null or empty (kubeadm's "unset").
    fn string(&self) -> Result<Option<&'a str>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Str(s) if s.is_empty() => Ok(None),
            Node::Str(s) => Ok(Some(s)),
            _ => Err(self.wrong_type("a string")),
        }
    }

    fn bool(&self) -> Result<Option<bool>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Bool(b) => Ok(Some(*b)),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    /// A TCP port; `0` is kubeadm's "unset".
    fn port(&self) -> Result<Option<u16>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null | Node::Int(0) => Ok(None),
            Node::Int(n) => u16::try_from(*n)
                .map(Some)
                .map_err(|_| self.error(format!("{n} is not a port (1-65535)"))),
            _ => Err(self.wrong_type("a port number (1-65535)")),
        }
    }

    /// A Go duration string such as `8760h0m0s`.
    fn duration(&self) -> Result<Option<Duration>, KubeadmConfigError> {
        match &self.node.value {
            Node::Null => Ok(None),
            Node::Str(s) => parse_duration(s).map(Some).map_err(|e| self.error(e)),
            _ => Err(self.wrong_type("a duration string such as 8760h0m0s")),
        }
    }
}

/// A mapping inside a document.
struct Mapping<'a> {
    kind: &'static str,
    path: String,
    entries: &'a [(Option<String>, Spanned<Node>)],
}

impl<'a> Mapping<'a> {
    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field `key`. A key that differs from it only in case is an error: kubeadm's decoder
    /// is case-sensitive and would ignore it.
    fn get(&self, key: &str) -> Result<Option<Value<'a>>, KubeadmConfigError> {
        let mut found = None;
        for (name, node) in self.entries {
            let Some(name) = name else { continue };
            if name == key {
                found.get_or_insert(node);
            } else if name.eq_ignore_ascii_case(key) {
                return Err(KubeadmConfigError::Field {
                    kind: self.kind,
                    path: self.child_path(name),
                    line: line_of(node),
                    problem: format!(
                        "unknown field; did you mean {key}? (kubeadm's field names are \
                         case-sensitive and it would ignore this one)"
                    ),
                });
            }
        }
        Ok(found.map(|node| Value {
            kind: self.kind,
            path: self.child_path(key),
            node,
        }))
    }

    /// Refuses fields that belong to the other kind (kubeadm would ignore them here).
    fn refuse_misplaced(
        &self,
        fields: &[&str],
        owner: &'static str,
    ) -> Result<(), KubeadmConfigError> {
        for name in fields {
            if let Some(field) = self.get(name)?.filter(|f| !f.is_null()) {
                return Err(field.error(format!(
                    "belongs in {owner}, not {} (kubeadm would ignore it here)",
                    self.kind
                )));
            }
        }
        Ok(())
    }

    /// The mapping under `key`; `None` when absent or null.
    fn mapping_at(&self, key: &str) -> Result<Option<Self>, KubeadmConfigError> {
        match self.get(key)? {
            Some(field) => field.mapping(),
            None => Ok(None),
        }
    }
}

/// An untyped YAML value. Mapping keys are kept as strings (kubeadm converts YAML to JSON, whose
/// keys are strings); keys that are lists or mappings cannot name a field and become `None`.
#[derive(Debug)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes,
    Seq(Vec<Spanned<Self>>),
    Map(Vec<(Option<String>, Spanned<Self>)>),
}

impl Node {
    /// What the value is, for "expected X, found Y".
    fn describe(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Bool(b) => format!("the boolean {b}"),
            Self::Int(n) => format!("the number {n}"),
            Self::Float(x) => format!("the number {x}"),
            Self::Str(s) => format!("the string {s:?}"),
            Self::Bytes => "binary data".into(),
            Self::Seq(_) => "a list".into(),
            Self::Map(_) => "a mapping".into(),
        }
    }

    fn into_key(self) -> Option<String> {
        match self {
            Self::Str(s) => Some(s),
            Self::Bool(b) => Some(b.to_string()),
            Self::Int(n) => Some(n.to_string()),
            Self::Float(x) => Some(x.to_string()),
            Self::Null => Some("null".into()),
            Self::Bytes | Self::Seq(_) | Self::Map(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        // Beyond i128 only as an approximation; no field here takes such a number anyway.
        Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_bytes<E>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Bytes)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.into_key(), value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1BETA3: &str = include_str!("../../tests/fixtures/kubeadm/v1beta3.yaml");
    const V1BETA3_FULL: &str = include_str!("../../tests/fixtures/kubeadm/v1beta3-full.yaml");
    const V1BETA4: &str = include_str!("../../tests/fixtures/kubeadm/v1beta4.yaml");
    const V1BETA4_FULL: &str = include_str!("../../tests/fixtures/kubeadm/v1beta4-full.yaml");
    const V1BETA4_EXTERNAL_ETCD: &str =
        include_str!("../../tests/fixtures/kubeadm/v1beta4-external-etcd.yaml");
    const KUBELET_ONLY: &str = include_str!("../../tests/fixtures/kubeadm/kubelet-only.yaml");

    fn sans(list: &[&str]) -> Vec<San> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    /// The error message for `text`, which must fail.
    fn error(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("expected an error, parsed {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// A v1beta4 (or v1beta3) ClusterConfiguration with `body` as its fields.
    fn cluster(version: &str, body: &str) -> String {
        format!("apiVersion: kubeadm.k8s.io/{version}\nkind: ClusterConfiguration\n{body}")
    }

    fn init(body: &str) -> String {
        format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n{body}")
    }

    #[test]
    fn v1beta3_init_defaults() {
        let config = parse(V1BETA3).unwrap();
        assert_eq!(
            config,
            KubeadmConfig {
                cluster_name: Some("kubernetes".into()),
                control_plane_endpoint: None,
                service_subnets: Some(cidrs(&["10.96.0.0/12"])),
                dns_domain: Some("cluster.local".into()),
                cert_sans: None,
                etcd: Some(EtcdConfig::Local {
                    server_cert_sans: vec![],
                    peer_cert_sans: vec![],
                }),
                cert_dir: Some("/etc/kubernetes/pki".into()),
                encryption_algorithm: None,
                cert_validity: None,
                ca_validity: None,
                advertise_address: Some("1.2.3.4".parse().unwrap()),
                bind_port: Some(6443),
                node_name: Some("node".into()),
            }
        );
    }

    #[test]
    fn v1beta4_init_defaults() {
        let config = parse(V1BETA4).unwrap();
        assert_eq!(
            config,
            KubeadmConfig {
                cluster_name: Some("kubernetes".into()),
                control_plane_endpoint: None,
                service_subnets: Some(cidrs(&["10.96.0.0/12"])),
                dns_domain: Some("cluster.local".into()),
                cert_sans: None,
                etcd: Some(EtcdConfig::Local {
                    server_cert_sans: vec![],
                    peer_cert_sans: vec![],
                }),
                cert_dir: Some("/etc/kubernetes/pki".into()),
                encryption_algorithm: Some(KeyAlgorithm::Rsa2048),
                cert_validity: Some(hours(8760)),
                ca_validity: Some(hours(87600)),
                advertise_address: Some("1.2.3.4".parse().unwrap()),
                bind_port: Some(6443),
                node_name: Some("node".into()),
            }
        );
    }

    #[test]
    fn v1beta3_documented_example_with_ecdsa_gate() {
        let config = parse(V1BETA3_FULL).unwrap();
        assert_eq!(
            config,
            KubeadmConfig {
                cluster_name: Some("example-cluster".into()),
                control_plane_endpoint: Some("10.100.0.1:6443".parse().unwrap()),
                service_subnets: Some(cidrs(&["10.96.0.0/16"])),
                dns_domain: Some("cluster.local".into()),
                cert_sans: Some(sans(&[
                    "10.100.1.1",
                    "ec2-10-100-0-1.compute-1.amazonaws.com"
                ])),
                etcd: Some(EtcdConfig::Local {
                    server_cert_sans: sans(&["ec2-10-100-0-1.compute-1.amazonaws.com"]),
                    peer_cert_sans: sans(&["10.100.0.1"]),
                }),
                cert_dir: Some("/etc/kubernetes/pki".into()),
                encryption_algorithm: Some(KeyAlgorithm::EcdsaP256),
                cert_validity: None,
                ca_validity: None,
                advertise_address: Some("10.100.0.1".parse().unwrap()),
                bind_port: Some(6443),
                node_name: Some("ec2-10-100-0-1".into()),
            }
        );
    }

    #[test]
    fn v1beta4_every_field_dual_stack_ipv6() {
        let config = parse(V1BETA4_FULL).unwrap();
        let endpoint = config.control_plane_endpoint.clone().unwrap();
        assert_eq!(endpoint.host, San::Ip("fd00:10:100::100".parse().unwrap()));
        assert_eq!(endpoint.port, Some(6443));
        assert_eq!(
            config,
            KubeadmConfig {
                cluster_name: Some("example-cluster".into()),
                control_plane_endpoint: Some(endpoint),
                service_subnets: Some(cidrs(&["10.96.0.0/16", "fd00:10:96::/112"])),
                dns_domain: Some("cluster.example".into()),
                cert_sans: Some(sans(&[
                    "10.100.1.1",
                    "api.example.com",
                    "*.api.example.com",
                    "fd00:10:100::100",
                ])),
                etcd: Some(EtcdConfig::Local {
                    server_cert_sans: sans(&["etcd.example.internal", "fd00:10:100::1"]),
                    peer_cert_sans: sans(&["10.100.0.1", "etcd-peer.example.internal"]),
                }),
                cert_dir: Some("/srv/kubernetes/pki".into()),
                encryption_algorithm: Some(KeyAlgorithm::EcdsaP384),
                cert_validity: Some(hours(2160)),
                ca_validity: Some(hours(175_200)),
                advertise_address: Some("fd00:10:100::1".parse().unwrap()),
                bind_port: Some(8443),
                node_name: Some("cp-1.example.internal".into()),
            }
        );
    }

    #[test]
    fn v1beta4_external_etcd() {
        let config = parse(V1BETA4_EXTERNAL_ETCD).unwrap();
        assert_eq!(config.etcd, Some(EtcdConfig::External));
        assert_eq!(
            pki_core::Etcd::from(config.etcd.clone().unwrap()),
            pki_core::Etcd::External
        );
        assert_eq!(
            config.control_plane_endpoint,
            Some("lb.example.internal:6443".parse().unwrap())
        );
        // Nothing else is set: no InitConfiguration, no networking.serviceSubnet.
        assert_eq!(
            config,
            KubeadmConfig {
                etcd: Some(EtcdConfig::External),
                control_plane_endpoint: config.control_plane_endpoint.clone(),
                ..KubeadmConfig::default()
            }
        );
    }

    #[test]
    fn empty_and_foreign_only_files_set_nothing() {
        for text in [
            "",
            "\n",
            "# just a comment\n",
            "---\n",
            "---\n...\n---\n",
            KUBELET_ONLY,
        ] {
            assert_eq!(parse(text).unwrap(), KubeadmConfig::default(), "{text:?}");
        }
    }

    #[test]
    fn join_reset_upgrade_documents_are_ignored() {
        let text = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: worker-1
discovery:
  bootstrapToken:
    apiServerEndpoint: 10.0.0.1:6443
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ResetConfiguration
certificatesDir: relative/is/not/read/here
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: UpgradeConfiguration
apply:
  certificateRenewal: true
";
        assert_eq!(parse(text).unwrap(), KubeadmConfig::default());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let text = cluster(
            "v1beta4",
            "someFutureField: {a: [1, 2]}\nnetworking:\n  podSubnet: 10.244.0.0/16\n  future: 1\n",
        );
        assert_eq!(parse(&text).unwrap(), KubeadmConfig::default());
    }

    #[test]
    fn empty_strings_and_zero_port_are_unset() {
        let text = format!(
            "{}---\n{}",
            cluster(
                "v1beta4",
                "clusterName: \"\"\ncontrolPlaneEndpoint: \"\"\ncertificatesDir: \"\"\n\
                 encryptionAlgorithm: \"\"\nnetworking:\n  serviceSubnet: \"\"\n  dnsDomain:\n\
                 apiServer: null\netcd: {}\n"
            ),
            init(
                "localAPIEndpoint:\n  advertiseAddress: 0.0.0.0\n  bindPort: 0\nnodeRegistration:\n  name: \"\"\n"
            )
        );
        assert_eq!(parse(&text).unwrap(), KubeadmConfig::default());
        let text = init("localAPIEndpoint:\n  advertiseAddress: \"::\"\n");
        assert_eq!(parse(&text).unwrap().advertise_address, None);
    }

    #[test]
    fn endpoint_forms() {
        for (value, host, port) in [
            ("10.0.0.1", "10.0.0.1", None),
            ("lb.example.com", "lb.example.com", None),
            ("lb.example.com:443", "lb.example.com", Some(443)),
            ("\"[fd00::1]:6443\"", "fd00::1", Some(6443)),
            ("\"fd00::1\"", "fd00::1", None),
        ] {
            let text = cluster("v1beta3", &format!("controlPlaneEndpoint: {value}\n"));
            let endpoint = parse(&text).unwrap().control_plane_endpoint.unwrap();
            assert_eq!(endpoint.host, host.parse::<San>().unwrap(), "{value}");
            assert_eq!(endpoint.port, port, "{value}");
        }
    }

    #[test]
    fn feature_gate_and_encryption_algorithm() {
        let gate = |on: bool| format!("featureGates:\n  PublicKeysECDSA: {on}\n  Other: true\n");
        let algo = |a: &str| format!("encryptionAlgorithm: {a}\n");
        let parsed = |version: &str, body: &str| {
            parse(&cluster(version, body)).unwrap().encryption_algorithm
        };
        assert_eq!(
            parsed("v1beta3", &gate(true)),
            Some(KeyAlgorithm::EcdsaP256)
        );
        assert_eq!(parsed("v1beta3", &gate(false)), Some(KeyAlgorithm::Rsa2048));
        assert_eq!(parsed("v1beta3", "featureGates: {Other: true}\n"), None);
        assert_eq!(
            parsed("v1beta4", &gate(true)),
            Some(KeyAlgorithm::EcdsaP256)
        );
        for a in KeyAlgorithm::ALL {
            assert_eq!(parsed("v1beta4", &algo(a.as_str())), Some(a));
        }
        // Agreeing settings are fine.
        let both = format!("{}{}", algo("ECDSA-P256"), gate(true));
        assert_eq!(parsed("v1beta4", &both), Some(KeyAlgorithm::EcdsaP256));
        // kubeadm would let the gate override encryptionAlgorithm; refuse instead.
        let message = error(&cluster(
            "v1beta4",
            &format!("{}{}", algo("ECDSA-P384"), gate(false)),
        ));
        assert_eq!(
            message,
            "ClusterConfiguration.featureGates.PublicKeysECDSA: false contradicts \
             encryptionAlgorithm: ECDSA-P384 (kubeadm lets the deprecated gate win); remove the \
             gate (line 5)"
        );
    }

    #[test]
    fn bad_encryption_algorithm_names_the_field() {
        let message = error(&cluster("v1beta4", "encryptionAlgorithm: rsa-2048\n"));
        assert_eq!(
            message,
            "ClusterConfiguration.encryptionAlgorithm: \"rsa-2048\" is not one of RSA-2048, \
             RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 (kubeadm wants the exact spelling: \
             RSA-2048) (line 3)"
        );
        let message = error(&cluster("v1beta4", "encryptionAlgorithm: Ed25519\n"));
        assert!(
            message.starts_with(
                "ClusterConfiguration.encryptionAlgorithm: \"Ed25519\" is not one of RSA-2048"
            ),
            "{message}"
        );
        let message = error(&cluster(
            "v1beta4",
            "featureGates:\n  PublicKeysECDSA: \"yes\"\n",
        ));
        assert_eq!(
            message,
            "ClusterConfiguration.featureGates.PublicKeysECDSA: expected true or false, found the \
             string \"yes\" (line 4)"
        );
    }

    #[test]
    fn v1beta4_fields_in_v1beta3_are_refused() {
        for (field, value) in [
            ("encryptionAlgorithm", "ECDSA-P256"),
            ("certificateValidityPeriod", "8760h0m0s"),
            ("caCertificateValidityPeriod", "87600h0m0s"),
        ] {
            let message = error(&cluster("v1beta3", &format!("{field}: {value}\n")));
            assert_eq!(
                message,
                format!(
                    "ClusterConfiguration.{field}: not a field of kubeadm.k8s.io/v1beta3 \
                     (kubeadm would ignore it); use apiVersion kubeadm.k8s.io/v1beta4, or \
                     remove it (line 3)"
                )
            );
        }
        // A null value sets nothing either way.
        assert_eq!(
            parse(&cluster("v1beta3", "encryptionAlgorithm: null\n")).unwrap(),
            KubeadmConfig::default()
        );
    }

    #[test]
    fn misplaced_and_miscased_fields_are_refused() {
        let message = error(&init("certificatesDir: /etc/kubernetes/pki\n"));
        assert_eq!(
            message,
            "InitConfiguration.certificatesDir: belongs in ClusterConfiguration, not \
             InitConfiguration (kubeadm would ignore it here) (line 3)"
        );
        let message = error(&cluster("v1beta4", "localAPIEndpoint:\n  bindPort: 6443\n"));
        assert!(
            message
                .starts_with("ClusterConfiguration.localAPIEndpoint: belongs in InitConfiguration"),
            "{message}"
        );
        let message = error(&cluster("v1beta4", "apiServer:\n  certSans: [a.example]\n"));
        assert_eq!(
            message,
            "ClusterConfiguration.apiServer.certSans: unknown field; did you mean certSANs? \
             (kubeadm's field names are case-sensitive and it would ignore this one) (line 4)"
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            (
                cluster("v1beta4", "networking:\n  serviceSubnet: 10.96.0.0/33\n"),
                "ClusterConfiguration.networking.serviceSubnet: \"10.96.0.0/33\" is not a CIDR: \
                 the prefix length is above 32 (line 4)",
            ),
            (
                cluster(
                    "v1beta4",
                    "networking:\n  serviceSubnet: 10.96.0.0/12,fd00::/200\n",
                ),
                "ClusterConfiguration.networking.serviceSubnet: \"fd00::/200\" (in \
                 \"10.96.0.0/12,fd00::/200\") is not a CIDR: the prefix length is above 128 \
                 (line 4)",
            ),
            (
                cluster(
                    "v1beta4",
                    "networking:\n  serviceSubnet: 10.96.0.0/12,10.97.0.0/16\n",
                ),
                "ClusterConfiguration.networking.serviceSubnet: \"10.96.0.0/12,10.97.0.0/16\" \
                 has two CIDRs of the same IP family; dual-stack needs one IPv4 and one IPv6 \
                 (line 4)",
            ),
            (
                cluster(
                    "v1beta4",
                    "networking:\n  serviceSubnet: 10.96.0.0/12,fd00::/112,10.97.0.0/16\n",
                ),
                "ClusterConfiguration.networking.serviceSubnet: \
                 \"10.96.0.0/12,fd00::/112,10.97.0.0/16\" has 3 CIDRs; at most two (one IPv4, \
                 one IPv6) are allowed (line 4)",
            ),
            (
                cluster("v1beta4", "networking:\n  dnsDomain: Cluster.Local\n"),
                "ClusterConfiguration.networking.dnsDomain: \"Cluster.Local\" is not a lowercase \
                 RFC 1123 DNS name: uppercase letters are not allowed (line 4)",
            ),
            (
                cluster("v1beta4", "controlPlaneEndpoint: lb.example.com:99999\n"),
                "ClusterConfiguration.controlPlaneEndpoint: \"lb.example.com:99999\" is not \
                 HOST or HOST:PORT: the port is not a number from 1 to 65535 (line 3)",
            ),
            (
                cluster(
                    "v1beta4",
                    "apiServer:\n  certSANs:\n  - ok.example\n  - bad_name\n",
                ),
                "ClusterConfiguration.apiServer.certSANs[1]: \"bad_name\" is not an IP address \
                 or DNS name: not an IP address or RFC 1123 DNS name (letters, digits, '-' and \
                 '.' only) (line 6)",
            ),
            (
                cluster("v1beta4", "apiServer:\n  certSANs: 10.0.0.1\n"),
                "ClusterConfiguration.apiServer.certSANs: expected a list, found the string \
                 \"10.0.0.1\" (line 4)",
            ),
            (
                cluster(
                    "v1beta4",
                    "etcd:\n  local:\n    serverCertSANs: [\"-bad\"]\n",
                ),
                "ClusterConfiguration.etcd.local.serverCertSANs[0]: \"-bad\" is not an IP \
                 address or DNS name: a DNS label starts or ends with '-' (line 5)",
            ),
            (
                cluster("v1beta4", "etcd:\n  local:\n    peerCertSANs: [10]\n"),
                "ClusterConfiguration.etcd.local.peerCertSANs[0]: expected a string, found the \
                 number 10 (line 5)",
            ),
            (
                cluster(
                    "v1beta4",
                    "etcd:\n  local: {}\n  external:\n    endpoints: [https://e:2379]\n",
                ),
                "ClusterConfiguration.etcd: local and external are mutually exclusive (line 4)",
            ),
            (
                cluster("v1beta4", "etcd:\n  external:\n    caFile: /ca.crt\n"),
                "ClusterConfiguration.etcd.external: external etcd needs at least one entry in \
                 endpoints (line 5)",
            ),
            (
                cluster("v1beta4", "certificatesDir: pki\n"),
                "ClusterConfiguration.certificatesDir: \"pki\" is not an absolute path (line 3)",
            ),
            (
                cluster("v1beta4", "clusterName: 42\n"),
                "ClusterConfiguration.clusterName: expected a string, found the number 42 \
                 (line 3)",
            ),
            (
                cluster("v1beta4", "clusterName: \"a\\nb\"\n"),
                "ClusterConfiguration.clusterName: \"a\\nb\" contains a control character \
                 (line 3)",
            ),
            (
                cluster("v1beta4", "certificateValidityPeriod: 1y\n"),
                "ClusterConfiguration.certificateValidityPeriod: \"1y\" is not a duration \
                 (examples: 8760h, 365d, 1h30m) (line 3)",
            ),
            (
                cluster("v1beta4", "caCertificateValidityPeriod: 87600\n"),
                "ClusterConfiguration.caCertificateValidityPeriod: expected a duration string \
                 such as 8760h0m0s, found the number 87600 (line 3)",
            ),
            (
                cluster("v1beta4", "networking: [a]\n"),
                "ClusterConfiguration.networking: expected a mapping, found a list (line 3)",
            ),
            (
                init("localAPIEndpoint:\n  advertiseAddress: 1.2.3\n"),
                "InitConfiguration.localAPIEndpoint.advertiseAddress: \"1.2.3\" is not an IP \
                 address (line 4)",
            ),
            (
                init("localAPIEndpoint:\n  bindPort: 70000\n"),
                "InitConfiguration.localAPIEndpoint.bindPort: 70000 is not a port (1-65535) \
                 (line 4)",
            ),
            (
                init("localAPIEndpoint:\n  bindPort: -1\n"),
                "InitConfiguration.localAPIEndpoint.bindPort: -1 is not a port (1-65535) \
                 (line 4)",
            ),
            (
                init("localAPIEndpoint:\n  bindPort: \"6443\"\n"),
                "InitConfiguration.localAPIEndpoint.bindPort: expected a port number (1-65535), \
                 found the string \"6443\" (line 4)",
            ),
            (
                init("nodeRegistration:\n  name: Node_1\n"),
                "InitConfiguration.nodeRegistration.name: \"Node_1\" is not a lowercase RFC 1123 \
                 DNS name: uppercase letters are not allowed (line 4)",
            ),
            (
                init("nodeRegistration:\n  name: \"*.nodes\"\n"),
                "InitConfiguration.nodeRegistration.name: \"*.nodes\" is not a lowercase RFC \
                 1123 DNS name: only letters, digits, '-' and '.' are allowed (line 4)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(&text), expected, "{text}");
        }
    }

    #[test]
    fn unsupported_api_versions_and_bad_documents() {
        let cases = [
            (
                "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n---\n\
                 apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n",
                "document 2 (line 4): apiVersion kubeadm.k8s.io/v1beta2 is not supported \
                 (v1beta3, v1beta4)",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta5\nkind: JoinConfiguration\n",
                "document 1 (line 1): apiVersion kubeadm.k8s.io/v1beta5 is not supported \
                 (v1beta3, v1beta4)",
            ),
            (
                "apiVersion: v1\nkind: InitConfiguration\n",
                "document 1 (line 1): kind InitConfiguration needs apiVersion \
                 kubeadm.k8s.io/v1beta3 or kubeadm.k8s.io/v1beta4, not v1",
            ),
            (
                "kind: ClusterConfiguration\nclusterName: x\n",
                "document 1 (line 1): no apiVersion; every document of a kubeadm config file \
                 needs apiVersion and kind",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nclusterName: x\n",
                "document 1 (line 1): no kind; every document of a kubeadm config file needs \
                 apiVersion and kind",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: [ClusterConfiguration]\n",
                "document 1 (line 1): kind must be a string, found a list",
            ),
            (
                "- apiVersion: kubeadm.k8s.io/v1beta4\n  kind: ClusterConfiguration\n",
                "document 1 (line 1): expected a mapping with apiVersion and kind, found a list",
            ),
            (
                "just some text\n",
                "document 1 (line 1): expected a mapping with apiVersion and kind, found the \
                 string \"just some text\"",
            ),
            (
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n---\n\
                 apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n",
                "document 2 (line 4): kind ClusterConfiguration is given twice (also in \
                 document 1)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text}");
        }
    }

    #[test]
    fn garbage_yaml_names_the_yaml_error() {
        for text in [
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n  clusterName: x\n",
            "key: [unclosed\n",
            "a: 1\na: 2\n",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: a\nclusterName: b\n",
            "{{{{",
            "key: \"unterminated\n",
            "*undefined_alias\n",
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                matches!(err, KubeadmConfigError::Yaml { .. }),
                "{text:?}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.starts_with("malformed YAML: "), "{message}");
            assert!(message.len() > "malformed YAML: ".len() + 5, "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
        let err = parse("a: 1\nb: [\n").unwrap_err();
        assert!(err.line().is_some(), "{err:?}");
    }

    #[test]
    fn anchors_and_merge_keys_work() {
        let text = cluster(
            "v1beta4",
            "x-sans: &sans\n  - a.example\n  - 10.0.0.1\napiServer:\n  certSANs: *sans\netcd:\n  \
             local:\n    serverCertSANs: *sans\n",
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.cert_sans, Some(sans(&["a.example", "10.0.0.1"])));
        assert_eq!(
            config.etcd,
            Some(EtcdConfig::Local {
                server_cert_sans: sans(&["a.example", "10.0.0.1"]),
                peer_cert_sans: vec![],
            })
        );
    }

    #[test]
    fn mixed_versions_across_kinds() {
        let text = format!(
            "{}---\n{}",
            init("nodeRegistration:\n  name: cp-0\n"),
            cluster("v1beta3", "clusterName: c\n")
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.node_name.as_deref(), Some("cp-0"));
        assert_eq!(config.cluster_name.as_deref(), Some("c"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let inputs = [
            "\u{feff}apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
            "? [complex, key]\n: value\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 340282366920938463463374607431768211455\n",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 1e400\n",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: .nan\n",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: !!binary aGVsbG8=\n",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: !custom x\n",
            "apiVersion: kubeadm.k8s.io\nkind: ClusterConfiguration\n",
            "apiVersion: /\nkind: x\n",
            "a: &a [*a]\n",
            "\0\0\0",
            "---\n- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -\n",
            &"[".repeat(10_000),
            &"- ".repeat(10_000),
            &format!("a: &x 1\n{}", "b: *x\n".repeat(100)),
        ];
        for text in inputs {
            let _ = parse(text);
        }
    }
}
