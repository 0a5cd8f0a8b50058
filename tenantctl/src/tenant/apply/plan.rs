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

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Renewed => "renewed",
            Self::Unchanged => "unchanged",
            Self::Revoked => "revoked",
            Self::Failed => "failed",
        })
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
mod tests {
    use super::super::file::{ParseOptions, parse};
    use super::*;
    use crate::tenant::{CredentialRecord, TenantRecord};
    use crate::time::rfc3339;
    use k8s_openapi::api::rbac::v1::PolicyRule;

    const DAY: Duration = Duration::from_secs(86_400);

    fn desired(text: &str) -> Vec<Desired> {
        parse("t.yaml", text, ParseOptions::default()).unwrap()
    }

    fn doc(user: &str, extra: &str) -> String {
        format!(
            "apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata: {{name: {user}}}\nspec:\n  roles: [view]\n{extra}---\n"
        )
    }

    fn observed() -> Observed {
        let view = vec![PolicyRule {
            verbs: vec!["get".into()],
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["pods".into()]),
            ..PolicyRule::default()
        }];
        let admin = vec![PolicyRule {
            verbs: vec!["*".into()],
            api_groups: Some(vec!["*".into()]),
            resources: Some(vec!["*".into()]),
            ..PolicyRule::default()
        }];
        Observed {
            namespaces: ["default", "team-a"].map(String::from).into(),
            cluster_roles: BTreeMap::from([
                ("view".to_owned(), view.clone()),
                ("edit".to_owned(), view.clone()),
                ("super".to_owned(), admin),
            ]),
            roles: BTreeMap::from([(("team-a".to_owned(), "deployer".to_owned()), view)]),
            ..Observed::default()
        }
    }

    fn options(now: SystemTime) -> Options {
        Options {
            set: None,
            prune: false,
            recreate: false,
            renew_within: None,
            renew_now: false,
            owner: None,
            allow_privileged: false,
            now,
        }
    }

    /// The cluster after a successful apply of `d`: its record and bindings.
    fn applied(observed: &mut Observed, d: &Desired, now: SystemTime, ttl: Duration) {
        let spec = &d.spec;
        let record = TenantRecord {
            user: spec.tenant.user().into(),
            phase: Phase::Active,
            auth: spec.tenant.auth(),
            groups: spec.tenant.groups().to_vec(),
            namespace: spec.bindings.namespace.clone(),
            created_namespace: false,
            service_account: None,
            roles: spec.bindings.roles.clone(),
            bindings: spec.bindings.binding_refs(&spec.tenant),
            bind_group: spec.bindings.bind_group,
            credentials: vec![CredentialRecord::token(now, now + ttl)],
            created: rfc3339(now),
            revoked: None,
            set: None,
            revoked_reason: None,
        };
        observed.records.retain(|s| s.record.user != record.user);
        observed.records.push(Stored {
            record,
            resource_version: "1".into(),
            uid: "u".into(),
        });
        let label = spec.tenant.label();
        observed
            .bindings
            .retain(|b| meta(b).labels.as_ref().and_then(|l| l.get(TENANT_LABEL)) != Some(&label));
        observed
            .bindings
            .extend(spec.bindings.objects(&spec.tenant).bindings);
        if let (AuthKind::Token, Some(ns)) = (spec.tenant.auth(), &spec.bindings.namespace) {
            observed
                .service_accounts
                .insert((ns.clone(), spec.tenant.user().into()));
        }
    }

    fn kinds(actions: &[Action]) -> Vec<(String, Outcome)> {
        actions
            .iter()
            .map(|a| (a.user().to_owned(), a.outcome()))
            .collect()
    }

    #[test]
    fn new_tenants_are_created_and_a_second_plan_is_all_unchanged() {
        let now = SystemTime::now();
        let text = format!(
            "{}{}{}",
            doc("alice", ""),
            doc("bob", "  namespace: new-ns\n  createNamespace: true\n"),
            doc("ci", "  auth: token\n  namespace: team-a\n")
        );
        let mut seen = observed();
        let first = plan(desired(&text), &seen, &options(now));
        assert_eq!(
            kinds(&first),
            [
                ("alice".into(), Outcome::Created),
                ("bob".into(), Outcome::Created),
                ("ci".into(), Outcome::Created)
            ]
        );
        let Action::Create(bob) = &first[1] else {
            panic!()
        };
        assert!(bob.create_namespace);
        for d in desired(&text) {
            applied(&mut seen, &d, now, DAY * 30);
        }
        seen.namespaces.insert("new-ns".into());
        let second = plan(desired(&text), &seen, &options(now));
        assert!(
            second.iter().all(|a| a.outcome() == Outcome::Unchanged),
            "{:?}",
            kinds(&second)
        );
    }

    #[test]
    fn role_changes_reconcile_bindings_and_keep_the_credential() {
        let now = SystemTime::now();
        let mut seen = observed();
        let before = desired(&doc("alice", "  namespace: team-a\n"));
        applied(&mut seen, &before[0], now, DAY * 30);
        let after = desired(
            &doc("alice", "  namespace: team-a\n").replace("[view]", "[edit, Role/deployer]"),
        );
        let actions = plan(after, &seen, &options(now));
        let Action::Update(u) = &actions[0] else {
            panic!("{:?}", kinds(&actions))
        };
        assert!(!u.renew && u.record);
        let names = |v: &[Binding]| {
            v.iter()
                .map(|b| meta(b).name.clone().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&u.apply),
            ["tenantctl:alice:edit", "tenantctl:alice:role:deployer"]
        );
        assert_eq!(names(&u.delete), ["tenantctl:alice:view"]);
        assert_eq!(actions[0].outcome(), Outcome::Updated);
        // A binding deleted by hand is put back.
        seen.bindings.clear();
        let again = plan(before, &seen, &options(now));
        let Action::Update(u) = &again[0] else {
            panic!()
        };
        assert_eq!(names(&u.apply), ["tenantctl:alice:view"]);
        assert!(!u.record);
    }

    #[test]
    fn identity_changes_are_refused_unless_recreate() {
        let now = SystemTime::now();
        let mut seen = observed();
        applied(&mut seen, &desired(&doc("alice", ""))[0], now, DAY);
        let grouped = desired(&doc("alice", "  groups: [dev]\n"));
        let refused = plan(grouped.clone(), &seen, &options(now));
        let Action::Refuse { reason, .. } = &refused[0] else {
            panic!()
        };
        assert!(
            reason.contains("groups are [] in the cluster, [dev] in the file"),
            "{reason}"
        );
        assert!(reason.contains("--recreate"), "{reason}");
        let recreate = plan(
            grouped,
            &seen,
            &Options {
                recreate: true,
                ..options(now)
            },
        );
        assert!(matches!(recreate[0], Action::Recreate { .. }));
        let token = desired(&doc("alice", "  auth: token\n  namespace: team-a\n"));
        let Action::Refuse { reason, .. } = &plan(token, &seen, &options(now))[0] else {
            panic!()
        };
        assert!(
            reason.contains("auth is cert in the cluster, token in the file"),
            "{reason}"
        );
    }

    #[test]
    fn expiring_credentials_are_renewed() {
        let now = SystemTime::now();
        let mut seen = observed();
        let d = desired(&doc("alice", ""));
        applied(&mut seen, &d[0], now, DAY * 2);
        let within = |w| Options {
            renew_within: Some(w),
            ..options(now)
        };
        assert_eq!(
            plan(d.clone(), &seen, &within(DAY))[0].outcome(),
            Outcome::Unchanged
        );
        let renewing = plan(d.clone(), &seen, &within(DAY * 3));
        assert_eq!(renewing[0].outcome(), Outcome::Renewed);
        assert_eq!(
            plan(d, &seen, &options(now))[0].outcome(),
            Outcome::Unchanged
        );
    }

    #[test]
    fn prune_revokes_only_active_tenants_not_named() {
        let now = SystemTime::now();
        let mut seen = observed();
        for u in ["alice", "bob", "carol"] {
            applied(&mut seen, &desired(&doc(u, ""))[0], now, DAY);
        }
        for u in ["dave", "erin"] {
            applied(&mut seen, &desired(&doc(u, ""))[0], now, DAY);
        }
        for r in &mut seen.records[..3] {
            r.record.set = Some("team".into());
        }
        // carol is Revoked; dave came from `create` (no set); erin is another set's.
        seen.records[2].record.phase = Phase::Revoked;
        seen.records[4].record.set = Some("other".into());
        let file = desired(&doc("alice", ""));
        let in_set = Options {
            set: Some("team".into()),
            ..options(now)
        };
        assert_eq!(plan(file.clone(), &seen, &in_set).len(), 1);
        let pruned = plan(
            file,
            &seen,
            &Options {
                prune: true,
                ..in_set
            },
        );
        assert_eq!(
            kinds(&pruned),
            [
                ("alice".into(), Outcome::Unchanged),
                ("bob".into(), Outcome::Revoked)
            ]
        );
        // Without --set nothing is pruned, whatever `prune` says (the CLI refuses that).
        let unset = Options {
            prune: true,
            ..options(now)
        };
        assert_eq!(plan(desired(&doc("alice", "")), &seen, &unset).len(), 1);
    }

    #[test]
    fn cluster_checks_refuse_per_tenant() {
        let now = SystemTime::now();
        let seen = observed();
        let text = format!(
            "{}{}{}{}{}",
            doc("a", "  namespace: nowhere\n"),
            doc("b", "").replace("[view]", "[veiw]"),
            doc("c", "  namespace: team-a\n").replace("[view]", "[Role/missing]"),
            doc("d", "").replace("[view]", "[super]"),
            doc("e", "")
        );
        let actions = plan(desired(&text), &seen, &options(now));
        let reasons: Vec<String> = actions
            .iter()
            .map(|a| match a {
                Action::Refuse { reason, .. } => reason.clone(),
                other => other.outcome().to_string(),
            })
            .collect();
        assert!(
            reasons[0].contains("namespace nowhere does not exist"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].contains("ClusterRole \"veiw\" not found"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].contains("Role \"missing\" not found in namespace team-a"),
            "{reasons:?}"
        );
        assert!(reasons[3].contains("grants everything"), "{reasons:?}");
        assert_eq!(reasons[4], "created");
        let allowed = plan(
            desired(&doc("d", "").replace("[view]", "[super]")),
            &seen,
            &Options {
                allow_privileged: true,
                ..options(now)
            },
        );
        assert_eq!(allowed[0].outcome(), Outcome::Created);
    }

    #[test]
    fn pending_and_revoked_records_are_created_again() {
        let now = SystemTime::now();
        let mut seen = observed();
        applied(&mut seen, &desired(&doc("alice", ""))[0], now, DAY);
        seen.records[0].record.phase = Phase::Pending;
        let actions = plan(desired(&doc("alice", "")), &seen, &options(now));
        let Action::Create(c) = &actions[0] else {
            panic!()
        };
        assert!(
            c.describe().starts_with("resume the Pending create"),
            "{}",
            c.describe()
        );
        let grouped = plan(
            desired(&doc("alice", "  groups: [x]\n")),
            &seen,
            &options(now),
        );
        assert!(matches!(grouped[0], Action::Refuse { .. }));
        seen.records[0].record.phase = Phase::Revoked;
        let Action::Create(c) = &plan(
            desired(&doc("alice", "  groups: [x]\n")),
            &seen,
            &options(now),
        )[0] else {
            panic!()
        };
        assert!(c.describe().starts_with("create again"), "{}", c.describe());
    }
}
