//! `tenantctl controller`: Tenant objects (`tenants.tenantctl.io/v1`) reconciled continuously
//! with kube's runtime `Controller`. The decisions are `apply`'s ([`crate::tenant`]'s plan and
//! steps, one tenant at a time); this domain adds the loop ([`reconcile`]), the status
//! ([`status`]), leader election ([`leader`]), metrics and probes ([`metrics`], [`serve`]) and
//! the manifests to install it ([`manifests`]).

pub mod leader;
pub mod manifests;
pub mod metrics;
pub mod reconcile;
pub mod serve;
pub mod status;

use std::{net::SocketAddr, sync::Arc, sync::atomic::Ordering, time::SystemTime};

use futures::StreamExt as _;
use k8s_openapi::api::{
    core::v1::Secret,
    rbac::v1::{ClusterRoleBinding, RoleBinding},
};
use kube::{
    Api, Resource,
    api::ListParams,
    runtime::{
        Controller,
        controller::Config as ControllerConfig,
        events::{Recorder, Reporter},
        reflector::ObjectRef,
        watcher,
    },
};
use pki_core::{Certificate, CertificateAuthority};

use self::{
    leader::Leadership,
    metrics::Metrics,
    reconcile::{Context, error_policy, reconcile},
    serve::Health,
};
use crate::{
    cli::{ControllerRunArgs, ManifestsArgs},
    cluster::{self, Cluster, MANAGED_BY, Retry},
    error::Error,
    output::{Output, progress},
    pki::rotation,
    tenant::{CsrOptions, TenantObject, cluster_entry},
};

/// Runs `controller run` until SIGINT/SIGTERM, or until it loses the lease.
pub fn run(args: &ControllerRunArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Leader {
            message: format!("start the runtime: {e}"),
        })?;
    runtime.block_on(run_async(args, out))
}

/// `controller manifests`.
pub fn manifests(args: &ManifestsArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let text = manifests::render(args)?;
    out.line(format_args!("{}", text.trim_end()))
}

async fn run_async(args: &ControllerRunArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let resolved = args.cluster.access().resolve().await?;
    progress!(out, "Using the cluster from {}", resolved.source);
    let client = cluster::connect(&resolved.config)?;
    // No deadline: the controller runs until stopped; each call is bounded and retried.
    let retry = Retry::new(args.cluster.api.request_timeout, None);
    let cluster =
        Cluster::new(client.clone(), &args.cluster.record_namespace).with_retry(retry.clone());
    let tenants: Api<TenantObject> = Api::all(client.clone());
    let one = ListParams::default().limit(1);
    retry
        .run("list tenants.tenantctl.io", || tenants.list_metadata(&one))
        .await
        .map_err(|e| match e {
            Error::Api { status, .. } if status.code == 404 => Error::NoCrd,
            e => e,
        })?;
    let ca = load_ca(args, &cluster).await?;
    let bundle = args.cert_dir.as_deref().and_then(rotation::cluster_bundle);
    let entry = cluster_entry(Some(&resolved), args.server.as_ref(), bundle.as_deref())?;

    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    for (flag, value, what) in [
        (
            "--metrics-bind-address",
            &args.metrics_bind_address,
            "metrics",
        ),
        (
            "--health-probe-bind-address",
            &args.health_probe_bind_address,
            "probes",
        ),
    ] {
        if value == "0" {
            continue;
        }
        let addr: SocketAddr = value.parse().map_err(|e| Error::Usage {
            flag,
            message: format!("{value:?} is not HOST:PORT ({e})"),
        })?;
        let bound = serve::listen(addr, metrics.clone(), health.clone()).await?;
        progress!(out, "{what} on http://{bound}");
    }

    if let Some(dir) = &args.webhook_config_dir {
        let addr = crate::webhook::start(
            dir,
            args.webhook_listen.as_deref(),
            client.clone(),
            &args.cluster.record_namespace,
        )
        .await?;
        progress!(out, "revocation webhook on https://{addr}/authorize");
    }

    let mut leadership = if args.leader_elect {
        let mut l = Leadership::start(
            client.clone(),
            &args.namespace,
            &args.leader_elect_lease_name,
            args.leader_elect_lease_duration,
        )
        .await?;
        health.ready.store(true, Ordering::Relaxed);
        progress!(
            out,
            "waiting for lease/{} in {} (identity {})",
            args.leader_elect_lease_name,
            args.namespace,
            leader::identity()
        );
        l.acquired().await?;
        progress!(out, "holding lease/{}", args.leader_elect_lease_name);
        Some(l)
    } else {
        None
    };
    health.leader.store(true, Ordering::Relaxed);
    health.ready.store(true, Ordering::Relaxed);

    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "tenantctl".into(),
            instance: Some(leader::identity()),
        },
    );
    let ctx = Arc::new(Context {
        cluster,
        entry,
        ca,
        namespace: args.namespace.clone(),
        csr: CsrOptions::from_flags(args.csr_api),
        verify_timeout: args.verify_timeout,
        metrics,
        recorder,
    });
    let managed = watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
    let controller = Controller::new(tenants, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(args.concurrency))
        .watches(Api::<Secret>::all(client.clone()), managed.clone(), owners)
        .watches(
            Api::<RoleBinding>::all(client.clone()),
            managed.clone(),
            owners,
        )
        .watches(Api::<ClusterRoleBinding>::all(client), managed, owners)
        .graceful_shutdown_on(shutdown())
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                crate::output::message(&format!("controller: {e}"));
            }
        });
    progress!(out, "reconciling Tenant objects");
    match &mut leadership {
        None => controller.await,
        Some(l) => {
            tokio::select! {
                () = controller => {}
                () = l.lost() => {
                    return Err(Error::Leader {
                        message: format!(
                            "lost lease/{}; exiting so a restart competes again",
                            args.leader_elect_lease_name
                        ),
                    });
                }
            }
        }
    }
    progress!(out, "stopped");
    Ok(())
}

