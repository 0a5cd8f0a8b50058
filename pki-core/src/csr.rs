//! PKCS#10 certificate signing requests (RFC 2986): build one for a key, parse one, inspect it
//! and check its self-signature with the same RustCrypto verifier certificates use.
//!
//! ```text
//! CertificationRequest ::= SEQUENCE {
//!     certificationRequestInfo CertificationRequestInfo,
//!     signatureAlgorithm       AlgorithmIdentifier,
//!     signature                BIT STRING }
//!
//! CertificationRequestInfo ::= SEQUENCE {
//!     version       INTEGER { v1(0) },
//!     subject       Name,
//!     subjectPKInfo SubjectPublicKeyInfo,
//!     attributes    [0] IMPLICIT SET OF Attribute }
//! ```

use std::fmt;

use const_oid::{AssociatedOid as _, db::rfc4519, db::rfc5912};
use der::{
    Decode, Encode, Sequence,
    asn1::{AnyRef, BitString, BitStringRef},
};
use x509_cert::{
    attr::{Attribute, Attributes},
    ext::{Extension, pkix::SubjectAltName},
    request::{CertReq, CertReqInfo, ExtensionReq, Version},
    spki::SubjectPublicKeyInfoOwned,
};

use crate::{
    Error, KeyAlgorithm, PrivateKey, San,
    cert::{self, name_values},
    issue, key, pem,
};

/// The PEM label RFC 7468 gives a PKCS#10 request.
const LABEL: &str = "CERTIFICATE REQUEST";
/// The label older tools (Netscape, `keytool`, some Windows CAs) write.
const LEGACY_LABEL: &str = "NEW CERTIFICATE REQUEST";

/// A parsed PKCS#10 certificate signing request, with the DER it came from.
///
/// Parsing checks the structure (and that the `extensionRequest` attribute, when present, is
/// well formed); it does not check the signature: call [`Csr::verify_self_signature`] before
/// trusting that the requester holds the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Csr {
    der: Vec<u8>,
    parsed: CertReq,
    public_key: Vec<u8>,
    sans: Vec<San>,
}

impl fmt::Debug for Csr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Csr")
            .field("subject", &self.common_name())
            .field("organizations", &self.organizations())
            .field("sans", &self.sans)
            .finish_non_exhaustive()
    }
}

impl Csr {
    /// Builds and signs a request for `key`: subject O = `organizations` (one RDN each, in
    /// order) then CN = `common_name`, encoded as certificates encode names; when `sans` is not
    /// empty, an `extensionRequest` attribute (PKCS#9, 1.2.840.113549.1.9.14) asking for a
    /// non-critical SubjectAltName with the names in certificate order (DNS names sorted and
    /// deduplicated, then IP addresses). Version 0; no attributes when there are no SANs.
    pub fn build(
        key: &PrivateKey,
        common_name: &str,
        organizations: &[String],
        sans: &[San],
    ) -> Result<Self, Error> {
        let subject = issue::build_name(common_name, organizations)?;
        let public_key = SubjectPublicKeyInfoOwned::from_der(&key.public_key_der()?)
            .map_err(Error::der("SubjectPublicKeyInfo"))?;
        let mut attributes = Attributes::new();
        let names = issue::san_list(sans)?;
        if !names.is_empty() {
            let request = ExtensionReq(vec![issue::extension(&SubjectAltName(names), false)?]);
            let attribute = Attribute::try_from(request).map_err(Error::der("extensionRequest"))?;
            attributes
                .insert(attribute)
                .map_err(Error::der("extensionRequest"))?;
        }
        let info = CertReqInfo {
            version: Version::V1,
            subject,
            public_key,
            attributes,
        };
        let info_der = info
            .to_der()
            .map_err(Error::der("CertificationRequestInfo"))?;
        let signature = key.sign(
            &info_der,
            &format!("the certificate request for {common_name:?}"),
        )?;
        let der = CertReq {
            info,
            algorithm: key.signature_algorithm(),
            signature: BitString::from_bytes(&signature).map_err(Error::der("signature"))?,
        }
        .to_der()
        .map_err(Error::der("certificate request"))?;
        Self::from_der(&der)
    }

