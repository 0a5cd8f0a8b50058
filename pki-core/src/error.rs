//! The one error type of this crate.

use std::fmt;

/// Everything that can go wrong in `pki-core`.
///
/// Each variant names the operation and the input it failed on; the cause, when there is one, is
/// kept as the error's `source()` and not repeated in its message. No variant ever carries key
/// material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key algorithm name that is not one of the supported spellings.
    #[error(
        "unknown key algorithm {value:?} (expected one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384)"
    )]
    UnknownAlgorithm {
        /// What was given.
        value: String,
    },
    /// The crypto backend failed to generate a key.
    #[error("could not generate a {algorithm} key")]
    KeyGeneration {
        /// The algorithm asked for.
        algorithm: crate::KeyAlgorithm,
    },
    /// Input that should hold a PEM block does not.
    #[error("no PEM block of type {expected} found")]
    NoPem {
        /// The PEM label(s) looked for.
        expected: &'static str,
    },
    /// PEM framing is broken (bad base64, mismatched labels, truncated).
    #[error("malformed PEM")]
    Pem(#[source] der::pem::Error),
    /// The private key is encrypted with a passphrase.
    #[error("the private key is encrypted; decrypt it first (openssl pkey -in KEY -out KEY.plain)")]
    EncryptedKey,
    /// The private key could not be decoded or is not acceptable to the backend.
    #[error("invalid {encoding} private key: {reason}")]
    InvalidKey {
        /// PKCS#1, PKCS#8 or SEC1.
        encoding: &'static str,
        /// What is wrong, without key material.
        reason: String,
    },
    /// A key type or size this crate does not handle.
    #[error("unsupported key: {what}")]
    UnsupportedKey {
        /// Which type or size.
        what: String,
    },
    /// DER structure could not be decoded or encoded.
    #[error("invalid DER in {what}")]
    Der {
        /// The object being decoded or encoded.
        what: &'static str,
        /// The decoder's or encoder's error.
        #[source]
        source: der::Error,
    },
    /// The crypto backend refused to sign.
    #[error("signing {what} failed")]
    Sign {
        /// The object being signed.
        what: String,
    },
    /// A certificate's signature does not verify under the claimed issuer's key.
    #[error("{subject:?} is not signed by {issuer:?}")]
    NotSignedBy {
        /// Subject CN of the child.
        subject: String,
        /// Subject CN of the claimed issuer.
        issuer: String,
    },
    /// A certificate signing request whose signature does not verify under the public key it
    /// carries: it was altered after signing, or signed with another key.
    #[error("the certificate request for {subject:?} is not signed by its own key")]
    CsrNotSelfSigned {
        /// Subject CN of the request.
        subject: String,
    },
    /// A certificate signing request that decodes as DER but breaks a PKCS#10 rule this crate
    /// relies on.
    #[error("invalid certificate request: {reason}")]
    InvalidCsr {
        /// Why.
        reason: &'static str,
    },
    /// A signature algorithm this crate cannot verify.
    #[error("unsupported signature algorithm {oid}")]
    UnsupportedSignature {
        /// Its OID.
        oid: String,
    },
    /// A subject alternative name that is neither an IP address nor a valid DNS name.
    #[error("invalid subject alternative name {value:?}: {reason}")]
    InvalidSan {
        /// The rejected value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A name (user, group, node) that cannot go into a certificate.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidName {
        /// Which field.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A CIDR that does not parse, or has no usable first host address.
    #[error("invalid service CIDR {value:?}: {reason}")]
    InvalidCidr {
        /// The rejected value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A control-plane endpoint that is not `host` or `host:port`.
    #[error("invalid control-plane endpoint {value:?}: {reason}")]
    InvalidEndpoint {
        /// The rejected value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A validity period that is zero, negative or does not fit a certificate.
    #[error("invalid validity: {reason}")]
    InvalidValidity {
        /// Why.
        reason: String,
    },
    /// The certificate asked to sign is not a CA.
    #[error("{subject:?} is not a CA certificate")]
    NotCa {
        /// Subject CN.
        subject: String,
    },
    /// The CA's private key does not belong to the CA's certificate.
    #[error("the private key does not match the certificate {subject:?}")]
    KeyMismatch {
        /// Subject CN of the certificate.
        subject: String,
    },
    /// The CA is outside its validity period at `now`.
    #[error(
        "the CA {subject:?} {} (valid {not_before} to {not_after}); a new CA means new certificates for everything it signed",
        if *.expired { "has expired" } else { "is not valid yet" }
    )]
    CaNotValid {
        /// Subject CN.
        subject: String,
        /// Past its NotAfter (otherwise before its NotBefore).
        expired: bool,
        /// Its NotBefore, RFC 3339.
        not_before: String,
        /// Its NotAfter, RFC 3339.
        not_after: String,
    },
    /// Reconciling existing files with the configuration found problems.
    #[error("{}", DisplayProblems(.0))]
    Plan(Vec<crate::Problem>),
}

struct DisplayProblems<'a>(&'a [crate::Problem]);

impl fmt::Display for DisplayProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl Error {
    pub(crate) fn der(what: &'static str) -> impl FnOnce(der::Error) -> Self {
        move |source| Self::Der { what, source }
    }
}
