//! `tenantctl webhook status`: does the API server's authorization configuration name the
//! webhook? Follows the static pod manifest's `--authorization-config` flag (kubeadm's
//! `/etc/kubernetes/manifests/kube-apiserver.yaml`) to the file, and reports where the webhook
//! stands among the authorizers.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::setup::AUTHORIZER_NAME;
use crate::{
    cli::WebhookStatusArgs,
    error::Error,
    output::{Output, say},
};

/// What was found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The authorization configuration read.
    pub authorization_config: Option<PathBuf>,
    /// The webhook is one of its authorizers.
    pub configured: bool,
    /// Its place (0: first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// Every authorizer, in order (`Webhook/NAME`, `Node/node`, `RBAC/rbac`).
    pub authorizers: Vec<String>,
    /// The webhook's failure policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<String>,
    /// Why it is not configured, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Runs `webhook status`.
pub fn run(args: &WebhookStatusArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let status = match &args.authorization_config {
        Some(file) => of_config(file)?,
        None => of_manifest(&args.manifest)?,
    };
    out.document(args.output, &status, |out, s| {
        if s.configured {
            say!(
                out,
                "the API server consults {AUTHORIZER_NAME} (authorizer {} of {}: {}; failurePolicy {})",
                s.position.unwrap_or_default() + 1,
                s.authorizers.len(),
                s.authorizers.join(", "),
                s.failure_policy.as_deref().unwrap_or("Deny")
            );
        } else {
            say!(
                out,
                "the API server does not consult the revocation webhook: {}",
                s.problem.as_deref().unwrap_or("not named")
            );
        }
        Ok(())
    })?;
    if status.configured {
        Ok(())
    } else {
        Err(Error::WebhookNotConfigured)
    }
}

/// From the kube-apiserver static pod manifest.
pub fn of_manifest(manifest: &Path) -> Result<Status, Error> {
    let text = read(manifest)?;
    let pod: Value = serde_saphyr::from_str(&text).map_err(|e| Error::Manifest {
        message: format!("{}: {e}", manifest.display()),
    })?;
    let flags: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            ["command", "args"]
                .into_iter()
                .flat_map(move |k| c[k].as_array().cloned().unwrap_or_default())
        })
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let config = flags
        .iter()
        .find_map(|f| f.strip_prefix("--authorization-config="));
    match config {
        Some(path) => of_config(Path::new(path)),
        None => Ok(Status {
            authorization_config: None,
            configured: false,
            position: None,
            authorizers: flags
                .iter()
                .find_map(|f| f.strip_prefix("--authorization-mode="))
                .map(|m| m.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            failure_policy: None,
            problem: Some(format!(
                "{} has no --authorization-config flag (it uses --authorization-mode)",
                manifest.display()
            )),
        }),
    }
}

/// From the authorization configuration file.
pub fn of_config(file: &Path) -> Result<Status, Error> {
    let text = read(file)?;
    let config: Value = serde_saphyr::from_str(&text).map_err(|e| Error::Manifest {
        message: format!("{}: {e}", file.display()),
    })?;
    let authorizers: Vec<&Value> = config["authorizers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let names: Vec<String> = authorizers
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a["type"].as_str().unwrap_or("?"),
                a["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let position = authorizers
        .iter()
        .position(|a| a["type"] == "Webhook" && a["name"] == AUTHORIZER_NAME);
    let problem = match position {
        None => Some(format!(
            "{} names no Webhook {AUTHORIZER_NAME}",
            file.display()
        )),
        Some(0) => None,
        Some(_) => Some(format!(
            "{AUTHORIZER_NAME} is not first: an authorizer before it may allow a revoked certificate"
        )),
    };
    Ok(Status {
        authorization_config: Some(file.to_owned()),
        configured: position == Some(0),
        position,
        failure_policy: position.and_then(|i| {
            authorizers[i]["webhook"]["failurePolicy"]
                .as_str()
                .map(str::to_owned)
        }),
        authorizers: names,
        problem,
    })
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}
