//! `tenantctl webhook`: an authorization webhook that makes `revoke` deny a revoked client
//! certificate, which Kubernetes itself cannot do (kubernetes#18982).
//!
//! The API server (v1.32+) names each X.509 client by `X509SHA256=<hex>` in the review's extra;
//! the ledger records that SHA-256 for every certificate handed out. The webhook answers from
//! an in-memory index of revoked ones ([`index`]) kept current by a watch on the ledger
//! ([`follow`]), deciding each review purely ([`review`]) over rustls ([`server`]). It only
//! denies or has no opinion. [`setup`] writes what the API server needs; [`status`] tells
//! whether its configuration names the webhook. The same server runs inside
//! `tenantctl controller run --webhook-config-dir`.

pub mod follow;
pub mod index;
pub mod metrics;
pub mod review;
pub mod server;
pub mod setup;
pub mod status;

use std::{net::SocketAddr, path::Path, sync::Arc};

use kube::Client;
use tokio::net::TcpListener;

use self::server::State;
use crate::{
    cli::WebhookServeArgs,
    cluster,
    error::Error,
    output::{Output, progress},
};

/// Runs `webhook serve` until SIGINT/SIGTERM.
pub fn serve(args: &WebhookServeArgs, out: &mut Output<'_>) -> Result<(), Error> {
    cluster::block_on(async {
        let (cluster, resolved) = args.cluster.open().await?;
        progress!(out, "Following the ledger through {}", resolved.source);
        let addr = start(
            &args.config_dir,
            args.listen.as_deref(),
            cluster.client().clone(),
            cluster.record_namespace(),
        )
        .await?;
        progress!(out, "serving https://{addr}/authorize");
        crate::controller::shutdown().await;
        progress!(out, "stopped");
        Ok(())
    })
}

/// Starts the webhook in the background: binds `listen` (default: the address in
/// `config_dir/webhook.kubeconfig`), follows the ledger in `record_ns`. Returns the address.
pub async fn start(
    config_dir: &Path,
    listen: Option<&str>,
    client: Client,
    record_ns: &str,
) -> Result<SocketAddr, Error> {
    let tls = server::tls_config(config_dir)?;
    let address = match listen {
        Some(a) => a.to_owned(),
        None => address_of(config_dir)?,
    };
    let addr: SocketAddr = address.parse().map_err(|e| Error::Usage {
        flag: "--listen",
        message: format!("{address:?} is not IP:PORT ({e}); pass --listen 0.0.0.0:PORT"),
    })?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::Listen { addr, source })?;
    let state = Arc::new(State::default());
    tokio::spawn(follow::follow(client, record_ns.to_owned(), state.clone()));
    tokio::spawn(server::serve(listener, tls, state));
    Ok(bound)
}

/// The `HOST:PORT` of the webhook URL in `config_dir/webhook.kubeconfig`.
fn address_of(config_dir: &Path) -> Result<String, Error> {
    let path = config_dir.join("webhook.kubeconfig");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .map(|s| s.trim().trim_matches('"').trim_matches('\''))
        .and_then(|s| s.strip_prefix("https://"))
        .and_then(|s| s.split('/').next())
        .map(str::to_owned)
        .ok_or_else(|| Error::Usage {
            flag: "--config-dir",
            message: format!("{} names no https:// server", path.display()),
        })
}
