//! `tenantctl create USER --role ROLE`: mint, kubeconfig, bind, record, verify — or undo.

use std::{
    future::Future,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use k8s_openapi::api::{
    core::v1::{ConfigMap, Namespace, ServiceAccount},
    rbac::v1::{ClusterRoleBinding, PolicyRule, RoleBinding},
};
use kube::Client;
use kubeconfig::{ClusterEntry, Kubeconfig, ServerUrl};
use pki_core::{Certificate, KeyAlgorithm};

use crate::{
    Error,
    cli::{CreateArgs, SignerKind},
    cluster::{self, Cluster},
    credentials::{self, LONG_TTL, Minted, humanize},
    fs::{self, Pending},
    say,
    tenant::{
        AuthKind, Binding, BindingPlan, CredentialRecord, RoleRef, Tenant, TenantRecord, manifest,
        rfc3339, yaml,
    },
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
    pub output: PathBuf,
    /// Replace an existing output file.
    pub force: bool,
    /// A certificate and key signed elsewhere (`--cert`, `--key`).
    pub import: Option<(PathBuf, PathBuf)>,
}

impl CreatePlan {
    /// Checks the flags (guardrails included) without touching anything.
    pub fn from_args(args: &CreateArgs) -> Result<Self, Error> {
        let tenant = Tenant::new(&args.user, &args.groups, args.auth, args.allow_privileged)?;
        let roles = args
            .roles
            .iter()
            .map(|r| RoleRef::parse(r, args.role_kind))
            .collect::<Result<Vec<_>, _>>()?;
        let bindings = BindingPlan::new(
            &tenant,
            roles,
            args.namespace.clone(),
            args.create_namespace,
            args.bind_group,
        )?;
        if args.auth == AuthKind::Token && args.signer == SignerKind::Csr {
            return Err(Error::Usage {
                flag: "--signer",
                message: "token tenants have no certificate; drop --signer csr".into(),
            });
        }
        let output = args
            .output
            .clone()
            .unwrap_or_else(|| default_output(&tenant, "kubeconfig"));
        Ok(Self {
            tenant,
            bindings,
            ttl: args.ttl,
            key_algorithm: args.key_algorithm,
            output,
            force: args.force,
            import: args.cert.clone().zip(args.key.clone()),
        })
    }

    /// The record of the tenant this plan creates.
    fn record(
        &self,
        created_namespace: bool,
        service_account: Option<String>,
        credentials: Vec<CredentialRecord>,
        now: SystemTime,
    ) -> TenantRecord {
        let tenant = &self.tenant;
        TenantRecord {
            user: tenant.user().to_owned(),
            auth: tenant.auth(),
            groups: tenant.groups().to_vec(),
            namespace: self.bindings.namespace.clone(),
            created_namespace,
            service_account,
            roles: self.bindings.roles.clone(),
            bindings: self.bindings.binding_refs(tenant),
            bind_group: self.bindings.bind_group,
            credentials,
            created: rfc3339(now),
            revoked: None,
        }
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
pub(crate) fn run(args: &CreateArgs, out: &mut impl Write) -> Result<(), Error> {
    let plan = CreatePlan::from_args(args)?;
    for w in plan.warnings() {
        say!(out, "warning: {w}");
    }
    if let Some(path) = &args.csr_out {
        return csr_out(&plan, path, out);
    }
    if args.dry_run {
        return print_dry_run(&plan, args, out);
    }
    if args.offline {
        return offline(&plan, args, out);
    }
    crate::block_on(async {
        let resolved = args.cluster.access().resolve().await?;
        let client = connect(&resolved.config)?;
        let cluster = Cluster::new(client, &args.cluster.record_namespace);
        let ca_fallback = read_ca_cert(&args.cert_dir);
        let entry = credentials::cluster_entry(
            Some(&resolved),
            args.server.as_ref(),
            ca_fallback.as_ref(),
        )?;
        let signer = match args.signer {
            SignerKind::Local => credentials::Signer::Local {
                cert_dir: &args.cert_dir,
            },
            SignerKind::Csr => credentials::Signer::CsrApi(credentials::CsrOptions {
                approve: args.approve,
                timeout: args.csr_timeout,
                poll: Duration::from_secs(1),
            }),
        };
        say!(out, "Using the cluster from {}", resolved.source);
        create_online(
            &cluster,
            &entry,
            &plan,
            &signer,
            &args.cert_dir,
            out,
            tenant_client,
        )
        .await
    })
}

/// A kube client from kube's configuration.
pub(crate) fn connect(config: &kube::Config) -> Result<Client, Error> {
    Client::try_from(config.clone()).map_err(|e| Error::kube("connect to the API server", e))
}

/// A kube client speaking as the tenant.
pub(crate) async fn tenant_client(kc: Kubeconfig) -> Result<Client, Error> {
    let config = kube::Config::from_custom_kubeconfig(kc.into_kube(), &Default::default())
        .await
        .map_err(|e| Error::ClusterConfig {
            source_name: "the new kubeconfig".into(),
            source: Box::new(e),
        })?;
    connect(&config)
}

/// The online flow, on any client (kube's mock service in tests). `tenant_client` turns the new
/// kubeconfig into a client for the verification step.
pub async fn create_online<F, Fut>(
    cluster: &Cluster,
    entry: &ClusterEntry,
    plan: &CreatePlan,
    signer: &credentials::Signer<'_>,
    cert_dir: &Path,
    out: &mut impl Write,
    tenant_client: F,
) -> Result<(), Error>
where
    F: FnOnce(Kubeconfig) -> Fut,
    Fut: Future<Output = Result<Client, Error>>,
{
    let tenant = &plan.tenant;
    let now = SystemTime::now();
    if plan.output.exists() && !plan.force {
        return Err(Error::Exists {
            path: plan.output.clone(),
        });
    }
    if let Some(w) = credentials::san_warning(cert_dir, &entry.server) {
        say!(out, "warning: {w}");
    }
    // Read-only checks first: an existing tenant, the roles, the namespace.
    let previous = cluster.record_map(tenant).await?;
    let history = match &previous {
        Some(cm) => {
            let record = TenantRecord::from_config_map(cm)?;
            if record.revoked.is_none() {
                return Err(Error::Record {
                    user: tenant.user().to_owned(),
                    message: format!(
                        "already exists (created {}); use `tenantctl renew {}` for new credentials, or revoke it first",
                        record.created,
                        tenant.user()
                    ),
                });
            }
            record.credentials
        }
        None => Vec::new(),
    };
    let ns = plan.bindings.namespace.as_deref();
    let mut create_ns = false;
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
        create_ns = !exists;
    }
    let mut rules = Vec::new();
    for role in &plan.bindings.roles {
        if create_ns && role.kind == crate::tenant::RoleKind::Role {
            return Err(Error::UnknownRole {
                kind: role.kind.to_string(),
                name: role.name.clone(),
                namespace: ns.map(str::to_owned),
                close: Vec::new(),
            });
        }
        rules.push((role.clone(), cluster.role_rules(role, ns).await?));
    }

    // Step 1: mint (a certificate now; a token once its ServiceAccount exists).
    let minted = match tenant.auth() {
        AuthKind::Cert => Some(mint(cluster, plan, signer, now).await?),
        AuthKind::Token => None,
    };
    if let Some(m) = &minted {
        for w in &m.warnings {
            say!(out, "warning: {w}");
        }
        say!(
            out,
            "[cert] {} key and certificate for CN={}{} from {}: serial {}, valid until {}",
            m.cert
                .key_algorithm()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            tenant.user(),
            tenant
                .groups()
                .iter()
                .map(|g| format!(", O={g}"))
                .collect::<String>(),
            signer_name(signer),
            m.record.serial.as_deref().unwrap_or(""),
            m.record.not_after
        );
    }

    // Steps 2-6, undone on failure.
    let mut undo = Undo::default();
    let result = apply_and_verify(
        cluster,
        entry,
        plan,
        minted.as_ref(),
        create_ns,
        previous,
        history,
        &rules,
        now,
        &mut undo,
        out,
        tenant_client,
    )
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(cause) => Err(undo.run(cluster, cause).await),
    }
}

#[allow(clippy::too_many_arguments)]
async fn apply_and_verify<F, Fut>(
    cluster: &Cluster,
    entry: &ClusterEntry,
    plan: &CreatePlan,
    minted: Option<&Minted>,
    create_ns: bool,
    previous: Option<ConfigMap>,
    history: Vec<CredentialRecord>,
    rules: &[(RoleRef, Vec<PolicyRule>)],
    now: SystemTime,
    undo: &mut Undo,
    out: &mut impl Write,
    tenant_client: F,
) -> Result<(), Error>
where
    F: FnOnce(Kubeconfig) -> Fut,
    Fut: Future<Output = Result<Client, Error>>,
{
    let tenant = &plan.tenant;
    let objects = plan.bindings.objects(tenant);
    let ns = plan.bindings.namespace.as_deref();
    if let (true, Some(obj)) = (create_ns, &objects.namespace) {
        cluster.apply_cluster(obj).await?;
        undo.steps
            .push(Step::Namespace(ns.unwrap_or_default().to_owned()));
        say!(out, "namespace/{} created", ns.unwrap_or_default());
    }
    if let Some(sa) = &objects.service_account {
        cluster.apply_namespaced(ns.unwrap_or_default(), sa).await?;
        undo.steps.push(Step::ServiceAccount(
            ns.unwrap_or_default().to_owned(),
            tenant.user().to_owned(),
        ));
        say!(
            out,
            "serviceaccount/{} applied in {}",
            tenant.user(),
            ns.unwrap_or_default()
        );
    }
    for b in &objects.bindings {
        match b {
            Binding::Cluster(crb) => cluster.apply_cluster(crb).await?,
            Binding::Namespaced(rb) => cluster.apply_namespaced(ns.unwrap_or_default(), rb).await?,
        }
        undo.steps.push(Step::Binding(b.clone()));
        say!(out, "{} applied", describe_binding(b));
    }

    let (kubeconfig, credential) = match minted {
        Some(m) => (
            credentials::cert_kubeconfig(entry, tenant, m, ns)?,
            m.record.clone(),
        ),
        None => {
            let (token, expires) = cluster
                .request_token(ns.unwrap_or_default(), tenant.user(), plan.ttl)
                .await?;
            if expires + Duration::from_secs(60) < now + plan.ttl {
                say!(
                    out,
                    "warning: the API server shortened the token to end at {} (--service-account-max-token-expiration)",
                    rfc3339(expires)
                );
            }
            say!(
                out,
                "[token] bound token for serviceaccount/{}, valid until {}",
                tenant.user(),
                rfc3339(expires)
            );
            (
                Kubeconfig::with_token(entry, tenant.user(), token, ns)?,
                CredentialRecord::token(now, expires),
            )
        }
    };

    let mut credentials = history;
    credentials.push(credential);
    let service_account = objects
        .service_account
        .as_ref()
        .and_then(|sa| sa.metadata.name.clone());
    let record = plan.record(create_ns, service_account, credentials, now);
    cluster.save_record(tenant, &record).await?;
    undo.steps.push(Step::Record(tenant.clone(), previous));
    say!(
        out,
        "tenant record saved: configmap/{} in {}",
        tenant.record_name(),
        cluster.record_namespace()
    );

    let client = tenant_client(kubeconfig.clone()).await?;
    let summary = verify(&client, tenant, ns, rules).await?;
    say!(out, "verified: {summary}");

    let yaml = kubeconfig.to_yaml()?;
    write_secret(&plan.output, yaml.as_bytes(), plan.force)?;
    say!(
        out,
        "wrote {} (context {}@{}); use it with: kubectl --kubeconfig {} get pods{}",
        plan.output.display(),
        tenant.user(),
        entry.name,
        plan.output.display(),
        ns.map(|n| format!(" -n {n}")).unwrap_or_default()
    );
    Ok(())
}

async fn mint(
    cluster: &Cluster,
    plan: &CreatePlan,
    signer: &credentials::Signer<'_>,
    now: SystemTime,
) -> Result<Minted, Error> {
    if let Some((cert, key)) = &plan.import {
        return credentials::import(cert, key, &plan.tenant, now);
    }
    match signer {
        credentials::Signer::Local { cert_dir } => {
            let ca = credentials::load_ca(cert_dir, now)?;
            credentials::mint_local(&ca, &plan.tenant, plan.key_algorithm, plan.ttl, now)
        }
        credentials::Signer::CsrApi(options) => {
            credentials::mint_csr(
                cluster,
                &plan.tenant,
                plan.key_algorithm,
                plan.ttl,
                *options,
                now,
            )
            .await
        }
    }
}

/// Asks the API server, as the tenant, who it is and whether each role works: the user name
/// and groups must be the tenant's, and the first resource rule of each role must be allowed.
pub async fn verify(
    client: &Client,
    tenant: &Tenant,
    namespace: Option<&str>,
    rules: &[(RoleRef, Vec<PolicyRule>)],
) -> Result<String, Error> {
    let expected = tenant.username_in_cluster(namespace);
    let mut summary = String::new();
    match cluster::whoami(client).await? {
        Some(who) => {
            if who.username != expected {
                return Err(Error::Verify {
                    message: format!(
                        "the API server sees {:?}, expected {expected:?}",
                        who.username
                    ),
                });
            }
            if let Some(g) = tenant.groups().iter().find(|g| !who.groups.contains(g)) {
                return Err(Error::Verify {
                    message: format!(
                        "the API server does not see group {g:?} (it sees {})",
                        who.groups.join(", ")
                    ),
                });
            }
            summary.push_str(&format!(
                "the API server sees {} (groups {})",
                who.username,
                who.groups.join(", ")
            ));
        }
        None => summary.push_str(&format!(
            "authenticated as {expected} (SelfSubjectReview unavailable)"
        )),
    }
    let mut checks = Vec::new();
    for (role, rules) in rules {
        let Some((verb, group, resource)) = sample(rules) else {
            checks.push(format!("{role} has no resource rules to check"));
            continue;
        };
        if !cluster::can_i(client, &verb, &group, &resource, namespace).await? {
            return Err(Error::Verify {
                message: format!(
                    "{expected} may not {verb} {resource}{} although {role} allows it",
                    namespace.map(|n| format!(" in {n}")).unwrap_or_default()
                ),
            });
        }
        let group = if group.is_empty() {
            String::new()
        } else {
            format!(".{group}")
        };
        checks.push(format!(
            "can {verb} {resource}{group} {} ({role})",
            namespace.map_or_else(|| "cluster-wide".to_owned(), |n| format!("in {n}"))
        ));
    }
    Ok(format!("{summary}; {}", checks.join("; ")))
}

/// The first checkable (verb, group, resource) of a role's rules.
fn sample(rules: &[PolicyRule]) -> Option<(String, String, String)> {
    rules.iter().find_map(|r| {
        let verb = r.verbs.first()?;
        let group = r.api_groups.as_ref()?.first()?;
        let resource = r
            .resources
            .as_ref()?
            .iter()
            .find(|res| !res.contains('/'))?;
        Some((verb.clone(), group.clone(), resource.clone()))
    })
}

/// What `create` changed, to undo on failure, newest last.
#[derive(Default)]
struct Undo {
    steps: Vec<Step>,
}

enum Step {
    Namespace(String),
    ServiceAccount(String, String),
    Binding(Binding),
    Record(Tenant, Option<ConfigMap>),
}

impl Undo {
    async fn run(self, cluster: &Cluster, cause: Error) -> Error {
        if self.steps.is_empty() {
            return cause;
        }
        let mut undone = Vec::new();
        let mut failed = Vec::new();
        for step in self.steps.into_iter().rev() {
            let (what, result) = match &step {
                Step::Namespace(ns) => (
                    format!("namespace/{ns}"),
                    cluster.delete_cluster::<Namespace>(ns).await.map(drop),
                ),
                Step::ServiceAccount(ns, name) => (
                    format!("serviceaccount/{name} in {ns}"),
                    cluster
                        .delete_namespaced::<ServiceAccount>(ns, name)
                        .await
                        .map(drop),
                ),
                Step::Binding(b) => (describe_binding(b), delete_binding(cluster, b).await),
                Step::Record(tenant, previous) => {
                    let what = format!("configmap/{}", tenant.record_name());
                    let result = match previous {
                        Some(cm) => match TenantRecord::from_config_map(cm) {
                            Ok(record) => cluster.save_record(tenant, &record).await,
                            Err(e) => Err(e),
                        },
                        None => cluster
                            .delete_namespaced::<ConfigMap>(
                                cluster.record_namespace(),
                                &tenant.record_name(),
                            )
                            .await
                            .map(drop),
                    };
                    (what, result)
                }
            };
            match result {
                Ok(()) => undone.push(what),
                Err(e) => failed.push(format!("{what} ({e})")),
            }
        }
        Error::RolledBack {
            cause: Box::new(cause),
            undone,
            failed,
        }
    }
}

pub(crate) async fn delete_binding(cluster: &Cluster, b: &Binding) -> Result<(), Error> {
    match b {
        Binding::Cluster(crb) => cluster
            .delete_cluster::<ClusterRoleBinding>(crb.metadata.name.as_deref().unwrap_or_default())
            .await
            .map(drop),
        Binding::Namespaced(rb) => cluster
            .delete_namespaced::<RoleBinding>(
                rb.metadata.namespace.as_deref().unwrap_or_default(),
                rb.metadata.name.as_deref().unwrap_or_default(),
            )
            .await
            .map(drop),
    }
}

fn describe_binding(b: &Binding) -> String {
    match b {
        Binding::Cluster(crb) => format!(
            "clusterrolebinding/{}",
            crb.metadata.name.as_deref().unwrap_or_default()
        ),
        Binding::Namespaced(rb) => format!(
            "rolebinding/{} in {}",
            rb.metadata.name.as_deref().unwrap_or_default(),
            rb.metadata.namespace.as_deref().unwrap_or_default()
        ),
    }
}

fn signer_name(signer: &credentials::Signer<'_>) -> String {
    match signer {
        credentials::Signer::Local { cert_dir } => {
            format!("the cluster CA in {}", cert_dir.display())
        }
        credentials::Signer::CsrApi(_) => format!("the CSR API ({})", cluster::CLIENT_SIGNER),
    }
}

/// Writes a kubeconfig: new (never replacing) unless `force`, 0600 from the first byte, atomic.
pub(crate) fn write_secret(path: &Path, contents: &[u8], force: bool) -> Result<(), Error> {
    if force {
        fs::replace_file(path, contents, true)
    } else {
        fs::write_new_files(&[Pending {
            path: path.to_owned(),
            contents,
            secret: true,
        }])
        .map(drop)
        .map_err(|e| match e {
            Error::Write { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                Error::Exists {
                    path: path.to_owned(),
                }
            }
            e => e,
        })
    }
}

/// `./USER.<ext>`, or the user's slug when the name is not a plain file name.
pub(crate) fn default_output(tenant: &Tenant, suffix: &str) -> PathBuf {
    let user = tenant.user();
    let base = if user.contains(['/', '\\'])
        || user.starts_with('.')
        || user.contains(char::is_whitespace)
    {
        tenant.slug()
    } else {
        user.to_owned()
    };
    PathBuf::from(format!("{base}.{suffix}"))
}

fn read_ca_cert(cert_dir: &Path) -> Option<Certificate> {
    let pem = std::fs::read_to_string(cert_dir.join("ca.crt")).ok()?;
    Certificate::from_pem(&pem).ok()
}

fn print_dry_run(plan: &CreatePlan, args: &CreateArgs, out: &mut impl Write) -> Result<(), Error> {
    let t = &plan.tenant;
    say!(
        out,
        "dry run: nothing is minted, applied or written, and the cluster is not contacted"
    );
    say!(
        out,
        "tenant {} ({} auth{}), lifetime {}",
        t.user(),
        t.auth(),
        if t.groups().is_empty() {
            String::new()
        } else {
            format!(", groups {}", t.groups().join(", "))
        },
        humanize(plan.ttl)
    );
    if t.auth() == AuthKind::Cert {
        say!(
            out,
            "would mint a {} key and a client certificate (CN={}) signed by {}",
            plan.key_algorithm,
            t.user(),
            match args.signer {
                SignerKind::Local => format!("the cluster CA in {}", args.cert_dir.display()),
                SignerKind::Csr => format!("the CSR API ({})", cluster::CLIENT_SIGNER),
            }
        );
    } else {
        say!(
            out,
            "would request a bound ServiceAccount token (TokenRequest)"
        );
    }
    say!(out, "would write {} (0600)", plan.output.display());
    let objects = plan.bindings.objects(t);
    say!(out, "would apply (server-side, field manager tenantctl):");
    let yaml = objects.to_yaml("objects for the tenant")?;
    say!(out, "{}", yaml.trim_end());
    say!(
        out,
        "and record the tenant in configmap/{} in {}",
        t.record_name(),
        args.cluster.record_namespace
    );
    Ok(())
}

/// `--offline`: the kubeconfig, the RBAC manifest and the record as files; no cluster.
fn offline(plan: &CreatePlan, args: &CreateArgs, out: &mut impl Write) -> Result<(), Error> {
    let tenant = &plan.tenant;
    if tenant.auth() == AuthKind::Token {
        return Err(Error::Usage {
            flag: "--offline",
            message:
                "a token comes from the cluster's TokenRequest API; --auth token cannot be offline"
                    .into(),
        });
    }
    if args.signer == SignerKind::Csr {
        return Err(Error::Usage {
            flag: "--offline",
            message: "the CSR API needs the cluster; use --signer local with --cert-dir".into(),
        });
    }
    let now = SystemTime::now();
    let (minted, ca_cert) = match &plan.import {
        Some((cert, key)) => {
            let minted = credentials::import(cert, key, tenant, now)?;
            let ca_path = args.cert_dir.join("ca.crt");
            let ca_pem = std::fs::read_to_string(&ca_path).map_err(|source| Error::Read {
                path: ca_path,
                source,
            })?;
            (minted, Certificate::from_pem(&ca_pem)?)
        }
        None => {
            let ca = credentials::load_ca(&args.cert_dir, now)?;
            let minted = credentials::mint_local(&ca, tenant, plan.key_algorithm, plan.ttl, now)?;
            (minted, ca.certificate().clone())
        }
    };
    let entry = offline_cluster_entry(args, &ca_cert)?;
    if let Some(w) = credentials::san_warning(&args.cert_dir, &entry.server) {
        say!(out, "warning: {w}");
    }
    for w in &minted.warnings {
        say!(out, "warning: {w}");
    }
    let ns = plan.bindings.namespace.as_deref();
    let kubeconfig = credentials::cert_kubeconfig(&entry, tenant, &minted, ns)?;
    let objects = plan.bindings.objects(tenant);
    let record = plan.record(
        objects.namespace.is_some(),
        None,
        vec![minted.record.clone()],
        now,
    );

    let dir = plan.output.parent().unwrap_or(Path::new(""));
    let base = default_output(tenant, "x");
    let stem = base.to_string_lossy().trim_end_matches(".x").to_owned();
    let rbac_path = dir.join(format!("{stem}-rbac.yaml"));
    let record_path = dir.join(format!("{stem}-tenant.yaml"));
    let rbac = objects.to_yaml(&format!(
        "RBAC for tenant {} made by tenantctl create --offline.\nApply with: kubectl apply --server-side --field-manager=tenantctl -f {}",
        tenant.user(),
        rbac_path.display()
    ))?;
    let record_yaml = record_manifest(tenant, &record, &args.cluster.record_namespace)?;
    let kc_yaml = kubeconfig.to_yaml()?;
    let files = [
        (&plan.output, kc_yaml.as_bytes(), true),
        (&rbac_path, rbac.as_bytes(), false),
        (&record_path, record_yaml.as_bytes(), false),
    ];
    if plan.force {
        for (path, contents, secret) in files {
            fs::replace_file(path, contents, secret)?;
        }
    } else {
        if let Some((path, ..)) = files.iter().find(|(p, ..)| p.exists()) {
            return Err(Error::Exists {
                path: (*path).clone(),
            });
        }
        let pending: Vec<Pending<'_>> = files
            .iter()
            .map(|(path, contents, secret)| Pending {
                path: (*path).clone(),
                contents,
                secret: *secret,
            })
            .collect();
        fs::write_new_files(&pending)?;
    }
    say!(
        out,
        "[cert] {} key and certificate for CN={}{}: serial {}, valid until {}",
        plan.key_algorithm,
        tenant.user(),
        tenant
            .groups()
            .iter()
            .map(|g| format!(", O={g}"))
            .collect::<String>(),
        minted.record.serial.as_deref().unwrap_or(""),
        minted.record.not_after
    );
    say!(
        out,
        "wrote {} (context {}@{}, server {})",
        plan.output.display(),
        tenant.user(),
        entry.name,
        entry.server.as_str()
    );
    say!(
        out,
        "wrote {} — apply it with: kubectl apply --server-side --field-manager=tenantctl -f {}",
        rbac_path.display(),
        rbac_path.display()
    );
    say!(
        out,
        "wrote {} — the tenant record; `kubectl apply -f` it to share it with `tenantctl list`",
        record_path.display()
    );
    Ok(())
}

/// `--csr-out FILE`: a key and a CSR for the tenant, for an offline CA. Never overwrites.
fn csr_out(plan: &CreatePlan, path: &Path, out: &mut impl Write) -> Result<(), Error> {
    let tenant = &plan.tenant;
    if tenant.auth() == AuthKind::Token {
        return Err(Error::Usage {
            flag: "--csr-out",
            message: "a token tenant has no certificate".into(),
        });
    }
    let key_path = path.with_extension("key");
    let key = pki_core::PrivateKey::generate(plan.key_algorithm)?;
    let csr = pki_core::Csr::build(&key, tenant.user(), tenant.groups(), &[])?;
    let key_pem = key.secret_pem()?;
    let csr_pem = csr.to_pem();
    fs::write_new_files(&[
        Pending {
            path: key_path.clone(),
            contents: key_pem.as_bytes(),
            secret: true,
        },
        Pending {
            path: path.to_owned(),
            contents: csr_pem.as_bytes(),
            secret: false,
        },
    ])
    .map_err(|e| match e {
        Error::Write { path, source } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Error::Exists { path }
        }
        e => e,
    })?;
    say!(
        out,
        "wrote {} (CN={}{}) and its key {} (0600)",
        path.display(),
        tenant.user(),
        tenant
            .groups()
            .iter()
            .map(|g| format!(", O={g}"))
            .collect::<String>(),
        key_path.display()
    );
    say!(
        out,
        "Have the CA sign it as a client certificate for at most {}, e.g.\n  openssl x509 -req -in {} -CA ca.crt -CAkey ca.key -days {} -extfile <(printf 'extendedKeyUsage=clientAuth\\nkeyUsage=critical,digitalSignature') -out {}.crt\nthen finish with: tenantctl create {} --cert {}.crt --key {} --role ...",
        humanize(plan.ttl),
        path.display(),
        plan.ttl.as_secs().div_ceil(86_400),
        path.with_extension("").display(),
        tenant.user(),
        path.with_extension("").display(),
        key_path.display()
    );
    Ok(())
}

