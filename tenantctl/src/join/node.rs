//! `tenantctl join ENDPOINT --token T --discovery-token-ca-cert-hash H`: token discovery, then
//! `bootstrap-kubelet.conf` and `ca.crt` for the kubelet's TLS bootstrap.
//!
//! kubeadm's long-standing HA flaw is fixed here: kubeadm writes the server that `cluster-info`
//! names (whatever address `init` wrote), so a join through an HA VIP or load balancer ends up
//! talking to one control-plane node; tenantctl writes the ENDPOINT the user gave.
//! `--use-cluster-info-server` restores kubeadm's behaviour.

use std::path::PathBuf;

use kubeconfig::{ClusterEntry, Kubeconfig, Secret, ServerUrl};
use pki_core::Certificate;
use serde::Serialize;

use super::{
    discovery::{self, Pin},
    token,
};
use crate::pki::{
    store::{DEFAULT_CERT_DIR, DEFAULT_KUBECONFIG_DIR},
    upload_certs,
};
use crate::{
    cli::JoinArgs,
    cluster::{self, Retry},
    error::Error,
    fs::{self, Pending},
    output::{Output, progress, say},
};

/// kubeadm's user name in the bootstrap kubeconfig (`TokenUser`).
pub const TOKEN_USER: &str = "tls-bootstrap-token-user";
/// kubeadm's file name for it.
pub const BOOTSTRAP_KUBECONFIG: &str = "bootstrap-kubelet.conf";

/// What `join -o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Joined {
    server: String,
    cluster_info_server: String,
    /// The `--discovery-token-ca-cert-hash` that matched (absent with the unsafe skip).
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_cert_hash: Option<String>,
    /// The hash of every CA in cluster-info's bundle, all trusted (two during a rotation).
    trusted_ca_cert_hashes: Vec<String>,
    files: Vec<String>,
}

/// The endpoint as an API server URL: `HOST`, `HOST:PORT` (6443 by default) or `https://…`.
pub fn endpoint_url(endpoint: &str) -> Result<ServerUrl, Error> {
    if endpoint.starts_with("https://") {
        return Ok(endpoint.parse()?);
    }
    let e: pki_core::Endpoint = endpoint.parse().map_err(|_| Error::Usage {
        flag: "ENDPOINT",
        message: format!("{endpoint:?} is not HOST, HOST:PORT or https://HOST:PORT"),
    })?;
    Ok(ServerUrl::from_host_port(
        &e.host.to_string(),
        e.port.unwrap_or(6443),
    )?)
}

