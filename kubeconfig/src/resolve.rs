//! The resolved view of the current context, and its validation.

use std::time::SystemTime;

use kube::config::AuthInfo;
use pki_core::{Certificate, PrivateKey};
use secrecy::ExposeSecret as _;

use crate::model::decode;
use crate::{Error, Kubeconfig, Secret};

/// The current context, resolved: the context, its cluster and its user, with the credentials decoded.
#[derive(Debug)]
#[non_exhaustive]
pub struct Current<'a> {
    /// The context name.
    pub context: &'a str,
    /// The context's default namespace, if set.
    pub namespace: Option<&'a str>,
    /// The cluster name.
    pub cluster: &'a str,
    /// The cluster's `server`.
    pub server: &'a str,
    /// Where the cluster CA comes from.
    pub ca: ClusterCa,
    /// `insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// The user name.
    pub user: &'a str,
    /// The user's credentials.
    pub credentials: Credentials,
}

/// Where a cluster's CA certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterCa {
    /// `certificate-authority-data`, decoded to PEM text.
    Embedded(String),
    /// `certificate-authority`: a file path (not read here).
    File(String),
    /// Neither: the system trust roots.
    SystemRoots,
}

/// A user's credentials. The raw file may hold several kinds at once; this type holds exactly one.
#[derive(Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// Embedded client certificate and key (`client-certificate-data`, `client-key-data`), as PEM text.
    ClientCertificate {
        /// The client certificate, PEM.
        cert_pem: String,
        /// The client private key, PEM.
        key_pem: Secret,
    },
    /// A bearer token (`token`).
    Token(Secret),
    /// Credentials this crate can name but not check without I/O or running a plugin.
    Other(OtherCredentials),
}

/// Credentials that live outside the file or come from a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtherCredentials {
    /// A client certificate and key where at least one half is a file reference (`client-certificate`,
    /// `client-key`; the kubelet's rotated `kubelet.conf`). `None` means that half is embedded.
    ClientCertificateFiles {
        /// `client-certificate` path, unless embedded.
        certificate: Option<String>,
        /// `client-key` path, unless embedded.
        key: Option<String>,
    },
    /// `tokenFile`: a bearer token read from a file.
    TokenFile(String),
    /// `exec`: a credential plugin.
    Exec {
        /// The plugin command.
        command: String,
    },
    /// `auth-provider` (deprecated in client-go).
    AuthProvider {
        /// The provider name (`oidc`, `gcp`, ...).
        name: String,
    },
    /// `username`/`password`.
    Basic {
        /// The user name.
        username: String,
    },
}

impl Credentials {
    /// A short name for messages: `client certificate`, `token`, `exec plugin`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ClientCertificate { .. } => CLIENT_CERTIFICATE,
            Self::Token(_) => TOKEN,
            Self::Other(OtherCredentials::ClientCertificateFiles { .. }) => {
                "client certificate (file reference)"
            }
            Self::Other(OtherCredentials::TokenFile(_)) => "token (file reference)",
            Self::Other(OtherCredentials::Exec { .. }) => EXEC,
            Self::Other(OtherCredentials::AuthProvider { .. }) => AUTH_PROVIDER,
            Self::Other(OtherCredentials::Basic { .. }) => BASIC,
        }
    }
}

const CLIENT_CERTIFICATE: &str = "client certificate";
const TOKEN: &str = "token";
const BASIC: &str = "basic auth";
const EXEC: &str = "exec plugin";
const AUTH_PROVIDER: &str = "auth provider";

/// The kinds of credentials an `AuthInfo` holds, in a fixed order.
pub(crate) fn credential_kinds(auth: &AuthInfo) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    if auth.client_certificate.is_some()
        || auth.client_certificate_data.is_some()
        || auth.client_key.is_some()
        || auth.client_key_data.is_some()
    {
        kinds.push(CLIENT_CERTIFICATE);
    }
    if auth.token.is_some() || auth.token_file.is_some() {
        kinds.push(TOKEN);
    }
    if auth.username.is_some() || auth.password.is_some() {
        kinds.push(BASIC);
    }
    if auth.exec.is_some() {
        kinds.push(EXEC);
    }
    if auth.auth_provider.is_some() {
        kinds.push(AUTH_PROVIDER);
    }
    kinds
}

