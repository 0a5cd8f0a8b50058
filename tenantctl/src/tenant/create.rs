//! `tenantctl create USER --role ROLE`, online: check → mint → bind → record → verify → hand
//! out, and on any failure after minting, undo what this run created.
//!
//! The offline forms (`--offline`, `--dry-run`, `--csr-out`) are in `offline.rs`; the pieces
//! the steps call sit beside this file: `credentials.rs` mints, `objects.rs` builds the RBAC
//! objects, `ledger.rs` keeps the record, `verify.rs` asks the API server as the tenant, and
//! `rollback.rs` undoes.

use std::{
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::Client;
use kubeconfig::{ClusterEntry, Kubeconfig};
use pki_core::KeyAlgorithm;

use super::{
    AuthKind, Binding, BindingPlan, CredentialRecord, Phase, RoleKind, RoleRef, Tenant,
    TenantRecord,
    credentials::{self, CsrOptions, LONG_TTL, Minted, Signer},
    ledger::{self, Stored},
    names::privileged,
    offline,
    rollback::{Step, Undo},
    spec::{TenantInput, TenantSpec, new_record, privileged_refusal},
    verify::verify,
};
use crate::{
    cli::{CreateArgs, Format, SignerKind},
    cluster::{self, Cluster},
    error::Error,
    fs,
    output::{Output, progress, say},
    pki::{rotation, store},
    time::{humanize, rfc3339},
};

/// Everything `create` was asked to do, checked.
pub struct CreatePlan {
    /// Who.
    pub tenant: Tenant,
    /// Where and what to bind.
    pub bindings: BindingPlan,
    /// Credential lifetime.
    pub ttl: Duration,
    /// Key algorithm of a certificate tenant.
    pub key_algorithm: KeyAlgorithm,
    /// Where the kubeconfig goes.
    pub kubeconfig_out: PathBuf,
    /// Replace an existing output file.
    pub force: bool,
    /// A certificate and key signed elsewhere (`--cert`, `--key`).
    pub import: Option<(PathBuf, PathBuf)>,
    /// How the result is printed (`-o`).
    pub format: Format,
    /// `--allow-privileged`: cluster-wide bindings of privileged roles are allowed.
    pub allow_privileged: bool,
    /// `--verify-timeout`: how long the new bindings may take to be effective.
    pub verify_timeout: Duration,
}

impl CreatePlan {
    /// Checks the flags (guardrails included) without touching anything.
    pub fn from_args(args: &CreateArgs) -> Result<Self, Error> {
        let spec = TenantSpec::check(&TenantInput {
            user: &args.user,
            groups: &args.groups,
            auth: args.auth,
            roles: &args.roles,
            role_kind: args.role_kind,
            namespace: args.namespace.clone(),
            create_namespace: args.create_namespace,
            bind_group: args.bind_group,
            ttl: args.ttl,
            key_algorithm: args.key_algorithm,
            signer: args.signer,
            allow_privileged: args.allow_privileged,
        })?;
        let TenantSpec {
            tenant, bindings, ..
        } = spec;
        let kubeconfig_out = args
            .kubeconfig_out
            .clone()
            .unwrap_or_else(|| tenant.file_name("kubeconfig"));
        Ok(Self {
            tenant,
            bindings,
            ttl: args.ttl,
            key_algorithm: args.key_algorithm,
            kubeconfig_out,
            force: args.force,
            import: args.cert.clone().zip(args.key.clone()),
            format: args.output,
            allow_privileged: args.allow_privileged,
            verify_timeout: args.verify_timeout,
        })
    }

    /// The record of the tenant this plan creates.
    pub(super) fn record(
        &self,
        created_namespace: bool,
        service_account: Option<String>,
        credentials: Vec<CredentialRecord>,
        now: SystemTime,
    ) -> TenantRecord {
        let mut record = new_record(
            &self.tenant,
            &self.bindings,
            created_namespace,
            service_account,
            credentials,
            now,
        );
        record.phase = Phase::Active;
        record
    }

    /// Warnings the flags deserve (long lifetimes, groups in certificates).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.ttl > LONG_TTL {
            w.push(format!(
                "--ttl {} is longer than a year: a client certificate cannot be revoked before it expires",
                humanize(self.ttl)
            ));
        }
        if self.tenant.auth() == AuthKind::Cert && !self.tenant.groups().is_empty() {
            w.push(format!(
                "groups {} are baked into the certificate and stay valid until it expires, even after `tenantctl revoke`; prefer binding roles to the user",
                self.tenant.groups().join(", ")
            ));
        }
        w
    }
}