/// `tenantctl join` (worker).
pub fn run(args: &JoinArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let (id, secret) = token::parse(&args.token).map_err(|_| Error::Usage {
        flag: "--token",
        message: "a bootstrap token has the form [a-z0-9]{6}.[a-z0-9]{16}".into(),
    })?;
    let pin = match (
        args.discovery_token_unsafe_skip_ca_verification,
        args.ca_cert_hashes.is_empty(),
    ) {
        (true, _) => {
            out.warning("--discovery-token-unsafe-skip-ca-verification: the cluster CA is trusted on the token alone; anyone who knows the token can impersonate the cluster");
            Pin::Unsafe
        }
        (false, true) => {
            return Err(Error::Usage {
                flag: "--discovery-token-ca-cert-hash",
                message: "pass the CA's hash (`tenantctl pki ca-hash` on a control-plane node), or --discovery-token-unsafe-skip-ca-verification".into(),
            });
        }
        (false, false) => Pin::Hashes(args.ca_cert_hashes.clone()),
    };
    let endpoint = endpoint_url(&args.endpoint)?;
    let retry = Retry::new(args.request_timeout, args.timeout);
    let found = cluster::block_on(discovery::discover(
        &endpoint,
        &id,
        &secret,
        &pin,
        &retry,
        args.discovery_timeout,
        &mut |line| progress!(out, "{line}"),
    ))?;
    let trusted = discovery::certificates(&found.ca_pem)?
        .iter()
        .map(Certificate::discovery_hash)
        .collect::<Result<Vec<_>, _>>()?;
    let norm = |h: &str| h.trim().to_ascii_lowercase();
    let pinned = trusted
        .iter()
        .find(|h| {
            args.ca_cert_hashes
                .iter()
                .any(|w| norm(w) == norm(h.as_str()))
        })
        .cloned();
    progress!(
        out,
        "[discovery] cluster-info from {} is signed by token {id}; {}",
        endpoint.as_str(),
        match &pinned {
            Some(h) => format!("its CA {h} is pinned"),
            None => "its CA is trusted unpinned".to_owned(),
        }
    );
    if trusted.len() > 1 {
        progress!(
            out,
            "[discovery] cluster-info carries {} CAs (a CA rotation): all of them are trusted: {}",
            trusted.len(),
            trusted.join(", ")
        );
    }
    if args.control_plane {
        return control_plane(args, &endpoint, &found, out);
    }
    let server: ServerUrl = if args.use_cluster_info_server {
        found.cluster_info_server.parse()?
    } else {
        if found.cluster_info_server.trim_end_matches('/') != endpoint.as_str() {
            out.note(format_args!(
                "cluster-info names {} but {} was given: bootstrap-kubelet.conf uses {} (kubeadm would use cluster-info's; --use-cluster-info-server does too)",
                found.cluster_info_server,
                endpoint.as_str(),
                endpoint.as_str()
            ));
        }
        endpoint.clone()
    };
    let entry = ClusterEntry {
        name: "kubernetes".into(),
        server: server.clone(),
        ca_pem: found.ca_pem.clone(),
    };
    let kubeconfig =
        Kubeconfig::with_token(&entry, TOKEN_USER, Secret::new(args.token.clone()), None)?;
    let kc_yaml = kubeconfig.to_yaml()?;
    let files = write(args, kc_yaml.as_bytes(), &found.ca_pem, out)?;
    let joined = Joined {
        server: server.as_str().to_owned(),
        cluster_info_server: found.cluster_info_server.clone(),
        ca_cert_hash: pinned,
        trusted_ca_cert_hashes: trusted,
        files: files.iter().map(|p| p.display().to_string()).collect(),
    };
    out.document(args.output, &joined, |out, j| {
        for f in &j.files {
            say!(out, "wrote {f}");
        }
        say!(
            out,
            "the kubelet can bootstrap against {} with --bootstrap-kubeconfig={}",
            j.server,
            kubeconfig_dir(args).join(BOOTSTRAP_KUBECONFIG).display()
        );
        Ok(())
    })
}

/// `ca.crt` (kept when it is already this CA; another CA is refused) and the bootstrap
/// kubeconfig (never replaced), as one journaled batch under the lock on the PKI directory.
fn write(
    args: &JoinArgs,
    kubeconfig: &[u8],
    ca_pem: &str,
    out: &mut Output<'_>,
) -> Result<Vec<PathBuf>, Error> {
    let (cert_dir, kubeconfig_dir) = (cert_dir(args), kubeconfig_dir(args));
    let kc_path = kubeconfig_dir.join(BOOTSTRAP_KUBECONFIG);
    if kc_path.exists() {
        return Err(Error::Blocked {
            what: format!(
                "{} exists: this node has joined already (by tenantctl or kubeadm); nothing was changed",
                kc_path.display()
            ),
            next: "remove it to join again, or pass --kubeconfig-dir to write elsewhere".into(),
        });
    }
    fs::create_dirs(&cert_dir)?;
    let _lock = fs::lock_dir(&cert_dir, args.pki.lock_timeout)?;
    for line in fs::recover(&cert_dir, &[&cert_dir, &kubeconfig_dir])?.lines {
        out.warning(line);
    }
    let ca_path = cert_dir.join("ca.crt");
    let mut pending = Vec::new();
    match std::fs::read_to_string(&ca_path) {
        // The same certificates, whatever the PEM's spacing or order.
        Ok(existing)
            if discovery::certificates(&existing).is_ok_and(|have| {
                discovery::certificates(ca_pem).is_ok_and(|want| discovery::same_set(&have, &want))
            }) =>
        {
            progress!(out, "{} is already this CA: kept", ca_path.display());
        }
        Ok(_) => {
            return Err(Error::Inconsistent {
                dir: cert_dir,
                problems: vec![
                    "ca.crt is another CA than the cluster's: this node belongs to another cluster, or remove it".into(),
                ],
            });
        }
        Err(_) => pending.push(Pending::new(ca_path, ca_pem.as_bytes(), false)),
    }
    pending.push(Pending::new(kc_path, kubeconfig, true));
    fs::write_batch(&cert_dir, &pending)
}

fn cert_dir(args: &JoinArgs) -> PathBuf {
    args.pki
        .cert_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_CERT_DIR.into())
}

fn kubeconfig_dir(args: &JoinArgs) -> PathBuf {
    args.pki
        .kubeconfig_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_KUBECONFIG_DIR.into())
}