/// The record as YAML: its namespace and its ConfigMap.
pub(crate) fn record_manifest(
    tenant: &Tenant,
    record: &TenantRecord,
    namespace: &str,
) -> Result<String, Error> {
    let ns = Namespace {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(namespace.to_owned()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "tenantctl".to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        ..Namespace::default()
    };
    let cm = record.to_config_map(tenant, namespace)?;
    Ok(manifest(
        &format!("tenantctl record of tenant {}", tenant.user()),
        &[yaml(&ns)?, yaml(&cm)?],
    ))
}

/// Offline: cluster name, server and CA from `--kubeconfig` (default: the `admin.conf` next to
/// the cert dir, kubeadm's layout) without contacting anything; `--server` overrides; the CA
/// falls back to the signing CA.
fn offline_cluster_entry(args: &CreateArgs, ca: &Certificate) -> Result<ClusterEntry, Error> {
    let path = args.cluster.kubeconfig.clone().or_else(|| {
        let p = args.cert_dir.parent()?.join("admin.conf");
        p.is_file().then_some(p)
    });
    let Some(path) = path else {
        let server: &ServerUrl = args.server.as_ref().ok_or_else(|| Error::Usage {
            flag: "--server",
            message: format!(
                "no admin kubeconfig next to {} to take the API server URL from; pass --server https://HOST:6443 or --kubeconfig FILE",
                args.cert_dir.display()
            ),
        })?;
        return Ok(ClusterEntry {
            name: "kubernetes".into(),
            server: server.clone(),
            ca_pem: ca.to_pem(),
        });
    };
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let kc = Kubeconfig::from_yaml(&text)?;
    let mut kc = kc;
    if let Some(ctx) = &args.cluster.context {
        kc.as_kube_mut().current_context = Some(ctx.clone());
    }
    let current = kc.current()?;
    let server = match &args.server {
        Some(s) => s.clone(),
        None => current.server.parse()?,
    };
    let ca_pem = match &current.ca {
        kubeconfig::ClusterCa::Embedded(pem) => pem.clone(),
        _ => ca.to_pem(),
    };
    Ok(ClusterEntry {
        name: current.cluster.to_owned(),
        server,
        ca_pem,
    })
}
