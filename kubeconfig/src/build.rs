//! Builders: one cluster, one user, one context named `<user>@<cluster>`, current-context set.

use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig as KubeKubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};

use crate::model::{encode, encode_secret};
use crate::{Error, Kubeconfig, Secret, ServerUrl};

/// The cluster half of a kubeconfig to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterEntry {
    /// Cluster name (kubeadm's `clusterName`, default `kubernetes`).
    pub name: String,
    /// API server URL: the control-plane endpoint, an HA VIP or load balancer, or a local endpoint.
    pub server: ServerUrl,
    /// The cluster CA certificate, PEM. Embedded as `certificate-authority-data`.
    pub ca_pem: String,
}

/// kubeadm's context name: `<user>@<cluster>` (e.g. `kubernetes-admin@kubernetes`).
pub fn context_name(user: &str, cluster: &str) -> String {
    format!("{user}@{cluster}")
}

impl Kubeconfig {
    /// A client-certificate kubeconfig, shaped like kubeadm's `CreateWithCerts`: the CA, the client
    /// certificate and the key embedded as base64 of their PEM text, one context `<user>@<cluster>`
    /// (with `namespace` if given), `current-context` set.
    ///
    /// Checks that the inputs are PEM of the right kind (not that they belong together: that is
    /// [`Current::validate`](crate::Current::validate)).
    pub fn with_client_certificate(
        cluster: &ClusterEntry,
        user: &str,
        cert_pem: &str,
        key_pem: Secret,
        namespace: Option<&str>,
    ) -> Result<Self, Error> {
        require_pem(cert_pem, "client certificate", &["CERTIFICATE"])?;
        require_pem(
            key_pem.expose_secret(),
            "client key",
            &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"],
        )?;
        let auth = AuthInfo {
            client_certificate_data: Some(encode(cert_pem)),
            client_key_data: Some(encode_secret(key_pem.expose_secret())),
            ..AuthInfo::default()
        };
        build(cluster, user, auth, namespace)
    }

    /// A token kubeconfig, shaped like kubeadm's `CreateWithToken`: the CA embedded, the user holding only
    /// `token`, one context `<user>@<cluster>` (with `namespace` if given), `current-context` set.
    pub fn with_token(
        cluster: &ClusterEntry,
        user: &str,
        token: Secret,
        namespace: Option<&str>,
    ) -> Result<Self, Error> {
        if token.expose_secret().is_empty() {
            return Err(Error::EmptyName { what: "token" });
        }
        let auth = AuthInfo {
            token: Some(secrecy::SecretString::from(
                token.expose_secret().to_owned(),
            )),
            ..AuthInfo::default()
        };
        build(cluster, user, auth, namespace)
    }
}

impl Kubeconfig {
    /// Sets the current context's cluster CA to `ca_pem` (embedded; one certificate or a
    /// bundle, as during a CA rotation), keeping everything else.
    pub fn set_certificate_authority(&mut self, ca_pem: &str) -> Result<(), Error> {
        require_pem(ca_pem, "CA certificate", &["CERTIFICATE"])?;
        let (context, cluster_name) = {
            let current = self.current()?;
            (current.context.to_owned(), current.cluster.to_owned())
        };
        let cluster = self
            .as_kube_mut()
            .clusters
            .iter_mut()
            .find(|c| c.name == cluster_name)
            .and_then(|c| c.cluster.as_mut())
            .ok_or(Error::UnknownCluster {
                cluster: cluster_name,
                context,
            })?;
        cluster.certificate_authority = None;
        cluster.certificate_authority_data = Some(encode(ca_pem));
        Ok(())
    }

