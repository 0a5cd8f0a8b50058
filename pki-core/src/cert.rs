//! Certificates: parse and inspect (x509-cert), verify "signed by" and "matches key" with
//! RustCrypto code that is independent of the aws-lc-rs signer.

use std::{
    fmt::Write as _,
    net::IpAddr,
    time::{Duration, SystemTime},
};

use const_oid::{
    AssociatedOid, ObjectIdentifier,
    db::{rfc4519, rfc5280, rfc5912},
};
use der::{
    Decode, Encode, Tagged as _,
    asn1::{Any, Ia5StringRef, PrintableStringRef, Utf8StringRef},
};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName,
    SubjectKeyIdentifier, name::GeneralName,
};

use crate::{Error, KeyAlgorithm, PrivateKey, San, key, pem};

/// An extended key usage.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtKeyUsage {
    /// TLS server authentication.
    ServerAuth,
    /// TLS client authentication.
    ClientAuth,
    /// Anything else, by OID.
    Other(String),
}

/// A parsed X.509 certificate, with the DER it came from.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.common_name())
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Certificate {
    /// Parses one DER certificate. Trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let parsed = x509_cert::Certificate::from_der(der).map_err(Error::der("certificate"))?;
        Ok(Self {
            der: der.to_vec(),
            parsed,
        })
    }

    /// Parses the first `CERTIFICATE` block of `pem` (a chain file's leaf).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        Self::chain_from_pem(pem)?
            .into_iter()
            .next()
            .ok_or(Error::NoPem {
                expected: "CERTIFICATE",
            })
    }

    /// Parses every `CERTIFICATE` block of `pem`, in order. At least one is required.
    pub fn chain_from_pem(pem: &str) -> Result<Vec<Self>, Error> {
        let certs = pem::blocks(pem)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| Self::from_der(&b.der))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(Error::NoPem {
                expected: "CERTIFICATE",
            });
        }
        Ok(certs)
    }

    /// The certificate as a `CERTIFICATE` PEM block.
    pub fn to_pem(&self) -> String {
        pem::encode("CERTIFICATE", &self.der)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn tbs(&self) -> &x509_cert::TbsCertificate {
        self.parsed.tbs_certificate()
    }

    pub(crate) fn subject_name(&self) -> &x509_cert::name::Name {
        self.tbs().subject()
    }

    /// The subject's common name (the first CN), if any.
    pub fn common_name(&self) -> Option<String> {
        name_values(self.tbs().subject(), rfc4519::CN)
            .into_iter()
            .next()
    }

    /// The subject's organizations (every O, in order): the groups Kubernetes reads.
    pub fn organizations(&self) -> Vec<String> {
        name_values(self.tbs().subject(), rfc4519::O)
    }

    /// The issuer's common name, if any.
    pub fn issuer_common_name(&self) -> Option<String> {
        name_values(self.tbs().issuer(), rfc4519::CN)
            .into_iter()
            .next()
    }

    /// The serial number as lowercase hex.
    pub fn serial_hex(&self) -> String {
        hex(self.tbs().serial_number().as_bytes())
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> SystemTime {
        self.tbs().validity().not_before.to_system_time()
    }

    /// End of the validity period.
    pub fn not_after(&self) -> SystemTime {
        self.tbs().validity().not_after.to_system_time()
    }

    /// Whether `now` falls in the validity period.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.not_before() <= now && now <= self.not_after()
    }

    fn extension<T: for<'a> Decode<'a> + AssociatedOid>(&self) -> Option<(bool, T)> {
        let ext = self
            .tbs()
            .extensions()?
            .iter()
            .find(|e| e.extn_id == T::OID)?;
        T::from_der(ext.extn_value.as_bytes())
            .ok()
            .map(|v| (ext.critical, v))
    }

    /// Whether BasicConstraints says CA:TRUE.
    pub fn is_ca(&self) -> bool {
        self.extension::<BasicConstraints>()
            .is_some_and(|(_, bc)| bc.ca)
    }

    /// The KeyUsage extension, if present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.extension::<KeyUsage>().map(|(_, ku)| ku)
    }

    /// The extended key usages, in order.
    pub fn ext_key_usages(&self) -> Vec<ExtKeyUsage> {
        self.extension::<ExtendedKeyUsage>()
            .map(|(_, eku)| {
                eku.0
                    .iter()
                    .map(|oid| match *oid {
                        rfc5280::ID_KP_SERVER_AUTH => ExtKeyUsage::ServerAuth,
                        rfc5280::ID_KP_CLIENT_AUTH => ExtKeyUsage::ClientAuth,
                        other => ExtKeyUsage::Other(other.to_string()),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The subject alternative names (DNS names and IP addresses), in certificate order.
    pub fn sans(&self) -> Vec<San> {
        let Some((_, SubjectAltName(names))) = self.extension::<SubjectAltName>() else {
            return Vec::new();
        };
        sans_from_general_names(&names)
    }

    /// Whether the certificate is valid for `name`: a literal SAN (DNS case-insensitive), or a
    /// `*.` wildcard SAN covering exactly one leftmost label.
    pub fn covers(&self, name: &San) -> bool {
        self.sans().iter().any(|san| match (san, name) {
            (San::Ip(a), San::Ip(b)) => a == b,
            (San::Dns(have), San::Dns(want)) => {
                have.eq_ignore_ascii_case(want)
                    || have.strip_prefix("*.").is_some_and(|suffix| {
                        want.split_once('.').is_some_and(|(first, rest)| {
                            !first.is_empty() && first != "*" && rest.eq_ignore_ascii_case(suffix)
                        })
                    })
            }
            _ => false,
        })
    }

    /// The SubjectKeyIdentifier, if present.
    pub fn subject_key_id(&self) -> Option<Vec<u8>> {
        self.extension::<SubjectKeyIdentifier>()
            .map(|(_, ski)| ski.0.as_bytes().to_vec())
    }

    /// The AuthorityKeyIdentifier's key identifier, if present.
    pub fn authority_key_id(&self) -> Option<Vec<u8>> {
        self.extension::<AuthorityKeyIdentifier>()
            .and_then(|(_, aki)| aki.key_identifier.map(|k| k.as_bytes().to_vec()))
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Result<Vec<u8>, Error> {
        self.tbs()
            .subject_public_key_info()
            .to_der()
            .map_err(Error::der("SubjectPublicKeyInfo"))
    }

    /// The algorithm of the certified key.
    pub fn key_algorithm(&self) -> Result<KeyAlgorithm, Error> {
        key::spki_algorithm(self.tbs().subject_public_key_info())
    }

    /// SHA-256 over the DER certificate, lowercase hex (what `openssl x509 -fingerprint -sha256`
    /// prints, without colons).
    pub fn sha256_fingerprint(&self) -> String {
        hex(&Sha256::digest(&self.der))
    }

    /// kubeadm's `--discovery-token-ca-cert-hash`: `sha256:` and the hex SHA-256 of the DER
    /// SubjectPublicKeyInfo.
    pub fn discovery_hash(&self) -> Result<String, Error> {
        Ok(format!(
            "sha256:{}",
            hex(&Sha256::digest(self.public_key_der()?))
        ))
    }

    /// Checks that `issuer` signed this certificate: the issuer name matches the issuer's
    /// subject, and the signature verifies under the issuer's public key. The verification uses
    /// the RustCrypto `rsa`, `p256` and `p384` crates, independent of the signing backend.
    pub fn verify_signed_by(&self, issuer: &Self) -> Result<(), Error> {
        let not_signed = || Error::NotSignedBy {
            subject: self.common_name().unwrap_or_default(),
            issuer: issuer.common_name().unwrap_or_default(),
        };
        if self.tbs().issuer() != issuer.tbs().subject() {
            return Err(not_signed());
        }
        // RFC 5280 §4.1.1.2: the outer algorithm must equal the signed one, and its parameters
        // (not covered by the signature) must be absent or NULL for RSA PKCS#1 v1.5 and ECDSA.
        let outer = self.parsed.signature_algorithm();
        if outer != self.tbs().signature() || !signature_parameters_ok(outer) {
            return Err(not_signed());
        }
        let tbs = self.tbs().to_der().map_err(Error::der("TBSCertificate"))?;
        let sig = self.parsed.signature().as_bytes().ok_or_else(not_signed)?;
        if verify_signature(
            issuer.tbs().subject_public_key_info(),
            &self.parsed.signature_algorithm().oid,
            &tbs,
            sig,
        )? {
            Ok(())
        } else {
            Err(not_signed())
        }
    }

    /// Whether `key` is the private half of this certificate's public key. Compared without
    /// the signing backend: the RSA modulus and exponent from the PKCS#1 key, or the EC public
    /// point computed by the RustCrypto curve crates from the SEC1 scalar.
    pub fn matches_key(&self, key: &PrivateKey) -> Result<bool, Error> {
        let spki = self.tbs().subject_public_key_info();
        let secret = key.secret_der()?;
        let cert_key = spki.subject_public_key.raw_bytes();
        let invalid = |encoding: &'static str| {
            move |e: der::Error| Error::InvalidKey {
                encoding,
                reason: e.to_string(),
            }
        };
        Ok(match key.algorithm() {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                if spki.algorithm.oid != rfc5912::RSA_ENCRYPTION {
                    return Ok(false);
                }
                let private =
                    rsa::pkcs1::RsaPrivateKey::<der::asn1::UintRef<'_>>::from_der(&secret)
                        .map_err(invalid("PKCS#1"))?;
                let public = rsa::pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(cert_key)
                    .map_err(invalid("PKCS#1 public"))?;
                private.modulus == public.modulus
                    && private.public_exponent == public.public_exponent
            }
            KeyAlgorithm::EcdsaP256 => {
                let sk =
                    p256::SecretKey::from_sec1_der(&secret).map_err(|_| Error::InvalidKey {
                        encoding: "SEC1",
                        reason: "not a P-256 key".into(),
                    })?;
                let point =
                    p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&sk.public_key(), false);
                point.as_bytes() == cert_key
            }
            KeyAlgorithm::EcdsaP384 => {
                let sk =
                    p384::SecretKey::from_sec1_der(&secret).map_err(|_| Error::InvalidKey {
                        encoding: "SEC1",
                        reason: "not a P-384 key".into(),
                    })?;
                let point =
                    p384::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&sk.public_key(), false);
                point.as_bytes() == cert_key
            }
        })
    }
}

/// Whether a signature AlgorithmIdentifier's parameters are absent or NULL, the two encodings
/// RFC 4055 (RSA) and RFC 5758 (ECDSA, where absent is required and NULL is a common encoder
/// slip) leave room for. Anything else is a malformed or altered identifier.
pub(crate) fn signature_parameters_ok(alg: &x509_cert::spki::AlgorithmIdentifierOwned) -> bool {
    alg.parameters
        .as_ref()
        .is_none_or(|p| p.tag() == der::Tag::Null && p.value().is_empty())
}

/// Verifies `sig` over `msg` with the key in `spki`, for the signature algorithm `alg`.
pub(crate) fn verify_signature(
    spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    alg: &ObjectIdentifier,
    msg: &[u8],
    sig: &[u8],
) -> Result<bool, Error> {
    use rsa::signature::Verifier as _;
    use rsa::signature::hazmat::PrehashVerifier as _;

    let unsupported = || Error::UnsupportedSignature {
        oid: alg.to_string(),
    };
    let key_bytes = spki.subject_public_key.raw_bytes();
    match *alg {
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            if spki.algorithm.oid != rfc5912::RSA_ENCRYPTION {
                return Ok(false);
            }
            let pkcs1 = rsa::pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(key_bytes)
                .map_err(Error::der("RSA public key"))?;
            let public = rsa::PublicKey::try_from(pkcs1).map_err(|_| Error::UnsupportedKey {
                what: "RSA public key outside the supported sizes".into(),
            })?;
            let Ok(signature) = rsa::pkcs1v15::Signature::try_from(sig) else {
                return Ok(false);
            };
            Ok(match *alg {
                rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
                    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
                        .verify(msg, &signature)
                        .is_ok()
                }
                rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
                    rsa::pkcs1v15::VerifyingKey::<Sha384>::new(public)
                        .verify(msg, &signature)
                        .is_ok()
                }
                _ => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(public)
                    .verify(msg, &signature)
                    .is_ok(),
            })
        }
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::ECDSA_WITH_SHA_384 | rfc5912::ECDSA_WITH_SHA_512 => {
            if spki.algorithm.oid != rfc5912::ID_EC_PUBLIC_KEY {
                return Ok(false);
            }
            let digest: Vec<u8> = match *alg {
                rfc5912::ECDSA_WITH_SHA_256 => Sha256::digest(msg).to_vec(),
                rfc5912::ECDSA_WITH_SHA_384 => Sha384::digest(msg).to_vec(),
                _ => Sha512::digest(msg).to_vec(),
            };
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(unsupported)?;
            if curve == rfc5912::SECP_256_R_1 {
                let Ok(vk) = p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes) else {
                    return Ok(false);
                };
                let Ok(s) = p256::ecdsa::Signature::from_der(sig) else {
                    return Ok(false);
                };
                Ok(vk.verify_prehash(&digest, &s).is_ok())
            } else if curve == rfc5912::SECP_384_R_1 {
                let Ok(vk) = p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes) else {
                    return Ok(false);
                };
                let Ok(s) = p384::ecdsa::Signature::from_der(sig) else {
                    return Ok(false);
                };
                Ok(vk.verify_prehash(&digest, &s).is_ok())
            } else {
                Err(unsupported())
            }
        }
        _ => Err(unsupported()),
    }
}