/// The Tenant objects that own an object (by name: Tenants are cluster-scoped, so a namespaced
/// Secret's or RoleBinding's owner reference must not carry its namespace over).
fn owners<K: Resource>(obj: K) -> Vec<ObjectRef<TenantObject>> {
    let api_version = TenantObject::api_version(&());
    let kind = TenantObject::kind(&());
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .filter(|o| o.api_version == api_version && o.kind == kind)
        .map(|o| ObjectRef::new(&o.name))
        .collect()
}

/// Resolves at SIGINT or SIGTERM.
pub(crate) async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The CA that signs `signer: local` tenants: `--cert-dir` (as `create`), or `--ca-secret` in
/// the controller's namespace (`tls.crt`, `tls.key`). Neither: only `signer: csr` and token
/// tenants can be made.
async fn load_ca(
    args: &ControllerRunArgs,
    cluster: &Cluster,
) -> Result<Option<Arc<CertificateAuthority>>, Error> {
    let now = SystemTime::now();
    if let Some(dir) = &args.cert_dir {
        return Ok(Some(Arc::new(rotation::tenant_ca(dir, now)?)));
    }
    let Some(name) = &args.ca_secret else {
        return Ok(None);
    };
    let secret: Secret = cluster
        .get_namespaced(&args.namespace, name)
        .await?
        .ok_or_else(|| Error::Usage {
            flag: "--ca-secret",
            message: format!("no secret/{name} in {}", args.namespace),
        })?;
    let field = |key: &str| -> Result<String, Error> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .ok_or_else(|| Error::Usage {
                flag: "--ca-secret",
                message: format!("secret/{name} has no {key}"),
            })?;
        String::from_utf8(bytes.0.clone()).map_err(|_| Error::Usage {
            flag: "--ca-secret",
            message: format!("secret/{name} {key} is not PEM"),
        })
    };
    let cert = field("tls.crt")?;
    let key = zeroize::Zeroizing::new(field("tls.key")?);
    let ca = CertificateAuthority::from_pem(&cert, key.as_str())?;
    ca.check_valid_at(now)?;
    // The first certificate is the signer; fail early when it does not parse on its own.
    Certificate::from_pem(&cert)?;
    Ok(Some(Arc::new(ca)))
}
