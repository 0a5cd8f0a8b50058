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
mod owned;
mod plan;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use futures::StreamExt as _;
use k8s_openapi::api::{
    core::v1::{Namespace, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding},
};
use kube::api::ListParams;
use kubeconfig::{ClusterEntry, Kubeconfig};
use pki_core::CertificateAuthority;
use serde::Serialize;

pub use file::{API_VERSION, DEFAULT_TTL, Desired, ParseOptions, Problem, duplicates, parse};
use plan::{Action, Create, Observed, Update, plan};
pub use plan::{Options, Outcome};

use super::{
    AuthKind, Binding, CredentialRecord, Phase, RoleKind, RoleRef, Tenant, TenantRecord,
    credentials::{self, CsrOptions, Minted},
    ledger::{self, Stored},
    lifecycle::revoke_stored,
    names::SET_LABEL,
    rollback::{Step, Undo, delete_binding},
    spec::{TenantSpec, new_record},
    verify::{grants_nothing, sample},
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

/// How `apply` runs (its flags, without the cluster access).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where kubeconfigs go.
    pub out_dir: PathBuf,
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
    /// `--overwrite`: replace kubeconfig files tenantctl did not write for the tenant.
    pub overwrite: bool,
}

impl Settings {
    /// From the flags.
    pub fn from_args(args: &ApplyArgs) -> Self {
        Self {
            out_dir: args.out_dir.clone(),
            concurrency: usize::from(args.concurrency),
            options: Options {
                set: args.set.as_ref().map(|s| s.as_str().to_owned()),
                prune: args.prune,
                recreate: args.recreate,
                renew_within: args.renew_within,
                allow_privileged: args.allow_privileged,
                now: SystemTime::now(),
            },
            dry_run: args.dry_run,
            cert_dir: args.cert_dir.clone(),
            csr: CsrOptions::from_flags(args.csr_api),
            format: args.output,
            verify_timeout: args.verify_timeout,
            overwrite: args.overwrite,
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
        fs::create_private_dir(&settings.out_dir)?;
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
    let name = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.name.clone().unwrap_or_default()
    };
    let ns = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.namespace.clone().unwrap_or_default()
    };
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

/// How the tenants came out.
#[derive(Default, Clone, Copy, Serialize)]
struct Counts {
    created: usize,
    updated: usize,
    renewed: usize,
    unchanged: usize,
    revoked: usize,
    failed: usize,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        *match outcome {
            Outcome::Created => &mut self.created,
            Outcome::Updated => &mut self.updated,
            Outcome::Renewed => &mut self.renewed,
            Outcome::Unchanged => &mut self.unchanged,
            Outcome::Revoked => &mut self.revoked,
            Outcome::Failed => &mut self.failed,
        } += 1;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} renewed, {} unchanged, {} revoked, {} failed",
            self.created, self.updated, self.renewed, self.unchanged, self.revoked, self.failed
        )
    }
}

/// One tenant's line of the result.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// The user.
    user: String,
    /// What happened (or, in a dry run, would).
    action: Outcome,
    /// What changed, or why it failed.
    detail: String,
    /// The kubeconfig written for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    kubeconfig: Option<PathBuf>,
    /// Warnings (also on stderr as they happen).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

impl Report {
    fn planned(action: &Action) -> Self {
        Self {
            user: action.user().to_owned(),
            action: action.outcome(),
            detail: action.describe(),
            kubeconfig: None,
            warnings: Vec::new(),
        }
    }
}

/// What `-o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplyResult<'a> {
    api_version: &'static str,
    kind: &'static str,
    dry_run: bool,
    summary: Counts,
    tenants: &'a [Report],
}

