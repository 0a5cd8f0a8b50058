//! The steps one tenant's action runs (create, update, revoke), each undone on failure before
//! anything is handed out.

use super::*;

/// What the per-tenant steps share.
pub(super) struct Ctx<'a> {
    pub(super) cluster: &'a Cluster,
    pub(super) entry: &'a ClusterEntry,
    pub(super) ca: Option<Arc<CertificateAuthority>>,
    pub(super) settings: &'a Settings,
}

/// What a successful step leaves.
#[derive(Default)]
pub(super) struct Done {
    pub(super) kubeconfig: Option<String>,
    pub(super) warnings: Vec<String>,
}

impl Ctx<'_> {
    pub(super) async fn run(&self, action: Action) -> Report {
        let user = action.user().to_owned();
        let outcome = action.outcome();
        let detail = action.describe();
        let result = match action {
            Action::Create(c) => self.create(*c).await,
            Action::Recreate { stored, create } => match self.revoke(*stored, "recreated").await {
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
            Action::Revoke { stored } => self.revoke(*stored, "pruned").await.map(|(_, done)| done),
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

    pub(super) fn now(&self) -> SystemTime {
        self.settings.options.now
    }

    /// Where the tenant's kubeconfig goes, for messages and reports.
    pub(super) fn destination(&self, tenant: &Tenant) -> String {
        match &self.settings.delivery {
            Delivery::Files { out_dir, .. } => out_dir
                .join(tenant.file_name("kubeconfig"))
                .display()
                .to_string(),
            Delivery::Secret { namespace, name } => format!("secret/{name} in {namespace}"),
        }
    }

    /// `b` with the label of `--set`, if any, and the owner, if any.
    pub(super) fn in_set(&self, b: &Binding) -> Binding {
        let mut b = b.clone();
        let meta = match &mut b {
            Binding::Cluster(crb) => &mut crb.metadata,
            Binding::Namespaced(rb) => &mut rb.metadata,
        };
        if let Some(set) = &self.settings.options.set {
            meta.labels
                .get_or_insert_default()
                .insert(SET_LABEL.to_owned(), set.clone());
        }
        if let Some(owner) = &self.settings.owner {
            meta.owner_references = Some(vec![owner.clone()]);
        }
        b
    }

    /// The tenant's kubeconfig may be written: a file absent, holding one of the tenant's own
    /// credentials, or `--overwrite`; a Secret absent or tenantctl's for this tenant.
    pub(super) async fn may_write(
        &self,
        spec: &TenantSpec,
        record: Option<&TenantRecord>,
    ) -> Result<(), Error> {
        let tenant = &spec.tenant;
        match &self.settings.delivery {
            Delivery::Files {
                overwrite: true, ..
            } => Ok(()),
            Delivery::Files { out_dir, .. } => owned::check(
                &out_dir.join(tenant.file_name("kubeconfig")),
                tenant,
                spec.bindings.namespace.as_deref(),
                record,
            ),
            Delivery::Secret { namespace, name } => {
                let found: Option<Secret> = self.cluster.get_namespaced(namespace, name).await?;
                match found {
                    Some(s) if !objects::is_tenants(&s.metadata, tenant) => Err(Error::Record {
                        user: tenant.user().to_owned(),
                        message: format!(
                            "secret/{name} in {namespace} exists and is not the kubeconfig Secret tenantctl keeps for this tenant; name another in spec.kubeconfigSecret, or delete it"
                        ),
                    }),
                    _ => Ok(()),
                }
            }
        }
    }

    /// A key and certificate: the local CA's on the blocking pool (keygen is CPU work), or the
    /// CSR API's.
    pub(super) async fn mint(&self, spec: &TenantSpec) -> Result<Minted, Error> {
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

    /// Writes a kubeconfig: a file (0600, atomic, replacing an older one) on the blocking
    /// pool, or the Secret (server-side apply). Returns where it went.
    pub(super) async fn write(
        &self,
        tenant: &Tenant,
        kubeconfig: &Kubeconfig,
    ) -> Result<String, Error> {
        let yaml = kubeconfig.to_yaml()?;
        match &self.settings.delivery {
            Delivery::Files { out_dir, .. } => {
                let path = out_dir.join(tenant.file_name("kubeconfig"));
                let target = path.clone();
                tokio::task::spawn_blocking(move || {
                    fs::write_secret(&target, yaml.as_bytes(), true)
                })
                .await
                .map_err(|e| Error::Write {
                    path: path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })??;
                Ok(path.display().to_string())
            }
            Delivery::Secret { namespace, name } => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(namespace.clone()),
                        labels: Some(objects::labels(tenant)),
                        owner_references: self.settings.owner.clone().map(|o| vec![o]),
                        ..ObjectMeta::default()
                    },
                    type_: Some("Opaque".into()),
                    data: Some(std::collections::BTreeMap::from([(
                        KUBECONFIG_KEY.to_owned(),
                        k8s_openapi::ByteString(yaml.as_bytes().to_vec()),
                    )])),
                    ..Secret::default()
                };
                self.cluster.apply_namespaced(namespace, &secret).await?;
                Ok(self.destination(tenant))
            }
        }
    }

    pub(super) async fn create(&self, c: Create) -> Result<Done, String> {
        let tenant = c.desired.spec.tenant.clone();
        let mut undo = Undo::default();
        match self.create_steps(&c, &mut undo).await {
            Ok(done) => Ok(done),
            Err(Handed::Before(e)) => Err(chain(&undo.run(self.cluster, e).await)),
            Err(Handed::After(e)) => Err(format!(
                "{} was written and its credential is recorded, but the record could not be marked Active ({}); it stays Pending: apply again to finish",
                self.destination(&tenant),
                chain(&e)
            )),
        }
    }

    pub(super) async fn create_steps(&self, c: &Create, undo: &mut Undo) -> Result<Done, Handed> {
        let cluster = self.cluster;
        let spec = &c.desired.spec;
        let tenant = &spec.tenant;
        let objects = spec.bindings.objects(tenant);
        let ns = spec.bindings.namespace.as_deref().unwrap_or_default();
        let mut done = Done::default();
        self.may_write(spec, c.previous.as_ref().map(|p| &p.record))
            .await?;

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

    pub(super) async fn update(&self, u: Update) -> Result<Done, String> {
        self.update_steps(u).await.map_err(|e| chain(&e))
    }

    pub(super) async fn update_steps(&self, u: Update) -> Result<Done, Error> {
        let cluster = self.cluster;
        let spec = &u.desired.spec;
        let tenant = &spec.tenant;
        let objects = spec.bindings.objects(tenant);
        let ns = spec.bindings.namespace.as_deref();
        let mut done = Done::default();
        if u.renew {
            self.may_write(spec, Some(&u.stored.record)).await?;
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

    pub(super) async fn revoke(
        &self,
        stored: Stored,
        reason: &str,
    ) -> Result<(Stored, Done), String> {
        let r = &stored.record;
        let tenant = Tenant::new(&r.user, &r.groups, r.auth, true).map_err(|e| chain(&e))?;
        let (revoked, _) = revoke_stored(self.cluster, &tenant, stored, self.now(), Some(reason))
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
    pub(super) async fn check_access(
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
        let (probes, warnings) = probes(&user, ns, rules);
        for Probe {
            verb,
            group,
            resource,
            what,
            ..
        } in probes
        {
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
pub(super) enum Handed {
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
pub(super) fn still(r: &TenantRecord, phase: Phase) -> Result<(), Error> {
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

pub(super) async fn apply_binding(cluster: &Cluster, b: &Binding) -> Result<Option<String>, Error> {
    Ok(match b {
        Binding::Cluster(crb) => cluster.apply_cluster(crb).await?.metadata.uid,
        Binding::Namespaced(rb) => {
            let ns = rb.metadata.namespace.as_deref().unwrap_or_default();
            cluster.apply_namespaced(ns, rb).await?.metadata.uid
        }
    })
}

/// Delete only the object that was listed.
pub(super) fn uid_of(b: &Binding) -> Option<Preconditions> {
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
pub(super) fn chain(e: &Error) -> String {
    crate::error::chain(e)
}
