//! Planning `apply`: the tenants the file asks for and what the cluster has — read once, up
//! front: every record, every binding tenantctl made, the namespaces and roles — in; one action
//! per tenant out. Pure (no I/O), so every case is a unit test.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    time::{Duration, SystemTime},
};

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Serialize;

use super::super::{
    AuthKind, Binding, Phase, RoleKind, RoleRef, Tenant,
    ledger::Stored,
    names::{CONTROLLER_SET_PREFIX, TENANT_LABEL, privileged},
    spec::TenantSpec,
};
use super::file::Desired;

/// What the cluster has, as listed before planning.
#[derive(Clone, Debug, Default)]
pub(super) struct Observed {
    /// Every tenant record.
    pub(super) records: Vec<Stored>,
    /// Every ClusterRoleBinding and RoleBinding labelled as tenantctl's.
    pub(super) bindings: Vec<Binding>,
    /// Every namespace.
    pub(super) namespaces: BTreeSet<String>,
    /// Every ClusterRole, with its rules.
    pub(super) cluster_roles: BTreeMap<String, Vec<PolicyRule>>,
    /// Every Role, by (namespace, name), with its rules.
    pub(super) roles: BTreeMap<(String, String), Vec<PolicyRule>>,
    /// Every ServiceAccount labelled as tenantctl's, by (namespace, name).
    pub(super) service_accounts: BTreeSet<(String, String)>,
}

/// How to plan.
#[derive(Clone, Debug)]
pub struct Options {
    /// The set (`--set`) the file's tenants are labelled with; `--prune` works within it.
    pub set: Option<String>,
    /// Revoke the set's Active tenants the file does not name (only with `set`).
    pub prune: bool,
    /// Revoke and re-create tenants whose identity (auth, groups) changed.
    pub recreate: bool,
    /// Renew credentials that expire within this long.
    pub renew_within: Option<Duration>,
    /// Renew whatever the expiry (the controller: the kubeconfig's Secret was lost).
    pub renew_now: bool,
    /// The uid of the object that owns the tenant's bindings (the controller's Tenant): a
    /// binding without that owner is applied again.
    pub owner: Option<String>,
    /// `--allow-privileged`.
    pub allow_privileged: bool,
    /// The time the plan is made at.
    pub now: SystemTime,
}

/// What happens to one tenant.
#[derive(Clone, Debug)]
pub(super) enum Action {
    /// New (or revoked, or a Pending create resumed): a credential, bindings, a record.
    Create(Box<Create>),
    /// Active: bindings reconciled and/or the credential renewed.
    Update(Box<Update>),
    /// Active and as the file says.
    Unchanged {
        /// The tenant.
        desired: Box<Desired>,
    },
    /// Active, identity changed, `--recreate`: revoked, then created.
    Recreate {
        /// The record to revoke first.
        stored: Box<Stored>,
        /// The create that follows.
        create: Box<Create>,
    },
    /// In the ledger, not in the file, `--prune`.
    Revoke {
        /// The record.
        stored: Box<Stored>,
    },
    /// Cannot be made as the file says; nothing is changed for it.
    Refuse {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
}

/// A tenant to create.
#[derive(Clone, Debug)]
pub(super) struct Create {
    /// What the file says.
    pub(super) desired: Desired,
    /// Its namespace does not exist and is created.
    pub(super) create_namespace: bool,
    /// A Pending record (resumed) or a Revoked one (replaced, keeping its history).
    pub(super) previous: Option<Stored>,
    /// Bindings labelled as this tenant's that the file no longer asks for.
    pub(super) stale: Vec<Binding>,
    /// Each role with its rules (for the access check).
    pub(super) rules: Vec<(RoleRef, Vec<PolicyRule>)>,
}

/// Changes to an Active tenant; the credential is kept unless `renew`.
#[derive(Clone, Debug)]
pub(super) struct Update {
    /// What the file says.
    pub(super) desired: Desired,
    /// The record as read.
    pub(super) stored: Stored,
    /// Its namespace does not exist and is created.
    pub(super) create_namespace: bool,
    /// The ServiceAccount of a token tenant is missing and is applied.
    pub(super) service_account: bool,
    /// Bindings to apply (missing or different).
    pub(super) apply: Vec<Binding>,
    /// Bindings to delete.
    pub(super) delete: Vec<Binding>,
    /// The record's roles, namespace or bindings change.
    pub(super) record: bool,
    /// The current credential expires within `--renew-within` (or there is none).
    pub(super) renew: bool,
    /// Each role with its rules (for the access check).
    pub(super) rules: Vec<(RoleRef, Vec<PolicyRule>)>,
}

/// The kind of an action, as the summary counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Created (or re-created).
    Created,
    /// Bindings reconciled.
    Updated,
    /// Credential renewed (bindings maybe reconciled too).
    Renewed,
    /// Nothing to do.
    Unchanged,
    /// Revoked by `--prune`.
    Revoked,
    /// Refused or failed.
    Failed,
}

