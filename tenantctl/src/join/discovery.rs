//! Token discovery, as kubeadm does it (`cmd/kubeadm/app/discovery/token/token.go`): fetch
//! `cluster-info` from the endpoint anonymously without verifying its certificate, check the
//! detached JWS `jws-kubeconfig-<token-id>` over the kubeconfig with the token secret, pin the CA
//! against the given `sha256:` hashes, then fetch again over TLS verified by that CA and compare.

use std::{collections::BTreeMap, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, config::Kubeconfig as KubeKubeconfig};
use kubeconfig::ServerUrl;
use pki_core::Certificate;

use super::{
    bootstrap_setup::{CLUSTER_INFO, KUBE_PUBLIC},
    jws,
};
use crate::{
    cluster::{self, Retry},
    error::Error,
};

/// What discovery established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The cluster CA (PEM), pinned.
    pub ca_pem: String,
    /// The server cluster-info names (kubeadm uses it; we use the endpoint given).
    pub cluster_info_server: String,
}

/// How to trust cluster-info's CA.
#[derive(Debug, Clone)]
pub enum Pin {
    /// Any of these `sha256:<hex>` hashes of the CA's public key.
    Hashes(Vec<String>),
    /// `--discovery-token-unsafe-skip-ca-verification`: trust whatever the JWS vouches for.
    Unsafe,
}

fn bad(message: String) -> Error {
    Error::Discovery { message }
}

/// Checks cluster-info's data (the network's bytes): the JWS of token `id` over the kubeconfig,
/// the kubeconfig's first cluster, and the CA pin. Returns the kubeconfig text too, for the
/// comparison with the verified fetch.
pub fn verify_cluster_info(
    data: &BTreeMap<String, String>,
    id: &str,
    secret: &str,
    pin: &Pin,
) -> Result<(Discovered, String), Error> {
    let kubeconfig = data
        .get("kubeconfig")
        .ok_or_else(|| bad(format!("{CLUSTER_INFO} has no kubeconfig key")))?;
    let signature = data.get(&format!("jws-kubeconfig-{id}")).ok_or_else(|| {
        bad(format!(
            "token id {id:?} is unknown to the cluster ({CLUSTER_INFO} has no jws-kubeconfig-{id}), or the controller-manager's bootstrapsigner is not running"
        ))
    })?;
    if !jws::is_valid(signature, kubeconfig, id, secret) {
        return Err(bad(format!(
            "{CLUSTER_INFO}'s signature for token {id} does not verify: the token secret is wrong, or the kubeconfig was tampered with"
        )));
    }
    let parsed: KubeKubeconfig = serde_saphyr::from_str(kubeconfig)
        .map_err(|e| bad(format!("{CLUSTER_INFO}'s kubeconfig does not parse: {e}")))?;
    let cluster = parsed
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| bad(format!("{CLUSTER_INFO}'s kubeconfig names no cluster")))?;
    let server = cluster
        .server
        .clone()
        .ok_or_else(|| bad(format!("{CLUSTER_INFO}'s cluster has no server")))?;
    let ca_pem = cluster
        .certificate_authority_data
        .as_deref()
        .and_then(|b| B64.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            bad(format!(
                "{CLUSTER_INFO}'s cluster has no certificate-authority-data"
            ))
        })?;
    let cas = certificates(&ca_pem)
        .map_err(|e| bad(format!("{CLUSTER_INFO}'s CA does not parse: {e}")))?;
    if let Pin::Hashes(wanted) = pin {
        let found: Vec<String> = cas
            .iter()
            .map(Certificate::discovery_hash)
            .collect::<Result<_, _>>()?;
        let norm = |h: &str| h.trim().to_ascii_lowercase();
        if !found
            .iter()
            .any(|f| wanted.iter().any(|w| norm(w) == norm(f)))
        {
            return Err(bad(format!(
                "the cluster CA does not match any --discovery-token-ca-cert-hash: its hash is {}",
                found.join(", ")
            )));
        }
    }
    Ok((
        Discovered {
            ca_pem,
            cluster_info_server: server,
        },
        kubeconfig.clone(),
    ))
}

/// Two bundles hold the same certificates, in any order and whatever the PEM's spacing.
pub fn same_set(a: &[Certificate], b: &[Certificate]) -> bool {
    let ders = |v: &[Certificate]| {
        let mut d: Vec<Vec<u8>> = v.iter().map(|c| c.der().to_vec()).collect();
        d.sort();
        d.dedup();
        d
    };
    ders(a) == ders(b)
}

/// Every certificate in a PEM bundle.
pub fn certificates(pem: &str) -> Result<Vec<Certificate>, pki_core::Error> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    for block in pem.split_inclusive(END).filter(|b| b.contains(END)) {
        out.push(Certificate::from_pem(block.trim_start())?);
    }
    if out.is_empty() {
        out.push(Certificate::from_pem(pem)?);
    }
    Ok(out)
}

/// How often discovery looks again for the token's signature (kubeadm: 5 s,
/// `constants.DiscoveryRetryInterval`).
const SIGNATURE_POLL: Duration = Duration::from_secs(1);

