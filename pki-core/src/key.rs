//! Private keys: generation, PEM in and out, signing. Every private-key operation goes through
//! aws-lc-rs (constant time); nothing here uses the `rsa` crate's private-key code.

use std::{
    fmt,
    str::FromStr,
    sync::atomic::{AtomicUsize, Ordering},
};

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der},
    rsa,
    signature::{self, EcdsaKeyPair, KeyPair as _},
};
use const_oid::{ObjectIdentifier, db::rfc5912};
use der::{Decode, asn1::AnyRef};
use x509_cert::spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::{Error, pem};

/// The key algorithms kubeadm offers (`encryptionAlgorithm` in v1beta4).
///
/// Parses kubeadm's spellings (`RSA-2048`, `ECDSA-P256`) case-insensitively, and prints them
/// back the same way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus, e = 65537: kubeadm's default.
    #[default]
    Rsa2048,
    /// RSA, 3072 bits.
    Rsa3072,
    /// RSA, 4096 bits.
    Rsa4096,
    /// ECDSA on NIST P-256, signing with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384, signing with SHA-384.
    EcdsaP384,
}

impl KeyAlgorithm {
    /// Every algorithm, in kubeadm's order.
    pub const ALL: [Self; 5] = [
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::EcdsaP256,
        Self::EcdsaP384,
    ];

    /// kubeadm's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa2048 => "RSA-2048",
            Self::Rsa3072 => "RSA-3072",
            Self::Rsa4096 => "RSA-4096",
            Self::EcdsaP256 => "ECDSA-P256",
            Self::EcdsaP384 => "ECDSA-P384",
        }
    }

    /// Whether this is an RSA algorithm.
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        Ok(match norm.as_str() {
            "rsa2048" | "rsa" => Self::Rsa2048,
            "rsa3072" => Self::Rsa3072,
            "rsa4096" => Self::Rsa4096,
            "ecdsap256" | "ecdsa" | "p256" => Self::EcdsaP256,
            "ecdsap384" | "p384" => Self::EcdsaP384,
            _ => {
                return Err(Error::UnknownAlgorithm {
                    value: s.to_owned(),
                });
            }
        })
    }
}

enum Inner {
    Rsa(rsa::KeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A private key held by the crypto backend.
///
/// Not `Clone` on purpose, and `Debug` prints only the algorithm. The PEM text it produces is
/// wrapped in [`Zeroizing`], so it is wiped when dropped; the backend frees (and cleanses) its
/// own copy when the key is dropped.
pub struct PrivateKey {
    inner: Inner,
    algorithm: KeyAlgorithm,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

const RSA_LABEL: &str = "RSA PRIVATE KEY";
const EC_LABEL: &str = "EC PRIVATE KEY";
const PKCS8_LABEL: &str = "PRIVATE KEY";
const ENCRYPTED_PKCS8_LABEL: &str = "ENCRYPTED PRIVATE KEY";

impl PrivateKey {
    /// Generates a fresh key with the backend's CSPRNG.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, Error> {
        let failed = |_| Error::KeyGeneration { algorithm };
        let inner = match algorithm {
            KeyAlgorithm::Rsa2048 => {
                Inner::Rsa(rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(failed)?)
            }
            KeyAlgorithm::Rsa3072 => {
                Inner::Rsa(rsa::KeyPair::generate(rsa::KeySize::Rsa3072).map_err(failed)?)
            }
            KeyAlgorithm::Rsa4096 => {
                Inner::Rsa(rsa::KeyPair::generate(rsa::KeySize::Rsa4096).map_err(failed)?)
            }
            KeyAlgorithm::EcdsaP256 => Inner::Ecdsa(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map_err(failed)?,
            ),
            KeyAlgorithm::EcdsaP384 => Inner::Ecdsa(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)
                    .map_err(failed)?,
            ),
        };
        Ok(Self { inner, algorithm })
    }

    /// Reads the first private key in `pem`: `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY`
    /// (SEC1; an `EC PARAMETERS` block before it is skipped) or `PRIVATE KEY` (PKCS#8).
    /// An encrypted key is [`Error::EncryptedKey`].
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        for block in pem::blocks(pem)? {
            match block.label.as_str() {
                RSA_LABEL => return Self::from_pkcs1_der(&block.der),
                EC_LABEL => return Self::from_sec1_der(&block.der),
                PKCS8_LABEL => return Self::from_pkcs8_der(&block.der),
                ENCRYPTED_PKCS8_LABEL => return Err(Error::EncryptedKey),
                _ => {}
            }
        }
        Err(Error::NoPem {
            expected: "RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY",
        })
    }

    fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        let pair = rsa::KeyPair::from_der(der).map_err(|e| Error::InvalidKey {
            encoding: "PKCS#1",
            reason: e.to_string(),
        })?;
        Self::from_rsa(pair)
    }

    fn from_rsa(pair: rsa::KeyPair) -> Result<Self, Error> {
        let algorithm = match pair.public_modulus_len() * 8 {
            2048 => KeyAlgorithm::Rsa2048,
            3072 => KeyAlgorithm::Rsa3072,
            4096 => KeyAlgorithm::Rsa4096,
            bits => {
                return Err(Error::UnsupportedKey {
                    what: format!("RSA key of {bits} bits (2048, 3072 or 4096 are supported)"),
                });
            }
        };
        Ok(Self {
            inner: Inner::Rsa(pair),
            algorithm,
        })
    }

    fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        let parsed = sec1::EcPrivateKey::from_der(der).map_err(|e| Error::InvalidKey {
            encoding: "SEC1",
            reason: e.to_string(),
        })?;
        let curve = parsed
            .parameters
            .as_ref()
            .and_then(|p| p.named_curve())
            .ok_or_else(|| Error::InvalidKey {
                encoding: "SEC1",
                reason: "the key names no curve".into(),
            })?;
        Self::from_ec(curve, der, "SEC1")
    }

    fn from_ec(curve: ObjectIdentifier, der: &[u8], encoding: &'static str) -> Result<Self, Error> {
        let (alg, algorithm) = if curve == rfc5912::SECP_256_R_1 {
            (
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                KeyAlgorithm::EcdsaP256,
            )
        } else if curve == rfc5912::SECP_384_R_1 {
            (
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                KeyAlgorithm::EcdsaP384,
            )
        } else {
            return Err(Error::UnsupportedKey {
                what: format!("elliptic curve {curve} (P-256 and P-384 are supported)"),
            });
        };
        let pair = EcdsaKeyPair::from_private_key_der(alg, der).map_err(|e| Error::InvalidKey {
            encoding,
            reason: e.to_string(),
        })?;
        Ok(Self {
            inner: Inner::Ecdsa(pair),
            algorithm,
        })
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|e| Error::InvalidKey {
            encoding: "PKCS#8",
            reason: e.to_string(),
        })?;
        let oid = info.algorithm.oid;
        if oid == rfc5912::RSA_ENCRYPTION {
            let pair = rsa::KeyPair::from_pkcs8(der).map_err(|e| Error::InvalidKey {
                encoding: "PKCS#8",
                reason: e.to_string(),
            })?;
            Self::from_rsa(pair)
        } else if oid == rfc5912::ID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p: AnyRef<'_>| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| Error::InvalidKey {
                    encoding: "PKCS#8",
                    reason: "the EC key names no curve".into(),
                })?;
            Self::from_ec(curve, der, "PKCS#8")
        } else {
            Err(Error::UnsupportedKey {
                what: format!("PKCS#8 key of algorithm {oid} (RSA and ECDSA are supported)"),
            })
        }
    }

    /// The algorithm (type and size) of this key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The private key as PEM in kubeadm's encoding: `RSA PRIVATE KEY` (PKCS#1) for RSA,
    /// `EC PRIVATE KEY` (SEC1 with the named curve and public key) for ECDSA.
    pub fn secret_pem(&self) -> Result<Zeroizing<String>, Error> {
        let der = self.secret_der()?;
        let label = match self.inner {
            Inner::Rsa(_) => RSA_LABEL,
            Inner::Ecdsa(_) => EC_LABEL,
        };
        Ok(Zeroizing::new(pem::encode(label, &der)))
    }

    /// The private key as DER, PKCS#1 or SEC1 (the body of [`Self::secret_pem`]).
    pub fn secret_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let failed = |_| Error::InvalidKey {
            encoding: "PKCS#8",
            reason: "the backend could not serialize the key".into(),
        };
        match &self.inner {
            Inner::Rsa(pair) => {
                // The PKCS#8 wrapper's privateKey OCTET STRING is the PKCS#1 RSAPrivateKey.
                let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(failed)?;
                let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
                let info =
                    pkcs8::PrivateKeyInfoRef::from_der(&pkcs8).map_err(|e| Error::InvalidKey {
                        encoding: "PKCS#8",
                        reason: e.to_string(),
                    })?;
                Ok(Zeroizing::new(info.private_key.as_bytes().to_vec()))
            }
            Inner::Ecdsa(pair) => {
                let sec1 = pair.private_key().as_der().map_err(failed)?;
                Ok(Zeroizing::new(sec1.as_ref().to_vec()))
            }
        }
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    pub fn public_key_der(&self) -> Result<Vec<u8>, Error> {
        let failed = |_| Error::InvalidKey {
            encoding: "SubjectPublicKeyInfo",
            reason: "the backend could not serialize the public key".into(),
        };
        Ok(match &self.inner {
            Inner::Rsa(pair) => pair
                .public_key()
                .as_der()
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Inner::Ecdsa(pair) => pair
                .public_key()
                .as_der()
                .map_err(failed)?
                .as_ref()
                .to_vec(),
        })
    }

    /// The public half as a `PUBLIC KEY` PEM block (PKIX), as kubeadm writes `sa.pub`.
    pub fn public_key_pem(&self) -> Result<String, Error> {
        Ok(pem::encode("PUBLIC KEY", &self.public_key_der()?))
    }

    /// The signature algorithm this key signs with, as it goes into a certificate:
    /// sha256WithRSAEncryption for every RSA size (as Go does), ecdsa-with-SHA256 for P-256,
    /// ecdsa-with-SHA384 for P-384.
    pub(crate) fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self.algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                AlgorithmIdentifierOwned {
                    oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                    parameters: Some(der::asn1::Any::null()),
                }
            }
            KeyAlgorithm::EcdsaP256 => AlgorithmIdentifierOwned {
                oid: rfc5912::ECDSA_WITH_SHA_256,
                parameters: None,
            },
            KeyAlgorithm::EcdsaP384 => AlgorithmIdentifierOwned {
                oid: rfc5912::ECDSA_WITH_SHA_384,
                parameters: None,
            },
        }
    }

    /// Signs `message` with [`Self::signature_algorithm`]; ECDSA signatures are DER-encoded.
    pub(crate) fn sign(&self, message: &[u8], what: &str) -> Result<Vec<u8>, Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let failed = |_| Error::Sign {
            what: what.to_owned(),
        };
        match &self.inner {
            Inner::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
            Inner::Ecdsa(pair) => Ok(pair.sign(&rng, message).map_err(failed)?.as_ref().to_vec()),
        }
    }
}