impl Outcome {
    /// `created`, `updated`, `renewed`, `unchanged`, `revoked`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Renewed => "renewed",
            Self::Unchanged => "unchanged",
            Self::Revoked => "revoked",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    /// The tenant's user name.
    pub(super) fn user(&self) -> &str {
        match self {
            Self::Create(c) | Self::Recreate { create: c, .. } => c.desired.spec.tenant.user(),
            Self::Update(u) => u.desired.spec.tenant.user(),
            Self::Unchanged { desired } => desired.spec.tenant.user(),
            Self::Revoke { stored } => &stored.record.user,
            Self::Refuse { user, .. } => user,
        }
    }

    /// What the action will count as when it succeeds.
    pub(super) fn outcome(&self) -> Outcome {
        match self {
            Self::Create(_) | Self::Recreate { .. } => Outcome::Created,
            Self::Update(u) if u.renew => Outcome::Renewed,
            Self::Update(_) => Outcome::Updated,
            Self::Unchanged { .. } => Outcome::Unchanged,
            Self::Revoke { .. } => Outcome::Revoked,
            Self::Refuse { .. } => Outcome::Failed,
        }
    }

    /// One line on what the action changes, for the plan and the summary.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Create(c) => c.describe(),
            Self::Recreate { create, .. } => {
                format!("revoke (identity changed), then {}", create.describe())
            }
            Self::Update(u) => u.describe(),
            Self::Unchanged { .. } => "as the file says".into(),
            Self::Revoke { stored } => format!(
                "not in the file: revoke ({} binding(s))",
                stored.record.bindings.len()
            ),
            Self::Refuse { reason, .. } => reason.clone(),
        }
    }
}

impl Create {
    fn describe(&self) -> String {
        let spec = &self.desired.spec;
        let mut parts = vec![format!(
            "{} credential",
            match spec.tenant.auth() {
                AuthKind::Cert => spec.key_algorithm.to_string(),
                AuthKind::Token => "token".into(),
            }
        )];
        if self.create_namespace {
            parts.push(format!(
                "namespace/{}",
                spec.bindings.namespace.as_deref().unwrap_or_default()
            ));
        }
        for b in spec.bindings.objects(&spec.tenant).bindings {
            parts.push(b.describe());
        }
        for b in &self.stale {
            parts.push(format!("delete {}", b.describe()));
        }
        let what = match self.previous.as_ref().map(|p| p.record.phase) {
            Some(Phase::Pending) => "resume the Pending create",
            Some(_) => "create again",
            None => "create",
        };
        format!("{what}: {}", parts.join(", "))
    }
}

impl Update {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.create_namespace {
            parts.push(format!(
                "namespace/{}",
                self.desired
                    .spec
                    .bindings
                    .namespace
                    .as_deref()
                    .unwrap_or_default()
            ));
        }
        if self.service_account {
            parts.push(format!(
                "serviceaccount/{}",
                self.desired.spec.tenant.user()
            ));
        }
        parts.extend(self.apply.iter().map(Binding::describe));
        parts.extend(
            self.delete
                .iter()
                .map(|b| format!("delete {}", b.describe())),
        );
        if self.renew {
            let until = self
                .stored
                .record
                .current_credential()
                .map_or_else(|| "none".to_owned(), |c| c.not_after.clone());
            parts.push(format!("renew the credential (current ends {until})"));
        } else if !parts.is_empty() {
            parts.push("credential unchanged".into());
        } else {
            parts.push("record brought up to date".into());
        }
        parts.join(", ")
    }
}

