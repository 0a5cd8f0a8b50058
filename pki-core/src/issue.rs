//! Issuing certificates with kubeadm's X.509 profile (spec §1.4): random positive 63-bit
//! serial, critical KeyUsage, ExtKeyUsage, critical BasicConstraints, SKI on CAs, AKI copied
//! from the CA's SKI on leaves, DNS SANs before IP SANs, extensions in Go's order.

use std::{
    net::IpAddr,
    time::{Duration, SystemTime},
};

use aws_lc_rs::rand::SecureRandom as _;
use const_oid::{AssociatedOid, ObjectIdentifier, db::rfc4519, db::rfc5280};
use der::{
    Decode, Encode, Sequence, Tag,
    asn1::{Any, AnyRef, BitStringRef, Ia5String, OctetString, UintRef},
};
use sha2::{Digest, Sha256};
use x509_cert::{
    attr::AttributeTypeAndValue,
    ext::{
        Extension,
        pkix::{
            AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
            SubjectAltName, SubjectKeyIdentifier, name::GeneralName,
        },
    },
    name::{Name, RdnSequence, RelativeDistinguishedName},
    spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned},
    time::Time,
};

use crate::{Certificate, Error, PrivateKey, San, cert::rfc3339};

/// kubeadm's `CertificateBackdate`: NotBefore is set this far before "now", so that a node
/// whose clock is a little behind still accepts the certificates.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// kubeadm's leaf validity (`CertificateValidityPeriod`, 8760h).
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// kubeadm's CA validity (`CACertificateValidityPeriod`, 87600h).
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// What a certificate is for; sets is-CA, KeyUsage and ExtKeyUsage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// A CA: keyCertSign, CA:TRUE, no ExtKeyUsage.
    Ca,
    /// A TLS server: serverAuth.
    Server,
    /// A TLS client: clientAuth.
    Client,
    /// Both, serverAuth then clientAuth (etcd server and peer).
    ServerClient,
}

/// A validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// NotBefore.
    pub not_before: SystemTime,
    /// NotAfter.
    pub not_after: SystemTime,
}

impl Validity {
    /// kubeadm v1.31+: from `now` − 5 minutes to `now` + `period`, in whole seconds.
    pub fn kubeadm(now: SystemTime, period: Duration) -> Self {
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(SystemTime::UNIX_EPOCH, |d| {
                    SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs())
                })
        };
        Self {
            not_before: secs(now.checked_sub(BACKDATE).unwrap_or(SystemTime::UNIX_EPOCH)),
            not_after: secs(now.checked_add(period).unwrap_or(now)),
        }
    }

    /// This period, its end moved back to `limit` if it went past it.
    pub fn capped_at(self, limit: SystemTime) -> Self {
        Self {
            not_before: self.not_before,
            not_after: self.not_after.min(limit),
        }
    }
}

/// Everything that varies between certificates; the rest is kubeadm's profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSpec {
    /// Subject CN. Must not be empty.
    pub common_name: String,
    /// Subject O values, one RDN each, in order (Kubernetes groups).
    pub organizations: Vec<String>,
    /// What it is for.
    pub usage: Usage,
    /// Subject alternative names. For a CA, kubeadm puts its CN as the one DNS SAN.
    pub sans: Vec<San>,
    /// Validity period.
    pub validity: Validity,
}

/// A client identity as Kubernetes' x509 authenticator reads it: CN = user, O = groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The user name (CN).
    pub user: String,
    /// The groups (O), in order.
    pub groups: Vec<String>,
}

/// A CA certificate with its private key: the thing that signs.
#[derive(Debug)]
pub struct CertificateAuthority {
    cert: Certificate,
    key: PrivateKey,
}

impl CertificateAuthority {
    /// Makes a self-signed CA for `spec` (its usage must be [`Usage::Ca`]) with `key`.
    pub fn self_signed(spec: &CertSpec, key: PrivateKey) -> Result<Self, Error> {
        if spec.usage != Usage::Ca {
            return Err(Error::InvalidValidity {
                reason: "a self-signed certificate must be a CA".into(),
            });
        }
        let spki = key.public_key_der()?;
        let subject = build_name(&spec.common_name, &spec.organizations)?;
        let der = sign_tbs(spec, &subject, &subject, &spki, None, &key)?;
        Ok(Self {
            cert: Certificate::from_der(&der)?,
            key,
        })
    }

    /// Pairs an existing CA certificate with its key: the certificate must be a CA and the key
    /// must be its key.
    pub fn from_parts(cert: Certificate, key: PrivateKey) -> Result<Self, Error> {
        let subject = cert.common_name().unwrap_or_default();
        if !cert.is_ca() {
            return Err(Error::NotCa { subject });
        }
        if !cert.matches_key(&key)? {
            return Err(Error::KeyMismatch { subject });
        }
        Ok(Self { cert, key })
    }