/// The DNS names and IP addresses among `names`, in order; other kinds of name (URIs, email
/// addresses, …) and IP entries that are neither 4 nor 16 bytes are left out.
pub(crate) fn sans_from_general_names(names: &[GeneralName]) -> Vec<San> {
    names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DnsName(d) => Some(San::Dns(d.to_string())),
            GeneralName::IpAddress(o) => match o.as_bytes().len() {
                4 => <[u8; 4]>::try_from(o.as_bytes())
                    .ok()
                    .map(|b| San::Ip(IpAddr::from(b))),
                16 => <[u8; 16]>::try_from(o.as_bytes())
                    .ok()
                    .map(|b| San::Ip(IpAddr::from(b))),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The string values of every attribute `oid` in `name`, in order.
pub(crate) fn name_values(name: &x509_cert::name::Name, oid: ObjectIdentifier) -> Vec<String> {
    name.iter()
        .filter(|atv| atv.oid == oid)
        .filter_map(|atv| any_string(&atv.value))
        .collect()
}

fn any_string(value: &Any) -> Option<String> {
    if let Ok(s) = value.decode_as::<Utf8StringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    if let Ok(s) = value.decode_as::<PrintableStringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    if let Ok(s) = value.decode_as::<Ia5StringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    None
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Seconds since the Unix epoch, for messages.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    der::DateTime::from_unix_duration(secs)
        .map_or_else(|_| format!("{}s", secs.as_secs()), |d| d.to_string())
}