fn print(reports: &[Report], settings: &Settings, out: &mut Output<'_>) -> Result<(), Error> {
    let mut summary = Counts::default();
    for r in reports {
        summary.add(r.action);
    }
    let result = ApplyResult {
        api_version: API_VERSION,
        kind: if settings.dry_run {
            "ApplyPlan"
        } else {
            "ApplyResult"
        },
        dry_run: settings.dry_run,
        summary,
        tenants: reports,
    };
    out.document(settings.format, &result, |out, r| {
        let mut rows = vec![[
            "USER".to_owned(),
            if r.dry_run { "PLAN" } else { "RESULT" }.to_owned(),
            "DETAIL".to_owned(),
        ]];
        rows.extend(r.tenants.iter().map(|t| {
            [
                t.user.clone(),
                t.action.to_string(),
                match &t.kubeconfig {
                    Some(k) => format!("{} -> {}", t.detail, k.display()),
                    None => t.detail.clone(),
                },
            ]
        }));
        out.table(&rows)?;
        say!(
            out,
            "{}{}",
            if r.dry_run {
                "dry run, nothing changed: "
            } else {
                ""
            },
            r.summary
        );
        Ok(())
    })
}

/// What the per-tenant steps share.
struct Ctx<'a> {
    cluster: &'a Cluster,
    entry: &'a ClusterEntry,
    ca: Option<Arc<CertificateAuthority>>,
    settings: &'a Settings,
}

/// What a successful step leaves.
#[derive(Default)]
struct Done {
    kubeconfig: Option<PathBuf>,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    async fn run(&self, action: Action) -> Report {
        let user = action.user().to_owned();
        let outcome = action.outcome();
        let detail = action.describe();
        let result = match action {
            Action::Create(c) => self.create(*c).await,
            Action::Recreate { stored, create } => match self.revoke(*stored).await {
                Ok((revoked, _)) => {
                    self.create(Create {
                        previous: Some(revoked),
                        ..*create
                    })
                    .await
                }
                Err(e) => Err(e),
            },
            Action::Update(u) => self.update(*u).await,
            Action::Unchanged { .. } => Ok(Done::default()),
            Action::Revoke { stored } => self.revoke(*stored).await.map(|(_, done)| done),
            Action::Refuse { reason, .. } => Err(reason),
        };
        match result {
            Ok(done) => Report {
                user,
                action: outcome,
                detail,
                kubeconfig: done.kubeconfig,
                warnings: done.warnings,
            },
            Err(why) => Report {
                user,
                action: Outcome::Failed,
                detail: why,
                kubeconfig: None,
                warnings: Vec::new(),
            },
        }
    }

    fn now(&self) -> SystemTime {
        self.settings.options.now
    }

    fn kubeconfig_path(&self, tenant: &Tenant) -> PathBuf {
        self.settings.out_dir.join(tenant.file_name("kubeconfig"))
    }

    /// `b` with the label of `--set`, if any.
    fn in_set(&self, b: &Binding) -> Binding {
        let mut b = b.clone();
        if let Some(set) = &self.settings.options.set {
            let meta = match &mut b {
                Binding::Cluster(crb) => &mut crb.metadata,
                Binding::Namespaced(rb) => &mut rb.metadata,
            };
            meta.labels
                .get_or_insert_default()
                .insert(SET_LABEL.to_owned(), set.clone());
        }
        b
    }

    /// The tenant's kubeconfig path may be written: absent, holding one of the tenant's own
    /// credentials, or `--overwrite`.
    fn may_write(&self, spec: &TenantSpec, record: Option<&TenantRecord>) -> Result<(), Error> {
        if self.settings.overwrite {
            return Ok(());
        }
        let tenant = &spec.tenant;
        owned::check(
            &self.kubeconfig_path(tenant),
            tenant,
            spec.bindings.namespace.as_deref(),
            record,
        )
    }

    /// A key and certificate: the local CA's on the blocking pool (keygen is CPU work), or the
    /// CSR API's.
    async fn mint(&self, spec: &TenantSpec) -> Result<Minted, Error> {
        match spec.signer {
            SignerKind::Local => {
                let ca = self.ca.clone().ok_or_else(|| Error::Usage {
                    flag: "--cert-dir",
                    message: "no local CA loaded".into(),
                })?;
                let tenant = spec.tenant.clone();
                let (algorithm, ttl, now) = (spec.key_algorithm, spec.ttl, self.now());
                tokio::task::spawn_blocking(move || {
                    credentials::mint_local(&ca, &tenant, algorithm, ttl, now)
                })
                .await
                .map_err(|e| Error::Record {
                    user: spec.tenant.user().to_owned(),
                    message: format!("minting the key stopped: {e}"),
                })?
            }
            SignerKind::Csr => {
                let options = self.settings.csr;
                let mut m = credentials::mint_csr(
                    self.cluster,
                    &spec.tenant,
                    spec.key_algorithm,
                    spec.ttl,
                    options,
                    self.now(),
                )
                .await?;
                m.record.approve = options.approve;
                Ok(m)
            }
        }
    }

