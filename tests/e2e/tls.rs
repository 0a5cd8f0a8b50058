//! A rustls server presenting the generated apiserver certificate and requiring client
//! certificates from the cluster CA, and a client using admin.conf's credentials as kube's
//! own loader reads them.

use std::sync::Arc;

use base64::Engine as _;
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _},
    server::WebPkiClientVerifier,
};
use workspace_tests::{Cluster, block_on};

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn roots(ca_pem: &str) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca_pem) {
        roots.add(c).unwrap();
    }
    Arc::new(roots)
}

pub(crate) struct Client {
    ca_der: Vec<Vec<u8>>,
    cert_pem: String,
    key_pem: String,
}

/// admin.conf as kube's own loader resolves it.
fn admin_client(cluster: &Cluster) -> Client {
    kubeconfig_client(
        &cluster.kubeconfig("admin.conf"),
        "https://vip.example.com:6443/",
    )
}

/// A client-certificate kubeconfig as kube's own loader resolves it.
pub(crate) fn kubeconfig_client(text: &str, server: &str) -> Client {
    let kc = kube::config::Kubeconfig::from_yaml(text).unwrap();
    let config = block_on(kube::Config::from_custom_kubeconfig(
        kc,
        &kube::config::KubeConfigOptions::default(),
    ))
    .unwrap();
    assert_eq!(config.cluster_url.to_string(), server);
    let b64 = base64::engine::general_purpose::STANDARD;
    let data =
        |s: &Option<String>| String::from_utf8(b64.decode(s.as_deref().unwrap()).unwrap()).unwrap();
    let key_data = config.auth_info.client_key_data.as_ref().map(|s| {
        use secrecy::ExposeSecret as _;
        s.expose_secret().to_owned()
    });
    Client {
        ca_der: config.root_cert.clone().unwrap(),
        cert_pem: data(&config.auth_info.client_certificate_data),
        key_pem: data(&key_data),
    }
}

/// Runs a handshake in memory; on success returns the client certificate's CN and O as the
/// server saw them (what kube-apiserver's x509 authenticator reads as user and groups).
pub(crate) fn handshake(
    cluster: &Cluster,
    client: &Client,
    server_name: &str,
) -> Result<(String, Vec<String>), String> {
    let server_cfg = ServerConfig::builder()
        .with_client_cert_verifier(
            WebPkiClientVerifier::builder(roots(&cluster.pki_file("ca.crt")))
                .build()
                .unwrap(),
        )
        .with_single_cert(
            certs(&cluster.pki_file("apiserver.crt")),
            key(&cluster.pki_file("apiserver.key")),
        )
        .unwrap();
    let mut client_roots = RootCertStore::empty();
    for der in &client.ca_der {
        client_roots.add(CertificateDer::from(der.clone())).unwrap();
    }
    let client_cfg = ClientConfig::builder()
        .with_root_certificates(client_roots)
        .with_client_auth_cert(certs(&client.cert_pem), key(&client.key_pem))
        .unwrap();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut c = ClientConnection::new(Arc::new(client_cfg), name).unwrap();
    let mut s = ServerConnection::new(Arc::new(server_cfg)).unwrap();
    for _ in 0..20 {
        let mut buf = Vec::new();
        c.write_tls(&mut buf).unwrap();
        s.read_tls(&mut buf.as_slice()).unwrap();
        s.process_new_packets()
            .map_err(|e| format!("server: {e}"))?;
        let mut buf = Vec::new();
        s.write_tls(&mut buf).unwrap();
        c.read_tls(&mut buf.as_slice()).unwrap();
        c.process_new_packets()
            .map_err(|e| format!("client: {e}"))?;
        if !c.is_handshaking() && !s.is_handshaking() {
            let peer = s.peer_certificates().ok_or("no client certificate")?;
            let cert = pki_core::Certificate::from_der(peer[0].as_ref()).unwrap();
            return Ok((cert.common_name().unwrap_or_default(), cert.organizations()));
        }
    }
    Err("handshake did not finish".into())
}

#[test]
fn admin_conf_completes_mutual_tls_for_every_server_name() {
    for alg in ["ECDSA-P256", "RSA-2048"] {
        let cluster = Cluster::init(&["--encryption-algorithm", alg]);
        let client = admin_client(&cluster);
        for name in [
            "kubernetes.default.svc",
            "vip.example.com",
            "10.0.0.10",
            "10.96.0.1",
            "cp1",
        ] {
            let (user, groups) =
                handshake(&cluster, &client, name).unwrap_or_else(|e| panic!("{alg} {name}: {e}"));
            assert_eq!(user, "kubernetes-admin");
            assert_eq!(groups, ["kubeadm:cluster-admins"]);
        }
        let err = handshake(&cluster, &client, "not-in-the-sans.example.com").unwrap_err();
        assert!(err.contains("client"), "{err}");
    }
}

#[test]
fn a_client_from_another_ca_is_refused() {
    let cluster = Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    let other = Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    let mut client = admin_client(&other);
    // Trust the right server CA, but present the other cluster's admin certificate.
    client.ca_der = admin_client(&cluster).ca_der;
    let err = handshake(&cluster, &client, "kubernetes.default.svc").unwrap_err();
    assert!(err.starts_with("server:"), "{err}");
}
