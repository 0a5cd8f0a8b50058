//! `tenantctl webhook setup`: what the API server needs to consult the webhook — a structured
//! authorization configuration that puts it first, limited to tenant certificates; the
//! kubeconfig the API server reaches and authenticates to it with; the webhook's serving
//! certificate and the API server's client certificate, both from the cluster CA.
//!
//! The configuration is `apiserver.config.k8s.io/v1` `AuthorizationConfiguration` (GA in
//! v1.32: `staging/src/k8s.io/apiserver/pkg/apis/apiserver/v1/types.go`), read by the API
//! server's `--authorization-config` flag, which replaces `--authorization-mode`.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::SystemTime,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use pki_core::{CertSpec, KeyAlgorithm, PrivateKey, San, Usage, Validity};
use serde::Serialize;
use serde_json::json;

use super::server::CLIENT_CN;
use crate::{
    cli::{FailurePolicy, WebhookSetupArgs},
    error::Error,
    fs::{self, Pending},
    output::{Output, progress, yaml},
    pki::rotation,
};

/// The authorizer's name in the configuration (also how `webhook status` finds it).
pub const AUTHORIZER_NAME: &str = "tenantctl-revocation";
/// The CN of the webhook's serving certificate.
pub const SERVING_CN: &str = "tenantctl-webhook";

/// The CEL conditions a request must meet to be sent to the webhook: an X.509 client
/// certificate's credential id (v1.32+), a user that is not Kubernetes' own, and none of the
/// groups the control plane's administrators and nodes use. Everything else never waits on it.
pub fn match_conditions(credential_id: bool) -> Vec<String> {
    let mut conditions = Vec::new();
    if credential_id {
        conditions.push(
            "'authentication.kubernetes.io/credential-id' in request.extra && request.extra['authentication.kubernetes.io/credential-id'].exists(id, id.startsWith('X509SHA256='))".to_owned(),
        );
    }
    conditions.push("!request.user.startsWith('system:')".to_owned());
    conditions.push(
        "!request.groups.exists(g, g in ['system:masters', 'system:nodes', 'kubeadm:cluster-admins'])"
            .to_owned(),
    );
    conditions
}

/// What `setup` wrote, for `-o json|yaml`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Written {
    authorization_config: PathBuf,
    webhook_kubeconfig: PathBuf,
    serving_certificate: PathBuf,
    url: String,
    failure_policy: &'static str,
    credential_id: bool,
}