/// One action per tenant of the file (in its order), then the prunes.
pub(super) fn plan(desired: Vec<Desired>, observed: &Observed, options: &Options) -> Vec<Action> {
    let records: BTreeMap<&str, &Stored> = observed
        .records
        .iter()
        .map(|s| (s.record.user.as_str(), s))
        .collect();
    let named: BTreeSet<String> = desired
        .iter()
        .map(|d| d.spec.tenant.user().to_owned())
        .collect();
    let mut actions: Vec<Action> = desired
        .into_iter()
        .map(|d| {
            let user = d.spec.tenant.user().to_owned();
            plan_one(d, records.get(user.as_str()).copied(), observed, options)
        })
        .collect();
    if let (true, Some(set)) = (options.prune, &options.set) {
        actions.extend(
            observed
                .records
                .iter()
                .filter(|s| {
                    s.record.phase == Phase::Active
                        && s.record.set.as_ref() == Some(set)
                        && !named.contains(&s.record.user)
                })
                .map(|s| Action::Revoke {
                    stored: Box::new(s.clone()),
                }),
        );
    }
    actions
}

fn plan_one(
    desired: Desired,
    stored: Option<&Stored>,
    observed: &Observed,
    options: &Options,
) -> Action {
    let spec = &desired.spec;
    let user = spec.tenant.user().to_owned();
    let refuse = |reason: String| Action::Refuse {
        user: user.clone(),
        reason,
    };
    let (create_namespace, rules) = match cluster_checks(spec, observed, options) {
        Ok(found) => found,
        Err(reason) => return refuse(reason),
    };
    let mine = bindings_of(&spec.tenant, observed);
    let wanted = spec.bindings.objects(&spec.tenant).bindings;
    let stale: Vec<Binding> = mine
        .iter()
        .filter(|b| !wanted.iter().any(|w| same_place(w, b)))
        .map(|b| (*b).clone())
        .collect();
    let create = |previous: Option<Stored>| Create {
        desired: desired.clone(),
        create_namespace,
        previous,
        stale: stale.clone(),
        rules: rules.clone(),
    };
    let Some(stored) = stored else {
        return Action::Create(Box::new(create(None)));
    };
    let record = &stored.record;
    if let (Some(mine), Some(theirs)) = (&options.set, &record.set)
        && mine != theirs
        && theirs.starts_with(CONTROLLER_SET_PREFIX)
        && record.phase != Phase::Revoked
    {
        return refuse(format!(
            "user {user:?} is managed by another Tenant object (its record is in set {theirs}); one Tenant object per user"
        ));
    }
    match record.phase {
        Phase::Revoked => return Action::Create(Box::new(create(Some(stored.clone())))),
        Phase::Pending => {
            if let Some(why) = spec.same_identity(record) {
                return refuse(format!(
                    "is Pending (a create that did not finish) and {why}; finish or revoke it first"
                ));
            }
            return Action::Create(Box::new(create(Some(stored.clone()))));
        }
        Phase::Active => {}
    }
    if let Some(why) = spec.same_identity(record) {
        if options.recreate {
            return Action::Recreate {
                stored: Box::new(stored.clone()),
                create: Box::new(create(None)),
            };
        }
        return refuse(format!(
            "{why}: that is in the credential itself; `tenantctl revoke {user}` and apply again, or pass --recreate"
        ));
    }
    // A tenant joining the set (or moving to it) gets every binding labelled anew.
    let relabel = options
        .set
        .as_ref()
        .is_some_and(|set| record.set.as_ref() != Some(set));
    let apply: Vec<Binding> = wanted
        .iter()
        .filter(|w| {
            relabel
                || !mine
                    .iter()
                    .any(|b| same_binding(w, b) && owned_by(b, options.owner.as_deref()))
        })
        .cloned()
        .collect();
    let service_account = spec.tenant.auth() == AuthKind::Token
        && !spec.bindings.namespace.as_ref().is_some_and(|ns| {
            observed
                .service_accounts
                .contains(&(ns.clone(), user.clone()))
        });
    let asked = TenantRecordView::of(spec);
    let record_changes = !TenantRecordView::from_record(record).same(&asked) || relabel;
    let renew = options.renew_now
        || match record.current_credential() {
            None => true,
            Some(c) => options
                .renew_within
                .is_some_and(|within| c.expires().is_none_or(|end| end <= options.now + within)),
        };
    if apply.is_empty()
        && stale.is_empty()
        && !service_account
        && !record_changes
        && !renew
        && !create_namespace
    {
        return Action::Unchanged {
            desired: Box::new(desired),
        };
    }
    Action::Update(Box::new(Update {
        desired,
        stored: stored.clone(),
        create_namespace,
        service_account,
        apply,
        delete: stale,
        record: record_changes,
        renew,
        rules,
    }))
}

