//! One tenant at a time, for the controller: the same plan and steps as `apply`, with what the
//! plan needs read for that tenant alone (its record, its labelled bindings, its namespace and
//! roles: a handful of reads, no writes), so a reconcile at rest writes nothing.

use super::*;

/// What reconciling one tenant did.
#[derive(Clone, Debug)]
pub struct Reconciled {
    /// Created, updated, renewed, unchanged, or failed.
    pub outcome: Outcome,
    /// What changed, or why it failed (or was refused).
    pub detail: String,
    /// Refused by the plan (a guardrail, a missing role or namespace, an identity change):
    /// nothing was changed.
    pub refused: bool,
    /// Warnings (a role that grants nothing, a CA about to expire).
    pub warnings: Vec<String>,
    /// The tenant's record after the work (none: never created).
    pub record: Option<TenantRecord>,
}

/// Makes one tenant as `desired` says, with `settings` (the delivery, the owner, the plan's
/// options) and the local CA, if any.
pub async fn reconcile_one(
    cluster: &Cluster,
    entry: &ClusterEntry,
    ca: Option<Arc<CertificateAuthority>>,
    desired: Desired,
    settings: &Settings,
) -> Result<Reconciled, Error> {
    let tenant = desired.spec.tenant.clone();
    let observed = observe_one(cluster, &desired.spec).await?;
    let action = plan(vec![desired], &observed, &settings.options)
        .pop()
        .ok_or_else(|| Error::Record {
            user: tenant.user().to_owned(),
            message: "the plan has no action".into(),
        })?;
    let refused = matches!(action, Action::Refuse { .. });
    if hands_out(&action) {
        ledger::ensure_namespace(cluster).await?;
    }
    let create_namespace = match &action {
        Action::Create(c) | Action::Recreate { create: c, .. } => c.create_namespace,
        Action::Update(u) => u.create_namespace,
        _ => false,
    };
    if create_namespace
        && let Some(ns) = desired_namespace(&action)
            .and_then(|spec| spec.bindings.objects(&spec.tenant).namespace)
    {
        cluster.apply_cluster(&ns).await?;
    }
    let ctx = Ctx {
        cluster,
        entry,
        ca,
        settings,
    };
    let changed = !matches!(action, Action::Unchanged { .. } | Action::Refuse { .. });
    let report = ctx.run(action).await;
    let record = if changed {
        ledger::load(cluster, &tenant).await?.map(|s| s.record)
    } else {
        observed.records.into_iter().next().map(|s| s.record)
    };
    Ok(Reconciled {
        outcome: report.action,
        detail: report.detail,
        refused,
        warnings: report.warnings,
        record,
    })
}

/// Revokes `user`'s record for `reason` (bindings and ServiceAccount deleted, record and
/// credentials marked) when it is in `set` (the object that manages it). Nothing is written
/// when it is revoked already, in another set, or there is none; `None` for the last two.
pub async fn revoke_one(
    cluster: &Cluster,
    user: &str,
    reason: &str,
    set: &str,
    now: SystemTime,
) -> Result<Option<TenantRecord>, Error> {
    let probe = Tenant::new(user, &[], AuthKind::Cert, true)
        .or_else(|_| Tenant::new(user, &[], AuthKind::Token, true))?;
    let Some(stored) = ledger::load(cluster, &probe).await? else {
        return Ok(None);
    };
    if stored.record.set.as_deref() != Some(set) {
        return Ok(None);
    }
    if stored.record.phase == Phase::Revoked {
        return Ok(Some(stored.record));
    }
    let r = &stored.record;
    let tenant = Tenant::new(&r.user, &r.groups, r.auth, true)?;
    let (revoked, _) = revoke_stored(cluster, &tenant, stored, now, Some(reason)).await?;
    Ok(Some(revoked.record))
}

fn desired_namespace(action: &Action) -> Option<&TenantSpec> {
    match action {
        Action::Create(c) | Action::Recreate { create: c, .. } => Some(&c.desired.spec),
        Action::Update(u) => Some(&u.desired.spec),
        _ => None,
    }
}

/// What the plan needs about one tenant: its record, the bindings labelled as its own, whether
/// its namespace exists, its roles' rules (a missing role is left out: the plan refuses it), and
/// its ServiceAccount.
async fn observe_one(cluster: &Cluster, spec: &TenantSpec) -> Result<Observed, Error> {
    let tenant = &spec.tenant;
    let mine = ListParams::default().labels(&super::super::tenant_selector(tenant));
    let ns = spec.bindings.namespace.as_deref();
    let (record, crbs, rbs, namespace_exists) = tokio::try_join!(
        ledger::load(cluster, tenant),
        cluster.list_all::<ClusterRoleBinding>(&mine),
        cluster.list_all::<RoleBinding>(&mine),
        async {
            match ns {
                Some(ns) => cluster.namespace_exists(ns).await,
                None => Ok(false),
            }
        },
    )?;
    let mut observed = Observed {
        records: record.into_iter().collect(),
        bindings: crbs
            .into_iter()
            .map(Binding::Cluster)
            .chain(rbs.into_iter().map(Binding::Namespaced))
            .collect(),
        ..Observed::default()
    };
    if let (true, Some(ns)) = (namespace_exists, ns) {
        observed.namespaces.insert(ns.to_owned());
    }
    for role in &spec.bindings.roles {
        let rules = match cluster.role_rules(role.kind, &role.name, ns).await {
            Ok(rules) => rules,
            Err(Error::UnknownRole { .. }) => continue,
            Err(e) => return Err(e),
        };
        match (role.kind, ns) {
            (RoleKind::Role, Some(ns)) => {
                observed
                    .roles
                    .insert((ns.to_owned(), role.name.clone()), rules);
            }
            _ => {
                observed.cluster_roles.insert(role.name.clone(), rules);
            }
        }
    }
    if let (AuthKind::Token, Some(ns)) = (tenant.auth(), ns) {
        let sa: Option<ServiceAccount> = cluster.get_namespaced(ns, tenant.user()).await?;
        if sa.is_some() {
            observed
                .service_accounts
                .insert((ns.to_owned(), tenant.user().to_owned()));
        }
    }
    Ok(observed)
}