/// A client certificate that passed [`Current::validate`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Validated {
    /// The cluster CA.
    pub ca: Certificate,
    /// The client certificate, when the credentials are an embedded client certificate.
    pub client_certificate: Option<Certificate>,
}

impl Kubeconfig {
    /// Resolves `current-context` to its context, cluster and user and decodes the credentials.
    ///
    /// Errors name the entry at fault: `contexts[x]`, `clusters[y]`, `users[alice]`. A user with more
    /// than one kind of credentials (say a client certificate and a token, which client-go would send
    /// together) is [`Error::AmbiguousCredentials`]; one with none is [`Error::NoCredentials`].
    pub fn current(&self) -> Result<Current<'_>, Error> {
        let raw = self.as_kube();
        let context_name = self.current_context().ok_or(Error::NoCurrentContext)?;
        let context = raw
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .ok_or_else(|| Error::UnknownContext {
                context: context_name.to_owned(),
            })?;
        let ctx = context.context.as_ref();
        let cluster_name = ctx
            .map(|c| c.cluster.as_str())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::ContextWithoutCluster {
                context: context_name.to_owned(),
            })?;
        let user_name = ctx
            .and_then(|c| c.user.as_deref())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::ContextWithoutUser {
                context: context_name.to_owned(),
            })?;
        let named_cluster = raw
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .ok_or_else(|| Error::UnknownCluster {
                cluster: cluster_name.to_owned(),
                context: context_name.to_owned(),
            })?;
        let named_user = raw
            .auth_infos
            .iter()
            .find(|u| u.name == user_name)
            .ok_or_else(|| Error::UnknownUser {
                user: user_name.to_owned(),
                context: context_name.to_owned(),
            })?;

        let cluster = named_cluster.cluster.as_ref();
        let server = cluster
            .and_then(|c| c.server.as_deref())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::NoServer {
                cluster: cluster_name.to_owned(),
            })?;
        let cluster_entry = format!("clusters[{cluster_name}]");
        let ca = match (
            cluster
                .and_then(|c| c.certificate_authority_data.as_deref())
                .filter(|d| !d.is_empty()),
            cluster
                .and_then(|c| c.certificate_authority.as_deref())
                .filter(|p| !p.is_empty()),
        ) {
            (Some(data), _) => {
                ClusterCa::Embedded(decode(data, &cluster_entry, "certificate-authority-data")?)
            }
            (None, Some(path)) => ClusterCa::File(path.to_owned()),
            (None, None) => ClusterCa::SystemRoots,
        };
        let credentials = match &named_user.auth_info {
            Some(auth) => credentials(user_name, auth)?,
            None => {
                return Err(Error::NoCredentials {
                    user: user_name.to_owned(),
                });
            }
        };
        Ok(Current {
            context: context_name,
            namespace: ctx
                .and_then(|c| c.namespace.as_deref())
                .filter(|n| !n.is_empty()),
            cluster: cluster_name,
            server,
            ca,
            insecure_skip_tls_verify: cluster
                .and_then(|c| c.insecure_skip_tls_verify)
                .unwrap_or(false),
            user: user_name,
            credentials,
        })
    }
}