    /// Parses one DER request. Trailing bytes are an error, and so is an `extensionRequest`
    /// attribute that is repeated, has other than one value, does not decode, or requests the
    /// same extension twice.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let parsed = CertReq::from_der(der).map_err(Error::der("certificate request"))?;
        let public_key = parsed
            .info
            .public_key
            .to_der()
            .map_err(Error::der("SubjectPublicKeyInfo"))?;
        let sans = requested_sans(&parsed.info.attributes)?;
        Ok(Self {
            der: der.to_vec(),
            parsed,
            public_key,
            sans,
        })
    }

    /// Parses the first `CERTIFICATE REQUEST` (or legacy `NEW CERTIFICATE REQUEST`) block of
    /// `pem`; other blocks are skipped.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        pem::blocks(pem)?
            .into_iter()
            .find(|b| b.label == LABEL || b.label == LEGACY_LABEL)
            .map_or(
                Err(Error::NoPem {
                    expected: "CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST",
                }),
                |b| Self::from_der(&b.der),
            )
    }

    /// The request as a `CERTIFICATE REQUEST` PEM block.
    pub fn to_pem(&self) -> String {
        pem::encode(LABEL, &self.der)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject's common name (the first CN), if any.
    pub fn common_name(&self) -> Option<String> {
        name_values(&self.parsed.info.subject, rfc4519::CN)
            .into_iter()
            .next()
    }

    /// The subject's organizations (every O, in order): the groups Kubernetes would read from
    /// a certificate issued with this subject.
    pub fn organizations(&self) -> Vec<String> {
        name_values(&self.parsed.info.subject, rfc4519::O)
    }

    /// The DNS names and IP addresses of the SubjectAltName extension the request asks for, in
    /// request order; empty when it asks for none. Other kinds of name are left out, as
    /// [`crate::Certificate::sans`] leaves them out.
    pub fn sans(&self) -> &[San] {
        &self.sans
    }

    /// The DER SubjectPublicKeyInfo of the requester's key, as
    /// [`crate::CertificateAuthority::issue`] takes it.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key
    }

    /// The algorithm of the requester's key.
    pub fn key_algorithm(&self) -> Result<KeyAlgorithm, Error> {
        key::spki_algorithm(&self.parsed.info.public_key)
    }

    /// Checks that the request is signed by the private half of the public key it carries,
    /// i.e. that whoever made it holds that key and nothing was changed afterwards. The
    /// signature is checked over the CertificationRequestInfo bytes as received, with the
    /// RustCrypto `rsa`, `p256` and `p384` crates (the verifier
    /// [`crate::Certificate::verify_signed_by`] uses), independently of the signing backend.
    ///
    /// A signature that does not verify is [`Error::CsrNotSelfSigned`]; a signature algorithm
    /// other than RSA PKCS#1 v1.5 or ECDSA with SHA-2 is [`Error::UnsupportedSignature`]. The
    /// signature algorithm is outside the signed bytes, so its parameters are held to the
    /// encodings the RFCs allow (absent or NULL), else [`Error::InvalidCsr`].
    pub fn verify_self_signature(&self) -> Result<(), Error> {
        let not_self_signed = || Error::CsrNotSelfSigned {
            subject: self.common_name().unwrap_or_default(),
        };
        if !cert::signature_parameters_ok(&self.parsed.algorithm) {
            return Err(Error::InvalidCsr {
                reason: "the signature algorithm's parameters are neither absent nor NULL",
            });
        }
        let raw = RawCertReq::from_der(&self.der).map_err(Error::der("certificate request"))?;
        let info = raw
            .info
            .to_der()
            .map_err(Error::der("CertificationRequestInfo"))?;
        let signature = raw.signature.as_bytes().ok_or_else(not_self_signed)?;
        if cert::verify_signature(
            &self.parsed.info.public_key,
            &self.parsed.algorithm.oid,
            &info,
            signature,
        )? {
            Ok(())
        } else {
            Err(not_self_signed())
        }
    }
}

/// The outer SEQUENCE with the CertificationRequestInfo left undecoded, so the signature is
/// checked over the bytes that were signed rather than over a re-encoding.
#[derive(Sequence)]
struct RawCertReq<'a> {
    info: AnyRef<'a>,
    algorithm: AnyRef<'a>,
    signature: BitStringRef<'a>,
}

/// The SANs of the SubjectAltName extension in the `extensionRequest` attribute, if any.
fn requested_sans(attributes: &Attributes) -> Result<Vec<San>, Error> {
    let invalid = |reason| Error::InvalidCsr { reason };
    let mut requests = attributes
        .iter()
        .filter(|a| a.oid == rfc5912::ID_EXTENSION_REQ);
    let Some(request) = requests.next() else {
        return Ok(Vec::new());
    };
    if requests.next().is_some() {
        return Err(invalid("more than one extensionRequest attribute"));
    }
    let mut values = request.values.iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(invalid(
            "the extensionRequest attribute must have exactly one value",
        ));
    };
    let extensions: Vec<Extension> = value.decode_as().map_err(Error::der("extensionRequest"))?;
    for (i, extension) in extensions.iter().enumerate() {
        if extensions[..i]
            .iter()
            .any(|e| e.extn_id == extension.extn_id)
        {
            return Err(invalid("the extensionRequest names an extension twice"));
        }
    }
    let Some(san) = extensions.iter().find(|e| e.extn_id == SubjectAltName::OID) else {
        return Ok(Vec::new());
    };
    let SubjectAltName(names) = SubjectAltName::from_der(san.extn_value.as_bytes())
        .map_err(Error::der("requested SubjectAltName"))?;
    Ok(cert::sans_from_general_names(&names))
}