/// Discovery against `endpoint` with token `id`.`secret`. A cluster-info without the token's
/// signature is fetched again every second until `wait` has passed, as kubeadm's
/// `discovery/token/token.go` does: the bootstrap signer signs a token a moment after it
/// appears. `waiting` is called once, when the first fetch lacks the signature.
pub async fn discover(
    endpoint: &ServerUrl,
    id: &str,
    secret: &str,
    pin: &Pin,
    retry: &Retry,
    wait: Duration,
    waiting: &mut dyn FnMut(String),
) -> Result<Discovered, Error> {
    let url: http::Uri = endpoint
        .as_str()
        .parse()
        .map_err(|e| bad(format!("{} is not a URL: {e}", endpoint.as_str())))?;
    let mut insecure = kube::Config::new(url.clone());
    insecure.accept_invalid_certs = true;
    let deadline = tokio::time::Instant::now() + wait;
    let mut said = false;
    let first = loop {
        let data = fetch(&insecure, retry).await?;
        let signed = data.contains_key(&format!("jws-kubeconfig-{id}"));
        if signed || tokio::time::Instant::now() >= deadline {
            break data;
        }
        if !said {
            waiting(format!(
                "[discovery] cluster-info is not signed for token {id} yet; waiting up to {} for the bootstrap signer",
                crate::time::humanize(wait)
            ));
            said = true;
        }
        tokio::time::sleep(SIGNATURE_POLL).await;
    };
    let (discovered, kubeconfig) = verify_cluster_info(&first, id, secret, pin)?;

    let mut verified = kube::Config::new(url);
    verified.root_cert = Some(
        certificates(&discovered.ca_pem)?
            .iter()
            .map(|c| c.der().to_vec())
            .collect(),
    );
    let second = fetch(&verified, retry).await.map_err(|e| {
        bad(format!(
            "the second fetch of {CLUSTER_INFO}, over TLS verified by the pinned CA, failed ({e}): {} does not present a certificate from that CA for this name",
            endpoint.as_str()
        ))
    })?;
    if second.get("kubeconfig") != Some(&kubeconfig) {
        return Err(bad(format!(
            "{CLUSTER_INFO} changed between the unverified and the verified fetch"
        )));
    }
    Ok(discovered)
}

async fn fetch(config: &kube::Config, retry: &Retry) -> Result<BTreeMap<String, String>, Error> {
    let client = cluster::connect(config)?;
    let api: Api<ConfigMap> = Api::namespaced(client, KUBE_PUBLIC);
    let what = format!("get configmap/{CLUSTER_INFO} in {KUBE_PUBLIC}");
    let cm = retry.run(&what, || api.get(CLUSTER_INFO)).await?;
    Ok(cm.data.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::bootstrap_setup::cluster_info_kubeconfig;

    fn ca() -> Certificate {
        let spec = pki_core::CertSpec {
            common_name: "kubernetes".into(),
            organizations: vec![],
            usage: pki_core::Usage::Ca,
            sans: vec![],
            validity: pki_core::Validity::kubeadm(
                std::time::SystemTime::now(),
                Duration::from_secs(86_400),
            ),
        };
        let key = pki_core::PrivateKey::generate(pki_core::KeyAlgorithm::EcdsaP256).unwrap();
        pki_core::CertificateAuthority::self_signed(&spec, key)
            .unwrap()
            .certificate()
            .clone()
    }

    fn data(kc: &str, id: &str, secret: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("kubeconfig".to_owned(), kc.to_owned()),
            (
                format!("jws-kubeconfig-{id}"),
                jws::detached_signature(kc, id, secret),
            ),
        ])
    }

    #[test]
    fn verification_accepts_the_signed_pinned_cluster_info_and_nothing_else() {
        let ca = ca();
        let hash = ca.discovery_hash().unwrap();
        let server: ServerUrl = "https://10.0.0.10:6443".parse().unwrap();
        let kc = cluster_info_kubeconfig(&server, &ca.to_pem()).unwrap();
        let good = data(&kc, "abcdef", "0123456789abcdef");
        let pin = Pin::Hashes(vec![hash.to_uppercase().replace("SHA256", "sha256")]);
        let (d, text) = verify_cluster_info(&good, "abcdef", "0123456789abcdef", &pin).unwrap();
        assert_eq!(d.cluster_info_server, "https://10.0.0.10:6443");
        assert_eq!(d.ca_pem, ca.to_pem());
        assert_eq!(text, kc);
        let err = |data: &BTreeMap<String, String>, id: &str, secret: &str, pin: &Pin| {
            verify_cluster_info(data, id, secret, pin)
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(&good, "zzzzzz", "0123456789abcdef", &pin)
                .contains("token id \"zzzzzz\" is unknown")
        );
        assert!(err(&good, "abcdef", "ffffffffffffffff", &pin).contains("does not verify"));
        let mut tampered = good.clone();
        tampered.insert("kubeconfig".into(), kc.replace("10.0.0.10", "10.6.6.6"));
        assert!(err(&tampered, "abcdef", "0123456789abcdef", &pin).contains("does not verify"));
        let other = Pin::Hashes(vec![format!("sha256:{}", "0".repeat(64))]);
        assert!(
            err(&good, "abcdef", "0123456789abcdef", &other)
                .ends_with(&format!("its hash is {hash}"))
        );
        assert!(verify_cluster_info(&good, "abcdef", "0123456789abcdef", &Pin::Unsafe).is_ok());
        let junk = data("not: [a kubeconfig", "abcdef", "0123456789abcdef");
        assert!(err(&junk, "abcdef", "0123456789abcdef", &pin).contains("does not parse"));
    }
}