/// The namespace (exists, or is to be created) and the roles (exist; not privileged
/// cluster-wide unless allowed), as `create` checks them.
#[allow(clippy::type_complexity)]
fn cluster_checks(
    spec: &TenantSpec,
    observed: &Observed,
    options: &Options,
) -> Result<(bool, Vec<(RoleRef, Vec<PolicyRule>)>), String> {
    let ns = spec.bindings.namespace.as_deref();
    let create_namespace = match ns {
        Some(ns) if !observed.namespaces.contains(ns) => {
            if !spec.bindings.create_namespace {
                return Err(format!(
                    "namespace {ns} does not exist; set spec.createNamespace: true to create it"
                ));
            }
            true
        }
        _ => false,
    };
    let mut rules = Vec::new();
    for role in &spec.bindings.roles {
        let found = match (role.kind, ns) {
            (RoleKind::ClusterRole, _) => observed.cluster_roles.get(&role.name),
            (RoleKind::Role, Some(ns)) => observed.roles.get(&(ns.to_owned(), role.name.clone())),
            (RoleKind::Role, None) => None,
        };
        let Some(found) = found else {
            return Err(match (role.kind, ns) {
                (RoleKind::Role, Some(ns)) => {
                    format!("Role {:?} not found in namespace {ns}", role.name)
                }
                _ => format!("ClusterRole {:?} not found", role.name),
            });
        };
        if ns.is_none()
            && !options.allow_privileged
            && let Some(why) = privileged(role, Some(found))
        {
            return Err(format!(
                "refusing a cluster-wide binding of {role} ({why}): bind it in a namespace, or pass --allow-privileged"
            ));
        }
        rules.push((role.clone(), found.clone()));
    }
    Ok((create_namespace, rules))
}

/// The bindings labelled as `tenant`'s.
fn bindings_of<'a>(tenant: &Tenant, observed: &'a Observed) -> Vec<&'a Binding> {
    let label = tenant.label();
    observed
        .bindings
        .iter()
        .filter(|b| {
            meta(b)
                .labels
                .as_ref()
                .and_then(|l| l.get(TENANT_LABEL))
                .is_some_and(|v| *v == label)
        })
        .collect()
}

fn meta(b: &Binding) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    match b {
        Binding::Cluster(crb) => &crb.metadata,
        Binding::Namespaced(rb) => &rb.metadata,
    }
}

/// `b` names `owner` (a uid) among its owners, or no owner is asked for.
fn owned_by(b: &Binding, owner: Option<&str>) -> bool {
    owner.is_none_or(|uid| {
        meta(b)
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == uid)
    })
}

/// The same object (kind, namespace, name).
fn same_place(a: &Binding, b: &Binding) -> bool {
    let (ma, mb) = (meta(a), meta(b));
    matches!(
        (a, b),
        (Binding::Cluster(_), Binding::Cluster(_))
            | (Binding::Namespaced(_), Binding::Namespaced(_))
    ) && ma.name == mb.name
        && ma.namespace == mb.namespace
}

/// The same object granting the same role to the same subjects.
fn same_binding(wanted: &Binding, have: &Binding) -> bool {
    if !same_place(wanted, have) {
        return false;
    }
    let parts = |b: &Binding| match b {
        Binding::Cluster(crb) => (
            crb.role_ref.clone(),
            crb.subjects.clone().unwrap_or_default(),
        ),
        Binding::Namespaced(rb) => (rb.role_ref.clone(), rb.subjects.clone().unwrap_or_default()),
    };
    let (wr, ws) = parts(wanted);
    let (hr, hs) = parts(have);
    wr.kind == hr.kind
        && wr.name == hr.name
        && ws.len() == hs.len()
        && ws.iter().all(|s| {
            hs.iter().any(|h| {
                h.kind == s.kind
                    && h.name == s.name
                    && h.namespace == s.namespace
                    && h.api_group.as_deref().unwrap_or_default()
                        == s.api_group.as_deref().unwrap_or_default()
            })
        })
}

/// The parts of a record a file can change without a new credential.
#[derive(PartialEq, Eq)]
struct TenantRecordView {
    roles: Vec<RoleRef>,
    namespace: Option<String>,
    bind_group: bool,
}

impl TenantRecordView {
    fn of(spec: &TenantSpec) -> Self {
        let mut roles = spec.bindings.roles.clone();
        roles.sort();
        Self {
            roles,
            namespace: spec.bindings.namespace.clone(),
            bind_group: spec.bindings.bind_group,
        }
    }

    fn from_record(record: &super::super::TenantRecord) -> Self {
        let mut roles = record.roles.clone();
        roles.sort();
        Self {
            roles,
            namespace: record.namespace.clone(),
            bind_group: record.bind_group,
        }
    }

    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

#[cfg(test)]
mod tests;