    /// Parses a CA from PEM text (see [`Self::from_parts`]).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, Error> {
        Self::from_parts(
            Certificate::from_pem(cert_pem)?,
            PrivateKey::from_pem(key_pem)?,
        )
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The CA's private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Errors unless the CA is valid at `now`: an expired CA cannot issue anything useful.
    pub fn check_valid_at(&self, now: SystemTime) -> Result<(), Error> {
        if self.cert.is_valid_at(now) {
            Ok(())
        } else {
            Err(Error::CaNotValid {
                subject: self.cert.common_name().unwrap_or_default(),
                expired: now > self.cert.not_after(),
                not_before: rfc3339(self.cert.not_before()),
                not_after: rfc3339(self.cert.not_after()),
            })
        }
    }

    /// Issues a leaf for `spec` over the public key `spki_der` (a DER SubjectPublicKeyInfo:
    /// from a [`PrivateKey`] or a CSR). The leaf never outlives the CA: its NotAfter is capped
    /// at the CA's.
    pub fn issue(&self, spec: &CertSpec, spki_der: &[u8]) -> Result<Certificate, Error> {
        if spec.usage == Usage::Ca {
            return Err(Error::InvalidValidity {
                reason: "issuing intermediate CAs is not supported".into(),
            });
        }
        let mut spec = spec.clone();
        spec.validity = spec.validity.capped_at(self.cert.not_after());
        let subject = build_name(&spec.common_name, &spec.organizations)?;
        let issuer = self.cert.subject_name().clone();
        let der = sign_tbs(
            &spec,
            &issuer,
            &subject,
            spki_der,
            self.cert.subject_key_id(),
            &self.key,
        )?;
        Certificate::from_der(&der)
    }

    /// Issues a client certificate (CN = user, O = groups, clientAuth) for `key`.
    pub fn issue_client(
        &self,
        id: &ClientIdentity,
        key: &PrivateKey,
        validity: Validity,
    ) -> Result<Certificate, Error> {
        let spec = CertSpec {
            common_name: id.user.clone(),
            organizations: id.groups.clone(),
            usage: Usage::Client,
            sans: Vec::new(),
            validity,
        };
        self.issue(&spec, &key.public_key_der()?)
    }
}

/// TBSCertificate as RFC 5280 defines it, encoded field by field.
#[derive(Sequence)]
struct TbsCertificate<'a> {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial_number: UintRef<'a>,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: x509_cert::time::Validity,
    subject: Name,
    subject_public_key_info: AnyRef<'a>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

/// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }.
#[derive(Sequence)]
struct SignedCertificate<'a> {
    tbs_certificate: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitStringRef<'a>,
}

fn sign_tbs(
    spec: &CertSpec,
    issuer: &Name,
    subject: &Name,
    spki_der: &[u8],
    authority_key_id: Option<Vec<u8>>,
    signer: &PrivateKey,
) -> Result<Vec<u8>, Error> {
    if spec.common_name.is_empty() {
        return Err(Error::InvalidName {
            field: "common name",
            value: String::new(),
            reason: "must not be empty",
        });
    }
    if spec.validity.not_after <= spec.validity.not_before {
        return Err(Error::InvalidValidity {
            reason: format!(
                "NotAfter {} is not after NotBefore {}",
                rfc3339(spec.validity.not_after),
                rfc3339(spec.validity.not_before)
            ),
        });
    }
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)
        .map_err(Error::der("SubjectPublicKeyInfo"))?;
    let serial = random_serial()?;
    let time = |t: SystemTime| {
        Time::try_from(t).map_err(|_| Error::InvalidValidity {
            reason: format!("{} cannot be encoded in a certificate", rfc3339(t)),
        })
    };
    let extensions = extensions(spec, &spki, authority_key_id)?;
    let tbs = TbsCertificate {
        version: 2,
        serial_number: UintRef::new(&serial).map_err(Error::der("serial number"))?,
        signature: signer.signature_algorithm(),
        issuer: issuer.clone(),
        validity: x509_cert::time::Validity::new(
            time(spec.validity.not_before)?,
            time(spec.validity.not_after)?,
        ),
        subject: subject.clone(),
        subject_public_key_info: AnyRef::try_from(spki_der)
            .map_err(Error::der("SubjectPublicKeyInfo"))?,
        extensions,
    }
    .to_der()
    .map_err(Error::der("TBSCertificate"))?;
    let signature = signer.sign(&tbs, &spec.common_name)?;
    SignedCertificate {
        tbs_certificate: AnyRef::try_from(tbs.as_slice()).map_err(Error::der("TBSCertificate"))?,
        signature_algorithm: signer.signature_algorithm(),
        signature: BitStringRef::from_bytes(&signature).map_err(Error::der("signature"))?,
    }
    .to_der()
    .map_err(Error::der("certificate"))
}

/// A uniformly random serial in [1, 2^63 − 1], as Go's kubeadm draws it.
fn random_serial() -> Result<[u8; 8], Error> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    loop {
        let mut bytes = [0u8; 8];
        rng.fill(&mut bytes).map_err(|_| Error::Sign {
            what: "serial number".into(),
        })?;
        bytes[0] &= 0x7f;
        if bytes != [0; 8] && bytes != [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] {
            return Ok(bytes);
        }
    }
}