/// Generates `count` keys of `algorithm`, spread over the machine's cores.
///
/// Key generation dominates the cost of a whole PKI (an RSA-2048 key takes tens of
/// milliseconds, and the time is heavy-tailed: a prime search may take several times the
/// median). The keys are independent, so scoped threads, one per core, take them one at a time
/// from a shared counter until all are made: a thread that drew a slow key does not hold up
/// keys another core could make, and every core stays busy to the last key (a static split of
/// the count would make the wall time the slower of two random sums).
pub fn generate_keys(algorithm: KeyAlgorithm, count: usize) -> Result<Vec<PrivateKey>, Error> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(count.max(1));
    if threads <= 1 || !algorithm.is_rsa() {
        // ECDSA keys take microseconds: threads would cost more than they save.
        return (0..count)
            .map(|_| PrivateKey::generate(algorithm))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Result<Vec<PrivateKey>, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut made = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        made.push(PrivateKey::generate(algorithm)?);
                    }
                    Ok(made)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(Error::KeyGeneration { algorithm })))
            .collect()
    });
    let mut keys = Vec::with_capacity(count);
    for batch in results {
        keys.extend(batch?);
    }
    Ok(keys)
}

/// Encodes a SubjectPublicKeyInfo's algorithm for display: `RSA-2048`, `ECDSA-P256`, or the
/// OID for anything else.
pub(crate) fn spki_algorithm(
    spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
) -> Result<KeyAlgorithm, Error> {
    let oid = spki.algorithm.oid;
    if oid == rfc5912::RSA_ENCRYPTION {
        let key = ::rsa::pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(
            spki.subject_public_key.raw_bytes(),
        )
        .map_err(|e| Error::InvalidKey {
            encoding: "PKCS#1 public",
            reason: e.to_string(),
        })?;
        let modulus = key.modulus.as_bytes();
        let bits = modulus.len() * 8 - modulus.first().map_or(8, |b| b.leading_zeros() as usize);
        match bits {
            2048 => Ok(KeyAlgorithm::Rsa2048),
            3072 => Ok(KeyAlgorithm::Rsa3072),
            4096 => Ok(KeyAlgorithm::Rsa4096),
            _ => Err(Error::UnsupportedKey {
                what: format!("RSA key of {bits} bits"),
            }),
        }
    } else if oid == rfc5912::ID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        match curve {
            Some(c) if c == rfc5912::SECP_256_R_1 => Ok(KeyAlgorithm::EcdsaP256),
            Some(c) if c == rfc5912::SECP_384_R_1 => Ok(KeyAlgorithm::EcdsaP384),
            _ => Err(Error::UnsupportedKey {
                what: "elliptic curve other than P-256 and P-384".into(),
            }),
        }
    } else {
        Err(Error::UnsupportedKey {
            what: format!("public key algorithm {oid}"),
        })
    }
}