fn credentials(user: &str, auth: &AuthInfo) -> Result<Credentials, Error> {
    let kinds = credential_kinds(auth);
    match kinds.as_slice() {
        [] => {
            return Err(Error::NoCredentials {
                user: user.to_owned(),
            });
        }
        [_] => {}
        _ => {
            return Err(Error::AmbiguousCredentials {
                user: user.to_owned(),
                kinds,
            });
        }
    }
    let entry = format!("users[{user}]");
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    if kinds.first() == Some(&CLIENT_CERTIFICATE) {
        // `*-data` overrides the file reference (client-go).
        let cert_data = nonempty(&auth.client_certificate_data);
        let key_data = auth
            .client_key_data
            .as_ref()
            .map(|k| k.expose_secret())
            .filter(|k| !k.is_empty());
        let cert_file = nonempty(&auth.client_certificate);
        let key_file = nonempty(&auth.client_key);
        let has_cert = cert_data.is_some() || cert_file.is_some();
        let has_key = key_data.is_some() || key_file.is_some();
        if !has_key {
            return Err(Error::IncompleteClientCertificate {
                user: user.to_owned(),
                present: "client-certificate-data",
                missing: "client-key-data",
            });
        }
        if !has_cert {
            return Err(Error::IncompleteClientCertificate {
                user: user.to_owned(),
                present: "client-key-data",
                missing: "client-certificate-data",
            });
        }
        return match (cert_data, key_data) {
            (Some(cert), Some(key)) => Ok(Credentials::ClientCertificate {
                cert_pem: decode(&cert, &entry, "client-certificate-data")?,
                key_pem: Secret::new(decode(key, &entry, "client-key-data")?),
            }),
            (cert, key) => Ok(Credentials::Other(
                OtherCredentials::ClientCertificateFiles {
                    certificate: cert.is_none().then_some(cert_file).flatten(),
                    key: key.is_none().then_some(key_file).flatten(),
                },
            )),
        };
    }
    if let Some(token) = auth
        .token
        .as_ref()
        .map(|t| t.expose_secret())
        .filter(|t| !t.is_empty())
    {
        return Ok(Credentials::Token(Secret::new(token.to_owned())));
    }
    if let Some(path) = nonempty(&auth.token_file) {
        return Ok(Credentials::Other(OtherCredentials::TokenFile(path)));
    }
    if let Some(exec) = &auth.exec {
        return Ok(Credentials::Other(OtherCredentials::Exec {
            command: exec.command.clone().unwrap_or_default(),
        }));
    }
    if let Some(provider) = &auth.auth_provider {
        return Ok(Credentials::Other(OtherCredentials::AuthProvider {
            name: provider.name.clone(),
        }));
    }
    if auth.username.is_some() || auth.password.is_some() {
        return Ok(Credentials::Other(OtherCredentials::Basic {
            username: auth.username.clone().unwrap_or_default(),
        }));
    }
    Err(Error::NoCredentials {
        user: user.to_owned(),
    })
}

impl Current<'_> {
    /// Checks what can be checked without I/O at `now`: the embedded CA parses as a certificate; for an
    /// embedded client certificate, that it chains to that CA, is in date, and that the key matches it.
    ///
    /// For tokens and [`Credentials::Other`] only the CA is checked. A CA given as a file reference or
    /// not at all is [`Error::NoEmbeddedCa`].
    pub fn validate(&self, now: SystemTime) -> Result<Validated, Error> {
        let ClusterCa::Embedded(ca_pem) = &self.ca else {
            return Err(Error::NoEmbeddedCa {
                cluster: self.cluster.to_owned(),
            });
        };
        let ca = Certificate::from_pem(ca_pem).map_err(|source| Error::InvalidCa {
            cluster: self.cluster.to_owned(),
            source: Box::new(source),
        })?;
        let client_certificate = match &self.credentials {
            Credentials::ClientCertificate { cert_pem, key_pem } => {
                let mut problems = Vec::new();
                let cert = check_client_certificate(
                    self.user,
                    self.cluster,
                    &ca,
                    cert_pem,
                    key_pem,
                    now,
                    &mut problems,
                );
                if !problems.is_empty() {
                    return Err(problems.remove(0));
                }
                cert
            }
            Credentials::Token(_) | Credentials::Other(_) => None,
        };
        Ok(Validated {
            ca,
            client_certificate,
        })
    }
}

