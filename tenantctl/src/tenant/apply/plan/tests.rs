//! The plan's cases, one test each: create, unchanged, rebind, renew, refuse, prune.

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
    let after =
        desired(&doc("alice", "  namespace: team-a\n").replace("[view]", "[edit, Role/deployer]"));
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