pub(crate) fn extension<T: Encode + AssociatedOid>(
    value: &T,
    critical: bool,
) -> Result<Extension, Error> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(Error::der("extension"))?)
            .map_err(Error::der("extension"))?,
    })
}

/// Extensions in the order Go emits them: keyUsage, extKeyUsage, basicConstraints, SKI, AKI,
/// SAN.
fn extensions(
    spec: &CertSpec,
    spki: &SubjectPublicKeyInfoOwned,
    authority_key_id: Option<Vec<u8>>,
) -> Result<Vec<Extension>, Error> {
    let is_ca = spec.usage == Usage::Ca;
    let mut out = Vec::with_capacity(6);
    let ku = if is_ca {
        KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment | KeyUsages::KeyCertSign
    } else {
        KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
    };
    out.push(extension(&KeyUsage(ku), true)?);
    let eku: Vec<ObjectIdentifier> = match spec.usage {
        Usage::Ca => vec![],
        Usage::Server => vec![rfc5280::ID_KP_SERVER_AUTH],
        Usage::Client => vec![rfc5280::ID_KP_CLIENT_AUTH],
        Usage::ServerClient => vec![rfc5280::ID_KP_SERVER_AUTH, rfc5280::ID_KP_CLIENT_AUTH],
    };
    if !eku.is_empty() {
        out.push(extension(&ExtendedKeyUsage(eku), false)?);
    }
    out.push(extension(
        &BasicConstraints {
            ca: is_ca,
            path_len_constraint: None,
        },
        true,
    )?);
    if is_ca {
        // RFC 7093 method 1, as Go 1.25+ computes it: the leftmost 160 bits of the SHA-256 of
        // the subjectPublicKey BIT STRING's bytes.
        let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
        let ski = OctetString::new(&digest[..20]).map_err(Error::der("SubjectKeyIdentifier"))?;
        out.push(extension(&SubjectKeyIdentifier(ski), false)?);
    } else if let Some(aki) = authority_key_id {
        out.push(extension(
            &AuthorityKeyIdentifier {
                key_identifier: Some(
                    OctetString::new(aki).map_err(Error::der("AuthorityKeyIdentifier"))?,
                ),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
            false,
        )?);
    }
    let names = san_list(&spec.sans)?;
    if !names.is_empty() {
        out.push(extension(&SubjectAltName(names), false)?);
    }
    Ok(out)
}

/// DNS names deduplicated and sorted, then IPs deduplicated in insertion order (spec §1.2).
pub(crate) fn normalize_sans(sans: &[San]) -> Vec<San> {
    let mut dns: Vec<String> = sans
        .iter()
        .filter_map(|s| match s {
            San::Dns(d) => Some(d.clone()),
            San::Ip(_) => None,
        })
        .collect();
    dns.sort();
    dns.dedup();
    let mut ips: Vec<IpAddr> = Vec::new();
    for s in sans {
        if let San::Ip(ip) = s
            && !ips.contains(ip)
        {
            ips.push(*ip);
        }
    }
    dns.into_iter()
        .map(San::Dns)
        .chain(ips.into_iter().map(San::Ip))
        .collect()
}

/// The SubjectAltName GeneralNames for `sans`, normalised by [`normalize_sans`].
pub(crate) fn san_list(sans: &[San]) -> Result<Vec<GeneralName>, Error> {
    normalize_sans(sans)
        .into_iter()
        .map(|s| match s {
            San::Dns(d) => Ia5String::new(&d)
                .map(GeneralName::DnsName)
                .map_err(Error::der("DNS SAN")),
            San::Ip(IpAddr::V4(v4)) => OctetString::new(v4.octets().to_vec())
                .map(GeneralName::IpAddress)
                .map_err(Error::der("IP SAN")),
            San::Ip(IpAddr::V6(v6)) => OctetString::new(v6.octets().to_vec())
                .map(GeneralName::IpAddress)
                .map_err(Error::der("IP SAN")),
        })
        .collect()
}

/// A Name with one RDN per O (in order), then the CN, as Go's pkix.Name orders them. Values
/// are PrintableString where every character allows it, else UTF8String, as Go encodes them.
pub(crate) fn build_name(common_name: &str, organizations: &[String]) -> Result<Name, Error> {
    let mut rdns = RdnSequence::default();
    for o in organizations {
        rdns.push(rdn(rfc4519::O, "organization", o)?);
    }
    rdns.push(rdn(rfc4519::CN, "common name", common_name)?);
    Ok(Name::hazmat_from_rdn_sequence(rdns))
}

fn rdn(
    oid: ObjectIdentifier,
    field: &'static str,
    value: &str,
) -> Result<RelativeDistinguishedName, Error> {
    if value.is_empty() {
        return Err(Error::InvalidName {
            field,
            value: value.to_owned(),
            reason: "must not be empty",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidName {
            field,
            value: value.escape_debug().to_string(),
            reason: "contains control characters",
        });
    }
    let printable = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let tag = if printable {
        Tag::PrintableString
    } else {
        Tag::Utf8String
    };
    let any = Any::new(tag, value.as_bytes()).map_err(Error::der("name"))?;
    RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue { oid, value: any }])
        .map_err(Error::der("name"))
}
