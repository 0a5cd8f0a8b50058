//! `tenantctl apply -f FILE|DIR|-`: make the cluster's tenants match a file.
//!
//! Read the file (`file.rs`: every document checked; any problem and nothing changes), read
//! the cluster once (every record, every tenantctl binding, namespaces, roles: a handful of
//! list requests, not one GET per tenant), plan one action per tenant (`plan.rs`, pure), then
//! work on up to `--concurrency` tenants at a time over kube's connection pool, minting keys on
//! the blocking thread pool while requests are in flight.
//!
//! Each tenant follows the ledger rule of `create`: its credential is in its record (Pending)
//! before anything can hand it out, its kubeconfig is written, then the record becomes Active.
//! A failure rolls back what that tenant's run created (its record version, its bindings; a
//! namespace is shared and kept) and does not stop the others.

mod file;
mod one;
mod owned;
mod plan;
mod report;
mod steps;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use futures::StreamExt as _;
use k8s_openapi::{
    api::{
        core::v1::{Namespace, Secret, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::api::ListParams;
use kubeconfig::{ClusterEntry, Kubeconfig};
use pki_core::CertificateAuthority;
use serde::Serialize;

pub use file::{API_VERSION, DEFAULT_TTL, Desired, ParseOptions, Problem, duplicates, parse};
pub use one::{Reconciled, reconcile_one, revoke_one};
use plan::{Action, Create, Observed, Update, plan};
pub use plan::{Options, Outcome};
use report::*;
use steps::*;

use super::{
    AuthKind, Binding, CredentialRecord, Phase, RoleKind, RoleRef, Tenant, TenantRecord,
    credentials::{self, CsrOptions, Minted},
    ledger::{self, Stored},
    names::{KUBECONFIG_KEY, SET_LABEL},
    objects,
    revoke::revoke_stored,
    rollback::{Step, Undo, delete_binding},
    spec::{TenantSpec, new_record},
    verify::{Probe, probes},
};
use crate::{
    cli::{ApplyArgs, Format, SignerKind},
    cluster::{self, Cluster, MANAGED_BY, Preconditions},
    error::Error,
    fs,
    output::{Output, progress, say},
    pki::rotation,
    time::humanize,
};

/// Where a tenant's kubeconfig goes.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// `OUT-DIR/USER.kubeconfig`, 0600; a file tenantctl did not write for the tenant is
    /// replaced only with `overwrite`.
    Files {
        /// The directory.
        out_dir: PathBuf,
        /// `--overwrite`.
        overwrite: bool,
    },
    /// A Secret (key `kubeconfig`), labelled as tenantctl's, owned by `owner` (the Tenant
    /// object); a Secret of that name that is not tenantctl's is never replaced.
    Secret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

/// How `apply` runs (its flags, without the cluster access).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where kubeconfigs go.
    pub delivery: Delivery,
    /// Tenants in flight.
    pub concurrency: usize,
    /// Plan options.
    pub options: Options,
    /// Print the plan only.
    pub dry_run: bool,
    /// The cluster PKI, for signer local.
    pub cert_dir: PathBuf,
    /// The CSR API, for signer csr.
    pub csr: CsrOptions,
    /// `-o`.
    pub format: Format,
    /// `--verify-timeout`.
    pub verify_timeout: Duration,
    /// The object that owns what is made (the controller's Tenant): set as the owner of the
    /// bindings and the Secret, so a change to them wakes the controller.
    pub owner: Option<OwnerReference>,
}

impl Settings {
    /// From the flags.
    pub fn from_args(args: &ApplyArgs) -> Self {
        Self {
            delivery: Delivery::Files {
                out_dir: args.out_dir.clone(),
                overwrite: args.overwrite,
            },
            concurrency: usize::from(args.concurrency),
            options: Options {
                set: args.set.as_ref().map(|s| s.as_str().to_owned()),
                prune: args.prune,
                recreate: args.recreate,
                renew_within: args.renew_within,
                renew_now: false,
                owner: None,
                allow_privileged: args.allow_privileged,
                now: SystemTime::now(),
            },
            dry_run: args.dry_run,
            cert_dir: args.cert_dir.clone(),
            csr: CsrOptions::from_flags(args.csr_api),
            format: args.output,
            verify_timeout: args.verify_timeout,
            owner: None,
        }
    }
}

/// Runs `apply`.
pub fn run(args: &ApplyArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let desired = load(
        &args.files,
        ParseOptions {
            allow_privileged: args.allow_privileged,
        },
    )?;
    let settings = Settings::from_args(args);
    cluster::block_on(async {
        let (cluster, resolved) = args.cluster.open().await?;
        progress!(out, "Using the cluster from {}", resolved.source);
        let entry = credentials::cluster_entry(
            Some(&resolved),
            args.server.as_ref(),
            rotation::cluster_bundle(&args.cert_dir).as_deref(),
        )?;
        apply_online(&cluster, &entry, desired, &settings, out).await
    })
}

/// Reads every file (a directory: its `*.yaml`, `*.yml` and `*.json`, sorted; `-`: standard
/// input) and checks every document. Any problem, in any file, is an error naming them all.
pub fn load(paths: &[PathBuf], options: ParseOptions) -> Result<Vec<Desired>, Error> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text).map_err(
                |source| Error::Read {
                    path: path.clone(),
                    source,
                },
            )?;
            files.push(("-".to_owned(), text));
        } else if path.is_dir() {
            let read_dir = |source| Error::Read {
                path: path.clone(),
                source,
            };
            let mut names: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_dir)?
                .map(|e| e.map(|e| e.path()).map_err(read_dir))
                .collect::<Result<Vec<_>, _>>()?;
            names.retain(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            });
            names.sort();
            for p in names {
                files.push((p.display().to_string(), read(&p)?));
            }
        } else {
            files.push((path.display().to_string(), read(path)?));
        }
    }
    let mut tenants = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in &files {
        match parse(name, text, options) {
            Ok(t) => tenants.extend(t),
            Err(p) => problems.extend(p.iter().map(ToString::to_string)),
        }
    }
    problems.extend(duplicates(&tenants));
    if problems.is_empty() && tenants.is_empty() {
        problems.push(format!(
            "no Tenant documents in {}: nothing to apply (an empty input never prunes)",
            files
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(tenants)
    } else {
        Err(Error::TenantFile { problems })
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// The online flow on any client (kube's mock service in tests): observe, plan, act, report.
pub async fn apply_online(
    cluster: &Cluster,
    entry: &ClusterEntry,
    desired: Vec<Desired>,
    settings: &Settings,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let started = Instant::now();
    let observed = observe(cluster, &desired).await?;
    let actions = plan(desired, &observed, &settings.options);
    progress!(
        out,
        "read {} record(s), {} binding(s), {} namespace(s) in {}",
        observed.records.len(),
        observed.bindings.len(),
        observed.namespaces.len(),
        humanize(started.elapsed())
    );
    if settings.dry_run {
        let reports: Vec<Report> = actions.iter().map(Report::planned).collect();
        return print(&reports, settings, out);
    }
    let mints_locally = actions.iter().any(needs_local_ca);
    let ca = if mints_locally {
        Some(Arc::new(rotation::tenant_ca(
            &settings.cert_dir,
            settings.options.now,
        )?))
    } else {
        None
    };
    if actions.iter().any(hands_out) {
        ledger::ensure_namespace(cluster).await?;
        if let Delivery::Files { out_dir, .. } = &settings.delivery {
            fs::create_private_dir(out_dir)?;
        }
    }
    // New namespaces once each, before the tenants in them (many tenants may share one).
    let mut namespaces = std::collections::BTreeMap::new();
    for a in &actions {
        let (spec, create) = match a {
            Action::Create(c) | Action::Recreate { create: c, .. } => {
                (&c.desired.spec, c.create_namespace)
            }
            Action::Update(u) => (&u.desired.spec, u.create_namespace),
            _ => continue,
        };
        if let (true, Some(ns)) = (create, spec.bindings.objects(&spec.tenant).namespace) {
            namespaces.insert(ns.metadata.name.clone().unwrap_or_default(), ns);
        }
    }
    for (name, ns) in &namespaces {
        cluster.apply_cluster(ns).await?;
        progress!(out, "namespace/{name} created");
    }
    let ctx = Ctx {
        cluster,
        entry,
        ca,
        settings,
    };
    let total = actions.len();
    let bar = out.bar(total as u64, "apply");
    let mut counts = Counts::default();
    let mut reports: Vec<(usize, Report)> = Vec::with_capacity(total);
    let ctx = &ctx;
    let mut stream = futures::stream::iter(actions.into_iter().enumerate())
        .map(|(i, action)| async move { (i, ctx.run(action).await) })
        .buffer_unordered(settings.concurrency.max(1));
    while let Some((i, report)) = stream.next().await {
        counts.add(report.action);
        bar.suspend(|| {
            for w in &report.warnings {
                out.warning(format_args!("tenant {}: {w}", report.user));
            }
            if report.action == Outcome::Failed {
                out.warning(format_args!(
                    "tenant {} failed: {}",
                    report.user, report.detail
                ));
            }
        });
        bar.step(|| counts.to_string());
        reports.push((i, report));
    }
    bar.finish();
    reports.sort_by_key(|(i, _)| *i);
    let reports: Vec<Report> = reports.into_iter().map(|(_, r)| r).collect();
    progress!(
        out,
        "{} tenant(s) in {}: {counts}",
        total,
        humanize(started.elapsed())
    );
    print(&reports, settings, out)?;
    if counts.failed > 0 {
        return Err(Error::ApplyFailed {
            failed: counts.failed,
            total,
        });
    }
    Ok(())
}

/// Everything the plan is made from, in one list request per kind, concurrently.
async fn observe(cluster: &Cluster, desired: &[Desired]) -> Result<Observed, Error> {
    let managed = ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
    let all = ListParams::default();
    let any_role = desired.iter().any(|d| {
        d.spec
            .bindings
            .roles
            .iter()
            .any(|r| r.kind == RoleKind::Role)
    });
    let any_token = desired
        .iter()
        .any(|d| d.spec.tenant.auth() == AuthKind::Token);
    let (records, crbs, rbs, namespaces, cluster_roles, roles, service_accounts) = tokio::try_join!(
        ledger::stored_records(cluster),
        cluster.list_all::<ClusterRoleBinding>(&managed),
        cluster.list_all::<RoleBinding>(&managed),
        cluster.list_all::<Namespace>(&all),
        cluster.list_all::<ClusterRole>(&all),
        async {
            if any_role {
                cluster.list_all::<Role>(&all).await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if any_token {
                cluster.list_all::<ServiceAccount>(&managed).await
            } else {
                Ok(Vec::new())
            }
        },
    )?;
    let name = |m: &ObjectMeta| m.name.clone().unwrap_or_default();
    let ns = |m: &ObjectMeta| m.namespace.clone().unwrap_or_default();
    Ok(Observed {
        records,
        bindings: crbs
            .into_iter()
            .map(Binding::Cluster)
            .chain(rbs.into_iter().map(Binding::Namespaced))
            .collect(),
        namespaces: namespaces.iter().map(|n| name(&n.metadata)).collect(),
        cluster_roles: cluster_roles
            .into_iter()
            .map(|r| (name(&r.metadata), r.rules.unwrap_or_default()))
            .collect(),
        roles: roles
            .into_iter()
            .map(|r| {
                (
                    (ns(&r.metadata), name(&r.metadata)),
                    r.rules.unwrap_or_default(),
                )
            })
            .collect(),
        service_accounts: service_accounts
            .iter()
            .map(|s| (ns(&s.metadata), name(&s.metadata)))
            .collect(),
    })
}

fn needs_local_ca(action: &Action) -> bool {
    let local_cert = |spec: &TenantSpec| {
        spec.tenant.auth() == AuthKind::Cert && spec.signer == SignerKind::Local
    };
    match action {
        Action::Create(c) | Action::Recreate { create: c, .. } => local_cert(&c.desired.spec),
        Action::Update(u) => u.renew && local_cert(&u.desired.spec),
        _ => false,
    }
}

fn hands_out(action: &Action) -> bool {
    matches!(action, Action::Create(_) | Action::Recreate { .. })
        || matches!(action, Action::Update(u) if u.renew)
}