    /// Renews the current context's client certificate in place: the user's certificate and key
    /// are replaced, and the cluster's embedded CA is set to `ca_pem` (so a kubeconfig never
    /// keeps trusting a replaced CA). Server, names and everything else are kept.
    pub fn renew_client_certificate(
        &mut self,
        cert_pem: &str,
        key_pem: Secret,
        ca_pem: &str,
    ) -> Result<(), Error> {
        require_pem(cert_pem, "client certificate", &["CERTIFICATE"])?;
        require_pem(
            key_pem.expose_secret(),
            "client key",
            &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"],
        )?;
        require_pem(ca_pem, "CA certificate", &["CERTIFICATE"])?;
        let (context, cluster_name, user_name) = {
            let current = self.current()?;
            (
                current.context.to_owned(),
                current.cluster.to_owned(),
                current.user.to_owned(),
            )
        };
        let raw = self.as_kube_mut();
        let cluster = raw
            .clusters
            .iter_mut()
            .find(|c| c.name == cluster_name)
            .and_then(|c| c.cluster.as_mut())
            .ok_or_else(|| Error::UnknownCluster {
                cluster: cluster_name.clone(),
                context: context.clone(),
            })?;
        cluster.certificate_authority = None;
        cluster.certificate_authority_data = Some(encode(ca_pem));
        let auth = raw
            .auth_infos
            .iter_mut()
            .find(|u| u.name == user_name)
            .and_then(|u| u.auth_info.as_mut())
            .ok_or_else(|| Error::UnknownUser {
                user: user_name.clone(),
                context: context.clone(),
            })?;
        auth.client_certificate = None;
        auth.client_key = None;
        auth.client_certificate_data = Some(encode(cert_pem));
        auth.client_key_data = Some(encode_secret(key_pem.expose_secret()));
        Ok(())
    }
}