/// Runs `create`.
pub fn run(args: &CreateArgs, out: &mut Output<'_>) -> Result<(), Error> {
    let plan = CreatePlan::from_args(args)?;
    for w in plan.warnings() {
        out.warning(w);
    }
    if let Some(path) = &args.csr_out {
        return offline::csr_out(&plan, path, out);
    }
    if args.dry_run {
        return offline::dry_run(&plan, args, out);
    }
    if args.offline {
        return offline::offline(&plan, args, out);
    }
    cluster::block_on(async {
        let (cluster, resolved) = args.cluster.open().await?;
        let entry = credentials::cluster_entry(
            Some(&resolved),
            args.server.as_ref(),
            rotation::cluster_bundle(&args.cert_dir).as_deref(),
        )?;
        let signer = match args.signer {
            SignerKind::Local => Signer::Local {
                cert_dir: &args.cert_dir,
            },
            SignerKind::Csr => Signer::CsrApi(CsrOptions::from_flags(args.csr_api)),
        };
        progress!(out, "Using the cluster from {}", resolved.source);
        create_online(
            &cluster,
            &entry,
            &plan,
            &signer,
            &args.cert_dir,
            out,
            cluster::connect_as,
        )
        .await
    })
}

/// The online flow, on any client (kube's mock service in tests). `tenant_client` turns the new
/// kubeconfig into a client for the verification step.
///
/// The ledger rule holds throughout: the tenant is claimed (a Pending record, created with a
/// POST, so a concurrent `create` gets a 409) before anything is minted, and each credential
/// is in the record before its kubeconfig is written.
pub async fn create_online<F, Fut>(
    cluster: &Cluster,
    entry: &ClusterEntry,
    plan: &CreatePlan,
    signer: &Signer<'_>,
    cert_dir: &Path,
    out: &mut Output<'_>,
    tenant_client: F,
) -> Result<(), Error>
where
    F: FnOnce(Kubeconfig) -> Fut,
    Fut: Future<Output = Result<Client, Error>>,
{
    let now = SystemTime::now();
    // 0. Read-only checks: the output file, an existing tenant, the namespace, the roles.
    let checked = preflight(cluster, entry, plan, cert_dir, out).await?;

    // 1.–5. Claim, mint, record, bind, verify; undone on failure.
    let mut undo = Undo::default();
    let result = transaction(
        cluster,
        entry,
        plan,
        signer,
        checked,
        now,
        &mut undo,
        out,
        tenant_client,
    )
    .await;
    let (kubeconfig, stored) = match result {
        Ok(done) => done,
        Err(cause) => return Err(undo.run(cluster, cause).await),
    };

    // 6. Hand out the kubeconfig: its credential is in the record already.
    let yaml = kubeconfig.to_yaml()?;
    if let Err(e) = fs::write_secret(&plan.kubeconfig_out, yaml.as_bytes(), plan.force) {
        return Err(undo.run(cluster, e).await);
    }

    // 7. Active. From here nothing is undone: the credential is out, and recorded.
    let tenant = &plan.tenant;
    let stored = ledger::update(cluster, tenant, stored, |r| {
        r.phase = Phase::Active;
        Ok(())
    })
    .await
    .map_err(|e| Error::Record {
        user: tenant.user().to_owned(),
        message: format!(
            "{} was written and its credential is recorded, but the record could not be marked Active ({e}); it stays Pending: run the same `tenantctl create` again (with --force) to finish",
            plan.kubeconfig_out.display()
        ),
    })?;
    print_created(plan, entry, &stored.record, out)
}

/// What the read-only checks found.
struct Checked {
    /// The namespace must be created by this run.
    create_namespace: bool,
    /// The record there is: Pending (resumed) or Revoked (replaced, keeping its history).
    existing: Option<Stored>,
    /// Each role with its rules, for verification.
    rules: Vec<(RoleRef, Vec<PolicyRule>)>,
}