    /// Writes a kubeconfig (0600, atomic, replacing an older one) on the blocking pool.
    async fn write(&self, tenant: &Tenant, kubeconfig: &Kubeconfig) -> Result<PathBuf, Error> {
        let path = self.kubeconfig_path(tenant);
        let yaml = kubeconfig.to_yaml()?;
        let target = path.clone();
        tokio::task::spawn_blocking(move || fs::write_secret(&target, yaml.as_bytes(), true))
            .await
            .map_err(|e| Error::Write {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })??;
        Ok(path)
    }

    async fn create(&self, c: Create) -> Result<Done, String> {
        let tenant = c.desired.spec.tenant.clone();
        let mut undo = Undo::default();
        match self.create_steps(&c, &mut undo).await {
            Ok(done) => Ok(done),
            Err(Handed::Before(e)) => Err(chain(&undo.run(self.cluster, e).await)),
            Err(Handed::After(e)) => Err(format!(
                "{} was written and its credential is recorded, but the record could not be marked Active ({}); it stays Pending: apply again to finish",
                self.kubeconfig_path(&tenant).display(),
                chain(&e)
            )),
        }
    }

    async fn create_steps(&self, c: &Create, undo: &mut Undo) -> Result<Done, Handed> {
        let cluster = self.cluster;
        let spec = &c.desired.spec;
        let tenant = &spec.tenant;
        let objects = spec.bindings.objects(tenant);
        let ns = spec.bindings.namespace.as_deref().unwrap_or_default();
        let mut done = Done::default();
        self.may_write(spec, c.previous.as_ref().map(|p| &p.record))?;

        // 1. A certificate first: it stays in memory until the record holds it.
        let minted = match tenant.auth() {
            AuthKind::Cert => Some(self.mint(spec).await?),
            AuthKind::Token => None,
        };
        if let Some(m) = &minted {
            done.warnings.extend(m.warnings.iter().cloned());
        }

        // 2. The record, Pending, with the credential: claimed with a POST (a 409 is another
        // run's tenant), or written over the Revoked/Pending version that was read.
        let mut credentials = c
            .previous
            .as_ref()
            .map(|p| p.record.credentials.clone())
            .unwrap_or_default();
        credentials.extend(
            minted
                .as_ref()
                .map(|m| m.record.clone().trusting(&self.entry.ca_pem)),
        );
        let created_namespace = c.create_namespace
            || c.previous.as_ref().is_some_and(|p| {
                p.record.created_namespace && p.record.namespace == spec.bindings.namespace
            });
        let service_account = objects
            .service_account
            .as_ref()
            .and_then(|sa| sa.metadata.name.clone());
        let mut record = new_record(
            tenant,
            &spec.bindings,
            created_namespace,
            service_account,
            credentials,
            self.now(),
        );
        record.set = self
            .settings
            .options
            .set
            .clone()
            .or_else(|| c.previous.as_ref().and_then(|p| p.record.set.clone()));
        let mut stored = match &c.previous {
            Some(previous) => {
                let stored = ledger::replace(cluster, tenant, previous, &record).await?;
                undo.push(Step::Record(
                    tenant.clone(),
                    Some(Box::new(previous.record.clone())),
                ));
                stored
            }
            None => {
                let stored = ledger::claim(cluster, tenant, &record).await?;
                undo.push(Step::Record(tenant.clone(), None));
                stored
            }
        };
        undo.record_at(&stored);

        // 3. The ServiceAccount, the bindings (a new namespace was applied before any tenant,
        // and is never rolled back: others may share it); bindings of this tenant the file no
        // longer names go.
        if let Some(sa) = &objects.service_account {
            let made = cluster.apply_namespaced(ns, sa).await?;
            undo.push(Step::ServiceAccount(
                ns.to_owned(),
                tenant.user().to_owned(),
                made.metadata.uid,
            ));
        }
        for b in &c.stale {
            delete_binding(cluster, b, uid_of(b)).await?;
        }
        for b in &objects.bindings {
            let b = &self.in_set(b);
            let uid = apply_binding(cluster, b).await?;
            undo.push(Step::Binding(Box::new(b.clone()), uid));
        }

        // 4. The kubeconfig; a token is recorded before it goes anywhere.
        let namespace = spec.bindings.namespace.as_deref();
        let kubeconfig = match &minted {
            Some(m) => credentials::cert_kubeconfig(self.entry, tenant, m, namespace)?,
            None => {
                let (token, expires) = cluster.request_token(ns, tenant.user(), spec.ttl).await?;
                let credential =
                    CredentialRecord::token(self.now(), expires).trusting(&self.entry.ca_pem);
                stored = ledger::update(cluster, tenant, stored, |r| {
                    still(r, Phase::Pending)?;
                    r.credentials.push(credential.clone());
                    Ok(())
                })
                .await?;
                undo.record_at(&stored);
                Kubeconfig::with_token(self.entry, tenant.user(), token, namespace)?
            }
        };

        // 5. The API server's authorizer must grant each role to this identity.
        let warnings = self.check_access(spec, &c.rules).await?;
        done.warnings.extend(warnings);

        // 6. Hand out, then Active.
        let path = self.write(tenant, &kubeconfig).await?;
        done.kubeconfig = Some(path);
        ledger::update(cluster, tenant, stored, |r| {
            r.phase = Phase::Active;
            Ok(())
        })
        .await
        .map_err(Handed::After)?;
        Ok(done)
    }