fn build(
    cluster: &ClusterEntry,
    user: &str,
    auth: AuthInfo,
    namespace: Option<&str>,
) -> Result<Kubeconfig, Error> {
    if cluster.name.is_empty() {
        return Err(Error::EmptyName {
            what: "cluster name",
        });
    }
    if user.is_empty() {
        return Err(Error::EmptyName { what: "user name" });
    }
    require_pem(&cluster.ca_pem, "CA certificate", &["CERTIFICATE"])?;
    let context = context_name(user, &cluster.name);
    let raw = KubeKubeconfig {
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        clusters: vec![NamedCluster {
            name: cluster.name.clone(),
            cluster: Some(Cluster {
                server: Some(cluster.server.as_str().to_owned()),
                certificate_authority_data: Some(encode(&cluster.ca_pem)),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.to_owned(),
            auth_info: Some(auth),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(Context {
                cluster: cluster.name.clone(),
                user: Some(user.to_owned()),
                namespace: namespace.filter(|n| !n.is_empty()).map(str::to_owned),
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(context),
        ..KubeKubeconfig::default()
    };
    Ok(Kubeconfig::from(raw))
}

/// Checks that `text` holds a PEM block with one of `labels` (`-----BEGIN <label>-----`).
fn require_pem(text: &str, what: &'static str, labels: &[&str]) -> Result<(), Error> {
    let found = labels.iter().any(|label| {
        text.contains(&format!("-----BEGIN {label}-----"))
            && text.contains(&format!("-----END {label}-----"))
    });
    if found {
        Ok(())
    } else {
        let expected = if labels.contains(&"CERTIFICATE") {
            "CERTIFICATE"
        } else {
            "PRIVATE KEY"
        };
        Err(Error::NotPem { what, expected })
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;
    use crate::test_support::{FAKE_CA_PEM, ca, key, now};
    use crate::{Credentials, Current};

    fn cluster(server: &str, ca_pem: &str) -> ClusterEntry {
        ClusterEntry {
            name: "kubernetes".into(),
            server: server.parse().unwrap(),
            ca_pem: ca_pem.into(),
        }
    }

    const TOKEN_GOLDEN: &str = include_str!("../tests/data/token.yaml");

    #[test]
    fn token_kubeconfig_matches_golden_file() {
        let config = Kubeconfig::with_token(
            &cluster("https://[fd00::10]:6443", FAKE_CA_PEM),
            "alice",
            Secret::from("abcdef.0123456789abcdef".to_owned()),
            Some("team-a"),
        )
        .unwrap();
        let yaml = config.to_yaml().unwrap();
        assert_eq!(&*yaml, TOKEN_GOLDEN);
        // kube's own reader accepts it and sees the same thing.
        let kube = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        assert_eq!(kube.current_context.as_deref(), Some("alice@kubernetes"));
        assert_eq!(kube.api_version.as_deref(), Some("v1"));
        assert_eq!(kube.kind.as_deref(), Some("Config"));
        let ctx = kube.contexts[0].context.as_ref().unwrap();
        assert_eq!(ctx.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            kube.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
            Some("https://[fd00::10]:6443")
        );
    }

    #[test]
    fn client_certificate_kubeconfig_embeds_standard_base64_of_pem() {
        let ca = ca("kubernetes");
        let key = key();
        let id = pki_core::ClientIdentity {
            user: "alice".into(),
            groups: vec!["dev".into(), "ops".into()],
        };
        let cert = ca
            .issue_client(
                &id,
                &key,
                pki_core::Validity::kubeadm(now(), pki_core::LEAF_VALIDITY),
            )
            .unwrap();
        let key_pem: Zeroizing<String> = key.secret_pem().unwrap();
        let config = Kubeconfig::with_client_certificate(
            &cluster("https://vip.example.com:8443", &ca.certificate().to_pem()),
            "alice",
            &cert.to_pem(),
            Secret::from(key_pem.clone()),
            None,
        )
        .unwrap();
        let yaml = config.to_yaml().unwrap();
        assert!(!yaml.contains("namespace"), "{}", &*yaml);

        // Independent reader: kube, and plain base64 of the PEM text.
        let kube = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        let auth = kube.auth_infos[0].auth_info.as_ref().unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            auth.client_certificate_data.as_deref(),
            Some(b64.encode(cert.to_pem()).as_str())
        );
        let ca_data = kube.clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .certificate_authority_data
            .as_deref()
            .unwrap();
        assert_eq!(
            b64.decode(ca_data).unwrap(),
            ca.certificate().to_pem().as_bytes()
        );

        // And back through our view, which validates.
        let parsed = Kubeconfig::from_yaml(&yaml).unwrap();
        let current: Current<'_> = parsed.current().unwrap();
        assert_eq!(current.context, "alice@kubernetes");
        match &current.credentials {
            Credentials::ClientCertificate {
                cert_pem,
                key_pem: k,
            } => {
                assert_eq!(cert_pem, &cert.to_pem());
                assert_eq!(k.expose_secret(), key_pem.as_str());
            }
            other => panic!("unexpected {other:?}"),
        }
        let validated = current.validate(now()).unwrap();
        assert_eq!(
            validated
                .client_certificate
                .unwrap()
                .common_name()
                .as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn builders_reject_bad_input() {
        let c = cluster("https://10.0.0.1:6443", FAKE_CA_PEM);
        let token = || Secret::from("t".to_owned());
        assert!(matches!(
            Kubeconfig::with_token(
                &ClusterEntry {
                    name: String::new(),
                    ..c.clone()
                },
                "a",
                token(),
                None
            ),
            Err(Error::EmptyName {
                what: "cluster name"
            })
        ));
        assert!(matches!(
            Kubeconfig::with_token(&c, "", token(), None),
            Err(Error::EmptyName { .. })
        ));
        assert!(matches!(
            Kubeconfig::with_token(
                &ClusterEntry {
                    ca_pem: "nope".into(),
                    ..c.clone()
                },
                "a",
                token(),
                None
            ),
            Err(Error::NotPem {
                what: "CA certificate",
                ..
            })
        ));
        // Swapped certificate and key.
        let err = Kubeconfig::with_client_certificate(
            &c,
            "a",
            "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n",
            Secret::from(FAKE_CA_PEM.to_owned()),
            None,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::NotPem {
                what: "client certificate",
                ..
            }
        ));
        assert!(!err.to_string().contains("PRIVATE KEY-----"));
    }

    #[test]
    fn debug_never_prints_credentials() {
        let config = Kubeconfig::with_token(
            &cluster("https://10.0.0.1:6443", FAKE_CA_PEM),
            "alice",
            Secret::from("s3cr3t-token".to_owned()),
            None,
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cr3t-token"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
        let current = config.current().unwrap();
        let debug = format!("{current:?}");
        assert!(!debug.contains("s3cr3t-token"), "{debug}");
    }
}