/// `join --control-plane`: the CAs and service-account keys from kubeadm-certs (fetched with
/// the bootstrap token over TLS verified by the pinned CA), then this node's `pki init` — its
/// own serving certificates and kubeconfigs, admin.conf on ENDPOINT.
fn control_plane(
    args: &JoinArgs,
    endpoint: &ServerUrl,
    found: &discovery::Discovered,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let hex = args
        .certificate_key
        .as_deref()
        .ok_or_else(|| Error::Usage {
            flag: "--certificate-key",
            message: "--control-plane needs the key printed by `tenantctl pki upload-certs`".into(),
        })?;
    let key = upload_certs::decode_key(hex)?;
    let retry = Retry::new(args.request_timeout, args.timeout);
    let secret = cluster::block_on(fetch_certs(endpoint, &found.ca_pem, &args.token, &retry))?;
    let external = !secret
        .data
        .as_ref()
        .is_some_and(|d| d.contains_key("etcd-ca.crt"));
    let files = upload_certs::open_secret(&secret, external, &key)?;
    let downloaded = discovery::certificates(&String::from_utf8_lossy(&files["ca.crt"]))?;
    if !discovery::same_set(&downloaded, &discovery::certificates(&found.ca_pem)?) {
        return Err(Error::Discovery {
            message: "kubeadm-certs holds another CA than the one discovery pinned".into(),
        });
    }
    if downloaded.len() > 1 {
        // The rotation's state (which CA signs, the old and new keys) lives on the first node
        // only (pki/rotation/), so a node joined now could not follow the later steps.
        return Err(Error::Blocked {
            what: "the cluster CA is being rotated (kubeadm-certs' ca.crt holds two CAs): a control-plane node joined now could not follow the rotation's later steps, whose state is on the first node; nothing was written".into(),
            next: "on the first control-plane node run `tenantctl pki rotate-ca finish` (or `abort`), then `tenantctl pki upload-certs` and `tenantctl bootstrap-setup`, and join again; workers may join during a rotation".into(),
        });
    }
    let cert_dir = cert_dir(args);
    // The downloaded CAs and keys go into the same journaled batch as this node's PKI: an
    // existing file of another cluster refuses the join before anything is written.
    let given: std::collections::BTreeMap<String, Vec<u8>> = upload_certs::entries(external)
        .iter()
        .filter(|(name, _)| !files[*name].is_empty())
        .map(|(name, rel)| ((*rel).to_owned(), files[*name].to_vec()))
        .collect();
    progress!(
        out,
        "[download-certs] {} files from secret/kubeadm-certs, for {}",
        given.len(),
        cert_dir.display()
    );
    // This node's own PKI and kubeconfigs; the CAs just written are reused.
    let mut pki = args.pki.clone();
    pki.cert_dir = Some(cert_dir);
    if pki.control_plane_endpoint.is_none() {
        pki.control_plane_endpoint = Some(
            format!("{}:{}", endpoint.host(), endpoint.port().unwrap_or(443))
                .parse::<pki_core::Endpoint>()?,
        );
    }
    crate::pki::init::run_with(
        &crate::cli::InitArgs {
            pki,
            dry_run: false,
            output: args.output,
        },
        &given,
        out,
    )
}

async fn fetch_certs(
    endpoint: &ServerUrl,
    ca_pem: &str,
    token: &str,
    retry: &Retry,
) -> Result<k8s_openapi::api::core::v1::Secret, Error> {
    let url: http::Uri = endpoint.as_str().parse().map_err(|e| Error::Discovery {
        message: format!("{} is not a URL: {e}", endpoint.as_str()),
    })?;
    let mut config = kube::Config::new(url);
    // The whole pinned bundle: mid-rotation the server may present either CA's certificate.
    config.root_cert = Some(
        discovery::certificates(ca_pem)?
            .iter()
            .map(|c| c.der().to_vec())
            .collect(),
    );
    config.auth_info.token = Some(secrecy::SecretString::from(token.to_owned()));
    let client = cluster::connect(&config)?;
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client, "kube-system");
    let what = "get secret/kubeadm-certs in kube-system";
    match retry.run(what, || api.get_opt(upload_certs::SECRET)).await? {
        Some(s) => Ok(s),
        None => Err(Error::Discovery {
            message: "secret/kubeadm-certs is not in kube-system: it is removed 2 hours after upload; run `tenantctl pki upload-certs` (or `kubeadm init phase upload-certs --upload-certs`) again".into(),
        }),
    }
}
