//! `apply -f` on the real API server: a set of tenants made, used and pruned; tenants outside
//! the set never pruned; kubeconfig files apply did not write left alone.

use std::{fmt::Write as _, path::Path};

use serde_json::Value;
use workspace_tests::{control_plane::ControlPlane, tenantctl};

use super::tenant::{as_tenant, run, show};

/// `n` Tenants `PREFIX-I` with `view` in `team-(I % namespaces)`, namespaces created.
fn tenants(prefix: &str, range: std::ops::Range<usize>, namespaces: usize) -> String {
    let mut text = String::new();
    for i in range {
        let _ = write!(
            text,
            "---\napiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata:\n  name: {prefix}-{i}\nspec:\n  roles: [view]\n  namespace: team-{}\n  createNamespace: true\n",
            i % namespaces
        );
    }
    text
}

/// `apply -f FILE --out-dir DIR ARGS… -o json` → (exit code, the JSON result).
fn apply(cp: &ControlPlane, file: &Path, out: &Path, args: &[&str]) -> (u8, Value) {
    let (f, o) = (file.display().to_string(), out.display().to_string());
    let mut argv = vec!["apply", "-f", &f, "--out-dir", &o, "-o", "json"];
    argv.extend_from_slice(args);
    match run(cp, &argv) {
        Ok(json) => (0, serde_json::from_str(&json).unwrap()),
        Err(e) => (e.exit_code(), Value::Null),
    }
}

/// The action of each tenant in apply's JSON, by user.
fn actions(result: &Value) -> std::collections::BTreeMap<String, String> {
    result["tenants"]
        .as_array()
        .unwrap_or_else(|| panic!("no tenants: {result}"))
        .iter()
        .map(|t| {
            (
                t["user"].as_str().unwrap().to_owned(),
                t["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_set_is_applied_used_and_pruned_within_itself() {
    let Some(cp) = ControlPlane::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kubeconfigs");
    std::fs::create_dir_all(&out).unwrap();
    let file = dir.path().join("a.yaml");

    // 40 tenants in 4 new namespaces: every one created, each access check waited for.
    std::fs::write(&file, tenants("a", 0..40, 4)).unwrap();
    let (code, result) = apply(&cp, &file, &out, &["--set", "team-a"]);
    assert_eq!(code, 0);
    assert_eq!(result["summary"]["created"], 40, "{result}");
    for i in [0, 17, 39] {
        let kc = out.join(format!("a-{i}.kubeconfig"));
        let (ok, text) = as_tenant(
            &cp,
            &kc,
            &["get", "configmaps", "-n", &format!("team-{}", i % 4)],
        );
        assert!(ok, "a-{i}: {text}");
    }
    assert_eq!(show(&cp, "a-3")["set"], "team-a");
    let labels = cp.kubectl_super(&[
        "get",
        "rolebinding",
        "tenantctl:a-3:view",
        "-n",
        "team-3",
        "-o",
        "jsonpath={.metadata.labels.tenantctl\\.io/set}",
    ]);
    assert_eq!(labels, "team-a");

    // Another team's set and a tenant from `create`.
    let other = dir.path().join("b.yaml");
    std::fs::write(&other, tenants("b", 0..2, 1)).unwrap();
    assert_eq!(apply(&cp, &other, &out, &["--set", "team-b"]).0, 0);
    let solo = dir.path().join("solo.kubeconfig").display().to_string();
    run(
        &cp,
        &[
            "create",
            "solo",
            "--role",
            "view",
            "--kubeconfig-out",
            &solo,
        ],
    )
    .unwrap();

    // --prune needs --set: exit 2, nothing changed.
    std::fs::write(&file, tenants("a", 0..30, 4)).unwrap();
    let parsed = <tenantctl::Cli as clap::Parser>::try_parse_from([
        "tenantctl",
        "apply",
        "-f",
        &file.display().to_string(),
        "--prune",
    ]);
    let err = parsed.expect_err("--prune without --set");
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("--set"), "{err}");
    assert_eq!(show(&cp, "a-35")["phase"], "Active");

    // The dry run names what would be pruned; nothing changes.
    let (code, result) = apply(
        &cp,
        &file,
        &out,
        &["--set", "team-a", "--prune", "--dry-run"],
    );
    assert_eq!(code, 0);
    let planned = actions(&result);
    let pruned: Vec<&String> = planned
        .iter()
        .filter(|(_, a)| *a == "revoked")
        .map(|(u, _)| u)
        .collect();
    assert_eq!(pruned.len(), 10, "{planned:?}");
    assert!(pruned.iter().all(|u| u.starts_with("a-3")), "{pruned:?}");
    assert_eq!(show(&cp, "a-35")["phase"], "Active");

    // The prune itself: a-30..a-39 revoked, b-* and solo untouched.
    let (code, result) = apply(&cp, &file, &out, &["--set", "team-a", "--prune"]);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["summary"]["revoked"], 10, "{result}");
    assert_eq!(result["summary"]["unchanged"], 30, "{result}");
    assert_eq!(show(&cp, "a-35")["phase"], "Revoked");
    for user in ["b-0", "b-1", "solo", "a-29"] {
        assert_eq!(show(&cp, user)["phase"], "Active", "{user}");
    }
}

#[test]
fn apply_replaces_only_kubeconfigs_it_wrote() {
    let Some(cp) = ControlPlane::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kubeconfigs");
    std::fs::create_dir_all(&out).unwrap();
    let file = dir.path().join("t.yaml");
    std::fs::write(&file, tenants("t", 0..3, 1)).unwrap();
    // Someone's own kubeconfig sits where t-1's would go.
    let foreign = std::fs::read(cp.admin()).unwrap();
    std::fs::write(out.join("t-1.kubeconfig"), &foreign).unwrap();

    let (code, _) = apply(&cp, &file, &out, &[]);
    assert_eq!(code, 1, "t-1 refused, the others go on");
    assert_eq!(
        std::fs::read(out.join("t-1.kubeconfig")).unwrap(),
        foreign,
        "left alone"
    );
    assert_eq!(show(&cp, "t-0")["phase"], "Active");
    let admin = cp.admin().display().to_string();
    assert!(
        tenantctl(&["show", "t-1", "--kubeconfig", &admin]).is_err(),
        "nothing was recorded for t-1"
    );

    // Renewing t-0 replaces its own file; --overwrite takes t-1's place.
    let (code, result) = apply(&cp, &file, &out, &["--overwrite", "--renew-within", "365d"]);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["summary"]["created"], 1, "{result}");
    assert_eq!(result["summary"]["renewed"], 2, "{result}");
    let (ok, text) = as_tenant(
        &cp,
        &out.join("t-1.kubeconfig"),
        &["get", "configmaps", "-n", "team-0"],
    );
    assert!(ok, "{text}");
}