async fn preflight(
    cluster: &Cluster,
    entry: &ClusterEntry,
    plan: &CreatePlan,
    cert_dir: &Path,
    out: &mut Output<'_>,
) -> Result<Checked, Error> {
    let tenant = &plan.tenant;
    if plan.kubeconfig_out.exists() && !plan.force {
        return Err(Error::Exists {
            path: plan.kubeconfig_out.clone(),
        });
    }
    if let Some(w) = store::san_warning(cert_dir, &entry.server) {
        out.warning(w);
    }
    let existing = ledger::load(cluster, tenant).await?;
    if let Some(stored) = &existing {
        let record = &stored.record;
        match record.phase {
            Phase::Active => {
                return Err(Error::Claimed {
                    user: tenant.user().to_owned(),
                    message: format!(
                        "already exists (created {}); use `tenantctl renew {}` for new credentials, or revoke it first",
                        record.created,
                        tenant.user()
                    ),
                });
            }
            Phase::Pending => {
                let asked = plan.record(false, None, Vec::new(), SystemTime::now());
                let differences = record.spec_differences(&asked);
                if !differences.is_empty() {
                    return Err(Error::Claimed {
                        user: tenant.user().to_owned(),
                        message: format!(
                            "is Pending (a create that did not finish, or is running now) with another spec: {}; run that create again to finish it, or `tenantctl revoke {}`",
                            differences.join("; "),
                            tenant.user()
                        ),
                    });
                }
                out.note(format_args!(
                    "tenant {} is Pending since {}: resuming that create with a new credential",
                    tenant.user(),
                    record.created
                ));
            }
            Phase::Revoked => {}
        }
    }
    let ns = plan.bindings.namespace.as_deref();
    let mut create_namespace = false;
    if let Some(ns) = ns {
        let exists = cluster.namespace_exists(ns).await?;
        if !exists && !plan.bindings.create_namespace {
            return Err(Error::Usage {
                flag: "--namespace",
                message: format!(
                    "namespace {ns} does not exist; pass --create-namespace to create it"
                ),
            });
        }
        create_namespace = !exists;
    }
    let mut rules = Vec::new();
    for role in &plan.bindings.roles {
        if create_namespace && role.kind == RoleKind::Role {
            return Err(Error::UnknownRole {
                kind: role.kind.to_string(),
                name: role.name.clone(),
                namespace: ns.map(str::to_owned),
                close: Vec::new(),
            });
        }
        let found = cluster.role_rules(role.kind, &role.name, ns).await?;
        if ns.is_none()
            && !plan.allow_privileged
            && let Some(why) = privileged(role, Some(&found))
        {
            return Err(privileged_refusal(role, &why));
        }
        rules.push((role.clone(), found));
    }
    Ok(Checked {
        create_namespace,
        existing,
        rules,
    })
}

async fn mint(
    cluster: &Cluster,
    plan: &CreatePlan,
    signer: &Signer<'_>,
    now: SystemTime,
    out: &mut Output<'_>,
) -> Result<Minted, Error> {
    let tenant = &plan.tenant;
    let minted = match (&plan.import, signer) {
        (Some((cert, key)), _) => credentials::import(cert, key, tenant, now)?,
        (None, Signer::Local { cert_dir }) => {
            let ca = rotation::tenant_ca(cert_dir, now)?;
            credentials::mint_local(&ca, tenant, plan.key_algorithm, plan.ttl, now)?
        }
        (None, Signer::CsrApi(options)) => {
            let mut m =
                credentials::mint_csr(cluster, tenant, plan.key_algorithm, plan.ttl, *options, now)
                    .await?;
            m.record.approve = options.approve;
            m
        }
    };
    for w in &minted.warnings {
        out.warning(w);
    }
    progress!(
        out,
        "[cert] {} key and certificate for {} from {}: serial {}, valid until {}",
        minted
            .cert
            .key_algorithm()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        credentials::subject(tenant),
        signer.describe(),
        minted.record.serial.as_deref().unwrap_or(""),
        minted.record.not_after
    );
    Ok(minted)
}