/// Checks an embedded client certificate and key against `ca` at `now`, pushing every problem found.
/// Returns the parsed certificate if it parsed.
pub(crate) fn check_client_certificate(
    user: &str,
    cluster: &str,
    ca: &Certificate,
    cert_pem: &str,
    key_pem: &Secret,
    now: SystemTime,
    problems: &mut Vec<Error>,
) -> Option<Certificate> {
    let cert = match Certificate::from_pem(cert_pem) {
        Ok(cert) => cert,
        Err(source) => {
            problems.push(Error::InvalidClientCertificate {
                user: user.to_owned(),
                source: Box::new(source),
            });
            return None;
        }
    };
    if let Err(source) = cert.verify_signed_by(ca) {
        problems.push(Error::NotSignedByCa {
            user: user.to_owned(),
            cluster: cluster.to_owned(),
            source: Box::new(source),
        });
    }
    if now < cert.not_before() {
        problems.push(Error::NotYetValid {
            user: user.to_owned(),
            not_before: cert.not_before(),
        });
    } else if now > cert.not_after() {
        problems.push(Error::Expired {
            user: user.to_owned(),
            not_after: cert.not_after(),
        });
    }
    match PrivateKey::from_pem(key_pem.expose_secret()) {
        Ok(key) => match cert.matches_key(&key) {
            Ok(true) => {}
            Ok(false) => problems.push(Error::KeyMismatch {
                user: user.to_owned(),
            }),
            Err(source) => problems.push(Error::InvalidClientKey {
                user: user.to_owned(),
                source: Box::new(source),
            }),
        },
        Err(source) => problems.push(Error::InvalidClientKey {
            user: user.to_owned(),
            source: Box::new(source),
        }),
    }
    Some(cert)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pki_core::{ClientIdentity, LEAF_VALIDITY, Validity};

    use super::*;
    use crate::test_support::{ca, key, now};
    use crate::{ClusterEntry, ServerUrl};

    const MULTI: &str = include_str!("../tests/data/multi-context.yaml");

    fn with_context(name: &str) -> Kubeconfig {
        let mut config = Kubeconfig::from_yaml(MULTI).unwrap();
        config.as_kube_mut().current_context = Some(name.to_owned());
        config
    }

    #[test]
    fn resolves_the_current_context() {
        let config = Kubeconfig::from_yaml(MULTI).unwrap();
        let current = config.current().unwrap();
        assert_eq!(current.context, "admin@prod");
        assert_eq!(current.namespace, Some("kube-system"));
        assert_eq!(current.cluster, "prod");
        assert_eq!(current.server, "https://vip.prod.example:6443");
        assert_eq!(current.user, "admin");
        assert!(
            matches!(&current.ca, ClusterCa::Embedded(pem) if pem.starts_with("-----BEGIN CERTIFICATE-----"))
        );
        assert!(
            matches!(&current.credentials, Credentials::Token(t) if t.expose_secret() == "s3cr3t-admin-token")
        );
    }

    #[test]
    fn errors_name_the_entry_at_fault() {
        let cases = [
            (
                "missing",
                "contexts[missing]: no such context (named by current-context)",
            ),
            (
                "ghost-cluster",
                "clusters[nowhere]: no such cluster (named by contexts[ghost-cluster])",
            ),
            (
                "ghost-user",
                "users[nobody]: no such user (named by contexts[ghost-user])",
            ),
            ("no-user", "contexts[no-user]: names no user"),
            ("no-server", "clusters[noserver]: no server URL"),
            (
                "both",
                "users[both]: more than one kind of credentials (client certificate, token); expected exactly one",
            ),
            ("nothing", "users[nothing]: no credentials"),
            (
                "half",
                "users[half]: client-certificate-data is set but client-key-data is not",
            ),
            (
                "badb64",
                "users[badb64]: client-certificate-data is not valid base64",
            ),
        ];
        for (context, message) in cases {
            let err = with_context(context).current().unwrap_err();
            assert_eq!(err.to_string(), message);
            assert!(!format!("{err:?}").contains("s3cr3t"));
        }
        let mut config = with_context("x");
        config.as_kube_mut().current_context = None;
        assert!(matches!(config.current(), Err(Error::NoCurrentContext)));
    }

    #[test]
    fn other_credentials_are_named_honestly() {
        let config = with_context("exec");
        let current = config.current().unwrap();
        assert!(
            matches!(&current.credentials, Credentials::Other(OtherCredentials::Exec { command }) if command == "aws")
        );
        assert_eq!(current.credentials.kind(), "exec plugin");

        let config = with_context("files");
        let current = config.current().unwrap();
        assert_eq!(
            current.ca,
            ClusterCa::File("/etc/kubernetes/pki/ca.crt".into())
        );
        let path = "/var/lib/kubelet/pki/kubelet-client-current.pem".to_owned();
        match &current.credentials {
            Credentials::Other(OtherCredentials::ClientCertificateFiles { certificate, key }) => {
                assert_eq!(certificate.as_ref(), Some(&path));
                assert_eq!(key.as_ref(), Some(&path));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            current.validate(now()),
            Err(Error::NoEmbeddedCa { .. })
        ));

        let config = with_context("dev");
        assert!(matches!(
            config.current().unwrap().credentials,
            Credentials::Other(OtherCredentials::TokenFile(ref p)) if p == "/var/run/token"
        ));
    }

    fn cert_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Kubeconfig {
        let cluster = ClusterEntry {
            name: "kubernetes".into(),
            server: ServerUrl::from_host_port("10.0.0.1", 6443).unwrap(),
            ca_pem: ca_pem.into(),
        };
        Kubeconfig::with_client_certificate(
            &cluster,
            "alice",
            cert_pem,
            Secret::from(key_pem.to_owned()),
            None,
        )
        .unwrap()
    }

    #[test]
    fn validate_checks_chain_dates_and_key() {
        let ca1 = ca("kubernetes");
        let ca2 = ca("other");
        let key1 = key();
        let key2 = key();
        let id = ClientIdentity {
            user: "alice".into(),
            groups: vec![],
        };
        let validity = Validity::kubeadm(now(), LEAF_VALIDITY);
        let cert = ca1.issue_client(&id, &key1, validity).unwrap().to_pem();
        let key1_pem = key1.secret_pem().unwrap();
        let ca1_pem = ca1.certificate().to_pem();

        let ok = cert_config(&ca1_pem, &cert, &key1_pem);
        ok.current().unwrap().validate(now()).unwrap();

        let wrong_ca = cert_config(&ca2.certificate().to_pem(), &cert, &key1_pem);
        let err = wrong_ca.current().unwrap().validate(now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "users[alice]: client certificate is not signed by the cluster CA (clusters[kubernetes])"
        );

        let late = now() + LEAF_VALIDITY + Duration::from_secs(1);
        let err = ok.current().unwrap().validate(late).unwrap_err();
        assert!(matches!(err, Error::Expired { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "users[alice]: client certificate expired at 2027-01-01T00:00:00Z"
        );
        let early = now() - Duration::from_secs(3600);
        assert!(matches!(
            ok.current().unwrap().validate(early),
            Err(Error::NotYetValid { .. })
        ));

        let other_key = cert_config(&ca1_pem, &cert, &key2.secret_pem().unwrap());
        let err = other_key.current().unwrap().validate(now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "users[alice]: client key does not match the client certificate"
        );

        let not_a_ca = cert_config(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            &cert,
            &key1_pem,
        );
        let err = not_a_ca.current().unwrap().validate(now()).unwrap_err();
        assert!(matches!(err, Error::InvalidCa { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "clusters[kubernetes]: certificate-authority-data is not a valid certificate"
        );

        // No error message or Debug carries the key.
        for e in [
            err,
            Error::KeyMismatch {
                user: "alice".into(),
            },
        ] {
            assert!(!format!("{e} {e:?}").contains(key1_pem.as_str()));
        }
    }
}