    async fn update(&self, u: Update) -> Result<Done, String> {
        self.update_steps(u).await.map_err(|e| chain(&e))
    }

    async fn update_steps(&self, u: Update) -> Result<Done, Error> {
        let cluster = self.cluster;
        let spec = &u.desired.spec;
        let tenant = &spec.tenant;
        let objects = spec.bindings.objects(tenant);
        let ns = spec.bindings.namespace.as_deref();
        let mut done = Done::default();
        if u.renew {
            self.may_write(spec, Some(&u.stored.record))?;
        }
        if let (true, Some(sa), Some(ns)) = (u.service_account, &objects.service_account, ns) {
            cluster.apply_namespaced(ns, sa).await?;
        }
        for b in &u.apply {
            apply_binding(cluster, &self.in_set(b)).await?;
        }
        for b in &u.delete {
            delete_binding(cluster, b, uid_of(b)).await?;
        }
        if !u.apply.is_empty() {
            let warnings = self.check_access(spec, &u.rules).await?;
            done.warnings.extend(warnings);
        }
        // A renewal: the new credential, recorded before its kubeconfig is written.
        let renewal = if u.renew {
            Some(match tenant.auth() {
                AuthKind::Cert => {
                    let mut m = self.mint(spec).await?;
                    m.record = m.record.trusting(&self.entry.ca_pem);
                    done.warnings.extend(m.warnings.iter().cloned());
                    let kubeconfig = credentials::cert_kubeconfig(self.entry, tenant, &m, ns)?;
                    (kubeconfig, m.record)
                }
                AuthKind::Token => {
                    let ns = ns.unwrap_or_default();
                    let (token, expires) =
                        cluster.request_token(ns, tenant.user(), spec.ttl).await?;
                    (
                        Kubeconfig::with_token(self.entry, tenant.user(), token, Some(ns))?,
                        CredentialRecord::token(self.now(), expires).trusting(&self.entry.ca_pem),
                    )
                }
            })
        } else {
            None
        };
        if !u.record && renewal.is_none() {
            return Ok(done);
        }
        let credential = renewal.as_ref().map(|(_, c)| c.clone());
        let stored = ledger::update(cluster, tenant, u.stored, |r| {
            still(r, Phase::Active)?;
            r.roles.clone_from(&spec.bindings.roles);
            r.bindings = spec.bindings.binding_refs(tenant);
            r.namespace.clone_from(&spec.bindings.namespace);
            r.bind_group = spec.bindings.bind_group;
            r.created_namespace |= u.create_namespace;
            r.credentials.extend(credential.clone());
            if let Some(set) = &self.settings.options.set {
                r.set = Some(set.clone());
            }
            Ok(())
        })
        .await?;
        if let Some((kubeconfig, credential)) = renewal {
            match self.write(tenant, &kubeconfig).await {
                Ok(path) => done.kubeconfig = Some(path),
                Err(e) => {
                    // Best effort: the record need not list a credential nobody received.
                    let _ = ledger::update(cluster, tenant, stored, |r| {
                        r.credentials.retain(|c| c != &credential);
                        Ok(())
                    })
                    .await;
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    async fn revoke(&self, stored: Stored) -> Result<(Stored, Done), String> {
        let r = &stored.record;
        let tenant = Tenant::new(&r.user, &r.groups, r.auth, true).map_err(|e| chain(&e))?;
        let (revoked, _) = revoke_stored(self.cluster, &tenant, stored, self.now())
            .await
            .map_err(|e| chain(&e))?;
        let live = revoked
            .record
            .credentials
            .iter()
            .filter(|c| c.kind == AuthKind::Cert && c.expires().is_some_and(|end| end > self.now()))
            .count();
        let mut done = Done::default();
        if live > 0 {
            done.warnings.push(format!(
                "{live} certificate(s) still authenticate until they expire (Kubernetes cannot revoke client certificates)"
            ));
        }
        Ok((revoked, done))
    }

    /// SubjectAccessReview for each role's first resource rule, as the identity the API
    /// server will see, polled until the authorizer allows it (within `--verify-timeout`).
    /// Returns a warning for each role that grants nothing to check.
    async fn check_access(
        &self,
        spec: &TenantSpec,
        rules: &[(RoleRef, Vec<PolicyRule>)],
    ) -> Result<Vec<String>, Error> {
        let tenant = &spec.tenant;
        let ns = spec.bindings.namespace.as_deref();
        let user = tenant.username_in_cluster(ns);
        let groups: Vec<String> = match (tenant.auth(), ns) {
            (AuthKind::Token, Some(ns)) => vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
            _ => tenant
                .groups()
                .iter()
                .cloned()
                .chain(["system:authenticated".to_owned()])
                .collect(),
        };
        let mut warnings = Vec::new();
        for (role, rules) in rules {
            let Some((verb, group, resource)) = sample(rules) else {
                warnings.push(grants_nothing(role, rules));
                continue;
            };
            let what = format!(
                "{user} may {verb} {resource}{} as {role} allows",
                ns.map(|n| format!(" in {n}")).unwrap_or_default()
            );
            cluster::until_allowed(&what, self.settings.verify_timeout, || {
                self.cluster
                    .subject_can(&user, &groups, &verb, &group, &resource, ns)
            })
            .await?;
        }
        Ok(warnings)
    }
}

/// A failure before the kubeconfig was written (rolled back), or after (kept, Pending).
enum Handed {
    Before(Error),
    After(Error),
}

impl From<Error> for Handed {
    fn from(e: Error) -> Self {
        Self::Before(e)
    }
}

impl From<kubeconfig::Error> for Handed {
    fn from(e: kubeconfig::Error) -> Self {
        Self::Before(e.into())
    }
}

/// The record must still be in `phase`: another run may have finished or revoked it.
fn still(r: &TenantRecord, phase: Phase) -> Result<(), Error> {
    if r.phase == phase {
        return Ok(());
    }
    Err(Error::Claimed {
        user: r.user.clone(),
        message: format!(
            "became {} while this apply ran (another run changed it); nothing was handed out",
            r.status()
        ),
    })
}

async fn apply_binding(cluster: &Cluster, b: &Binding) -> Result<Option<String>, Error> {
    Ok(match b {
        Binding::Cluster(crb) => cluster.apply_cluster(crb).await?.metadata.uid,
        Binding::Namespaced(rb) => {
            let ns = rb.metadata.namespace.as_deref().unwrap_or_default();
            cluster.apply_namespaced(ns, rb).await?.metadata.uid
        }
    })
}

/// Delete only the object that was listed.
fn uid_of(b: &Binding) -> Option<Preconditions> {
    let uid = match b {
        Binding::Cluster(crb) => crb.metadata.uid.clone(),
        Binding::Namespaced(rb) => rb.metadata.uid.clone(),
    };
    uid.map(|uid| Preconditions {
        uid: Some(uid),
        resource_version: None,
    })
}

/// An error with its causes, on one line.
fn chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s.replace('\n', "; ")
}