#[allow(clippy::too_many_arguments)]
async fn transaction<F, Fut>(
    cluster: &Cluster,
    entry: &ClusterEntry,
    plan: &CreatePlan,
    signer: &Signer<'_>,
    checked: Checked,
    now: SystemTime,
    undo: &mut Undo,
    out: &mut Output<'_>,
    tenant_client: F,
) -> Result<(Kubeconfig, Stored), Error>
where
    F: FnOnce(Kubeconfig) -> Fut,
    Fut: Future<Output = Result<Client, Error>>,
{
    let tenant = &plan.tenant;
    let objects = plan.bindings.objects(tenant);
    let ns = plan.bindings.namespace.as_deref().unwrap_or_default();
    let namespace = plan.bindings.namespace.as_deref();
    let service_account = objects
        .service_account
        .as_ref()
        .and_then(|sa| sa.metadata.name.clone());

    // 1. Claim: a Pending record, before anything is minted.
    ledger::ensure_namespace(cluster).await?;
    let mut stored = match checked.existing {
        Some(existing) if existing.record.phase == Phase::Pending => existing,
        Some(revoked) => {
            let history = revoked.record.credentials.clone();
            let mut record = plan.record(checked.create_namespace, service_account, history, now);
            record.phase = Phase::Pending;
            let stored = ledger::replace(cluster, tenant, &revoked, &record).await?;
            undo.push(Step::Record(tenant.clone(), Some(Box::new(revoked.record))));
            stored
        }
        None => {
            let mut record =
                plan.record(checked.create_namespace, service_account, Vec::new(), now);
            record.phase = Phase::Pending;
            let stored = ledger::claim(cluster, tenant, &record).await?;
            undo.push(Step::Record(tenant.clone(), None));
            stored
        }
    };
    undo.record_at(&stored);
    progress!(
        out,
        "tenant {} claimed: configmap/{} in {} (Pending)",
        tenant.user(),
        tenant.record_name(),
        cluster.record_namespace()
    );

    // 2. Mint a certificate and record it before anything can hand it out.
    let minted = match tenant.auth() {
        AuthKind::Cert => {
            let mut m = mint(cluster, plan, signer, now, out).await?;
            m.record = m.record.trusting(&entry.ca_pem);
            stored = record_credential(cluster, tenant, stored, &m.record, undo).await?;
            Some(m)
        }
        AuthKind::Token => None,
    };

    // 3. Bind: the namespace, the ServiceAccount of a token tenant, the role bindings.
    if let (true, Some(obj)) = (checked.create_namespace, &objects.namespace) {
        let made = cluster.apply_cluster(obj).await?;
        undo.push(Step::Namespace(ns.to_owned(), made.metadata.uid));
        progress!(out, "namespace/{ns} created");
    }
    if let Some(sa) = &objects.service_account {
        let made = cluster.apply_namespaced(ns, sa).await?;
        undo.push(Step::ServiceAccount(
            ns.to_owned(),
            tenant.user().to_owned(),
            made.metadata.uid,
        ));
        progress!(out, "serviceaccount/{} applied in {ns}", tenant.user());
    }
    for b in &objects.bindings {
        let uid = match b {
            Binding::Cluster(crb) => cluster.apply_cluster(crb).await?.metadata.uid,
            Binding::Namespaced(rb) => cluster.apply_namespaced(ns, rb).await?.metadata.uid,
        };
        undo.push(Step::Binding(Box::new(b.clone()), uid));
        progress!(out, "{} applied", b.describe());
    }

    // The kubeconfig around the certificate, or a token for the ServiceAccount (recorded first).
    let kubeconfig = match minted {
        Some(m) => credentials::cert_kubeconfig(entry, tenant, &m, namespace)?,
        None => {
            let (token, expires) = cluster.request_token(ns, tenant.user(), plan.ttl).await?;
            if expires + Duration::from_secs(60) < now + plan.ttl {
                out.warning(format_args!(
                    "the API server shortened the token to end at {} (--service-account-max-token-expiration)",
                    rfc3339(expires)
                ));
            }
            progress!(
                out,
                "[token] bound token for serviceaccount/{}, valid until {}",
                tenant.user(),
                rfc3339(expires)
            );
            let credential = CredentialRecord::token(now, expires).trusting(&entry.ca_pem);
            stored = record_credential(cluster, tenant, stored, &credential, undo).await?;
            Kubeconfig::with_token(entry, tenant.user(), token, namespace)?
        }
    };

    // 4. Verify as the tenant.
    let client = tenant_client(kubeconfig.clone()).await?;
    let verified = verify(
        &client,
        cluster.retry(),
        tenant,
        namespace,
        &checked.rules,
        plan.verify_timeout,
    )
    .await?;
    for w in &verified.warnings {
        out.warning(w);
    }
    progress!(out, "verified: {}", verified.summary);
    Ok((kubeconfig, stored))
}

/// Adds `credential` to the record (re-read and re-applied on a conflict).
async fn record_credential(
    cluster: &Cluster,
    tenant: &Tenant,
    stored: Stored,
    credential: &CredentialRecord,
    undo: &mut Undo,
) -> Result<Stored, Error> {
    let stored = ledger::update(cluster, tenant, stored, |r| {
        if r.phase != Phase::Pending {
            return Err(Error::Claimed {
                user: r.user.clone(),
                message: format!(
                    "became {} while this create ran (another run finished or revoked it); nothing was handed out",
                    r.status()
                ),
            });
        }
        r.credentials.push(credential.clone());
        Ok(())
    })
    .await?;
    undo.record_at(&stored);
    Ok(stored)
}

/// The result: the record (`-o json|yaml`), or where the kubeconfig is and how to use it.
fn print_created(
    plan: &CreatePlan,
    entry: &ClusterEntry,
    record: &TenantRecord,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let path = plan.kubeconfig_out.display();
    let usage = format!(
        "wrote {path} (context {}@{}); use it with: kubectl --kubeconfig {path} get pods{}",
        plan.tenant.user(),
        entry.name,
        plan.bindings
            .namespace
            .as_deref()
            .map(|n| format!(" -n {n}"))
            .unwrap_or_default()
    );
    if plan.format != Format::Table {
        progress!(out, "{usage}");
    }
    out.document(plan.format, record, |out, _| {
        say!(out, "{usage}");
        Ok(())
    })
}