/// Runs `webhook setup`.
pub fn run(args: &WebhookSetupArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let now = SystemTime::now();
    let ca = rotation::tenant_ca(&args.cert_dir, now)?;
    let bundle =
        std::fs::read_to_string(args.cert_dir.join("ca.crt")).map_err(|source| Error::Read {
            path: args.cert_dir.join("ca.crt"),
            source,
        })?;
    let (host, _port) = split_address(&args.address)?;
    let validity = Validity::kubeadm(now, args.validity);

    let serving_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
    let san = match host.parse::<IpAddr>() {
        Ok(ip) => San::Ip(ip),
        Err(_) => San::Dns(host.to_owned()),
    };
    let serving = ca.issue(
        &CertSpec {
            common_name: SERVING_CN.into(),
            organizations: Vec::new(),
            usage: Usage::Server,
            sans: vec![san],
            validity,
        },
        &serving_key.public_key_der()?,
    )?;
    let client_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256)?;
    let client = ca.issue(
        &CertSpec {
            common_name: CLIENT_CN.into(),
            organizations: Vec::new(),
            usage: Usage::Client,
            sans: Vec::new(),
            validity,
        },
        &client_key.public_key_der()?,
    )?;

    let url = format!("https://{}/authorize", args.address);
    let kubeconfig_for_apiserver = args
        .kubeconfig_path
        .clone()
        .unwrap_or_else(|| absolute(&args.out_dir.join("webhook.kubeconfig")));
    let kubeconfig = yaml(&json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tenantctl-webhook", "cluster": {
            "server": url,
            "certificate-authority-data": STANDARD.encode(bundle.as_bytes()),
        }}],
        "users": [{"name": CLIENT_CN, "user": {
            "client-certificate-data": STANDARD.encode(client.to_pem().as_bytes()),
            "client-key-data": STANDARD.encode(client_key.secret_pem()?.as_bytes()),
        }}],
        "contexts": [{"name": "webhook", "context": {"cluster": "tenantctl-webhook", "user": CLIENT_CN}}],
        "current-context": "webhook",
    }))?;
    let policy = match args.failure_policy {
        FailurePolicy::Deny => "Deny",
        FailurePolicy::NoOpinion => "NoOpinion",
    };
    let config = yaml(&json!({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthorizationConfiguration",
        "authorizers": [
            {"type": "Webhook", "name": AUTHORIZER_NAME, "webhook": {
                "timeout": "3s",
                "subjectAccessReviewVersion": "v1",
                "matchConditionSubjectAccessReviewVersion": "v1",
                "failurePolicy": policy,
                // The webhook never allows; what it says is cached this long by the API server,
                // so a revocation takes effect within about a second plus the watch.
                "authorizedTTL": "1s",
                "unauthorizedTTL": "1s",
                "connectionInfo": {"type": "KubeConfigFile", "kubeConfigFile": kubeconfig_for_apiserver},
                "matchConditions": match_conditions(!args.without_credential_id)
                    .into_iter()
                    .map(|e| json!({"expression": e}))
                    .collect::<Vec<_>>(),
            }},
            {"type": "Node", "name": "node"},
            {"type": "RBAC", "name": "rbac"},
        ],
    }))?;
    let header = format!(
        "# tenantctl webhook setup --address {}: pass to kube-apiserver as\n#   --authorization-config={}\n# (instead of --authorization-mode). The webhook runs with\n#   tenantctl webhook serve --config-dir {}\n",
        args.address,
        args.authorization_config_path.as_ref().map_or_else(
            || absolute(&args.out_dir.join("authorization-config.yaml"))
                .display()
                .to_string(),
            |p| p.display().to_string()
        ),
        args.out_dir.display()
    );
    let config = format!("{header}{config}");

    fs::create_private_dir(&args.out_dir)?;
    let serving_pem = serving.to_pem();
    let serving_key_pem = serving_key.secret_pem()?;
    let files = [
        ("ca.crt", bundle.as_bytes(), false),
        ("serving.crt", serving_pem.as_bytes(), false),
        ("serving.key", serving_key_pem.as_bytes(), true),
        ("webhook.kubeconfig", kubeconfig.as_bytes(), true),
        ("authorization-config.yaml", config.as_bytes(), false),
    ];
    let pending: Vec<Pending<'_>> = files
        .iter()
        .map(|(name, contents, secret)| Pending {
            path: args.out_dir.join(name),
            contents,
            secret: *secret,
            replace: args.force,
        })
        .collect();
    let written = fs::write_batch(&args.out_dir, &pending)?;
    for path in &written {
        progress!(out, "wrote {}", path.display());
    }
    if args.without_credential_id {
        out.note(format_args!(
            "without a credential id (API servers before v1.32) the webhook can deny a whole revoked tenant by user name, not one credential of a tenant that is still active: `revoke --credential` is then not enforced"
        ));
    } else {
        out.note(format_args!(
            "the API server must be v1.32 or newer (it puts the X.509 credential id in the review); for v1.30-v1.31 use --without-credential-id"
        ));
    }
    let result = Written {
        authorization_config: args.out_dir.join("authorization-config.yaml"),
        webhook_kubeconfig: args.out_dir.join("webhook.kubeconfig"),
        serving_certificate: args.out_dir.join("serving.crt"),
        url,
        failure_policy: policy,
        credential_id: !args.without_credential_id,
    };
    out.document(args.output, &result, |out, r| {
        out.line(format_args!(
            "webhook {} (failurePolicy {}); API server flag: --authorization-config={}",
            r.url,
            r.failure_policy,
            r.authorization_config.display()
        ))
    })?;
    Ok(())
}

/// `HOST:PORT` (`[V6]:PORT`) into its host and port.
fn split_address(address: &str) -> Result<(&str, u16), Error> {
    let bad = |why: &str| Error::Usage {
        flag: "--address",
        message: format!("{address:?}: {why} (HOST:PORT, e.g. 127.0.0.1:9443)"),
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = port.parse::<u16>().map_err(|_| bad("not a port"))?;
    Ok((host, port))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            split_address("127.0.0.1:9443").unwrap(),
            ("127.0.0.1", 9443)
        );
        assert_eq!(split_address("[fd00::1]:9443").unwrap(), ("fd00::1", 9443));
        assert!(split_address("webhook").is_err());
        assert!(split_address(":9443").is_err());
    }

    #[test]
    fn conditions_keep_the_control_plane_out() {
        let c = match_conditions(true).join(" && ");
        for needle in [
            "X509SHA256=",
            "system:",
            "system:masters",
            "kubeadm:cluster-admins",
        ] {
            assert!(c.contains(needle), "{needle}");
        }
        assert!(!match_conditions(false).join(" ").contains("credential-id"));
    }
}
