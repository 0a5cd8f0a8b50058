//! The CLI conventions, on the real binary: `-o json|yaml` always parses, because every
//! warning, note and progress line goes to stderr; a failed run reports nothing as done;
//! shell completions load; man pages render.

use std::{
    fs,
    path::Path,
    process::{Command, Output},
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");

fn tenantctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must print a JSON (or YAML) document on stdout and `warning:` lines on
/// stderr; returns the document.
fn document(dir: &Path, args: &[&str], exit: i32, warns: bool) -> Value {
    let out = tenantctl(dir, args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(exit), "{args:?}\n{stderr}");
    assert_eq!(
        stderr.contains("warning:"),
        warns,
        "{args:?}: warnings expected: {warns}\n{stderr}"
    );
    assert!(!stdout.contains("PRIVATE KEY"), "{args:?}: {stdout}");
    let yaml = args.windows(2).any(|w| w == ["-o", "yaml"]);
    let parsed: Result<Value, String> = if yaml {
        serde_saphyr::from_str(&stdout).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(&stdout).map_err(|e| e.to_string())
    };
    parsed.unwrap_or_else(|e| panic!("{args:?}: stdout is not one document ({e}):\n{stdout}"))
}

const INIT: &[&str] = &[
    "pki",
    "init",
    "--cert-dir",
    "pki",
    "--kubeconfig-dir",
    ".",
    "--node-name",
    "cp1",
    "--apiserver-advertise-address",
    "10.0.0.10",
    "--encryption-algorithm",
    "ECDSA-P256",
    // A CA that ends before a 400-day tenant or a 60-day leaf would: their warnings are forced.
    "--ca-validity",
    "40d",
    "--cert-validity",
    "30d",
];

fn with(base: &[&'static str], more: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(more).copied().collect()
}

#[test]
fn every_command_prints_only_its_result_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let plan = document(d, &with(INIT, &["--dry-run", "-o", "json"]), 0, false);
    assert_eq!(plan["dryRun"], true);
    assert!(!d.join("pki").exists(), "--dry-run wrote nothing");

    let init = document(d, &with(INIT, &["-o", "json"]), 0, false);
    assert_eq!(init["kind"], "PKIInit");
    let files = init["files"].as_array().unwrap();
    assert_eq!(files.len(), 27, "{init}");
    assert!(files.iter().all(|f| f["action"] == "generated"), "{init}");
    assert!(
        files
            .iter()
            .all(|f| d.join(f["path"].as_str().unwrap()).is_file()),
        "every file reported as generated is in place"
    );
    assert_eq!(init["apiserverSans"]["ips"][1], "10.0.0.10");
    let again = document(d, &with(INIT, &["-o", "yaml"]), 0, false);
    assert!(
        again["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["action"] == "reused")
    );

    // pki check: everything expires within 400 days (exit 1), the document still parses.
    let check = document(
        d,
        &[
            "pki",
            "check",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "10.0.0.10",
            "--warn-within",
            "400d",
            "-o",
            "json",
        ],
        1,
        false,
    );
    assert_eq!(check["kind"], "PKICheck");

    // pki renew: a 60-day leaf is capped at the 40-day CA, with a warning.
    let renew = document(
        d,
        &[
            "pki",
            "renew",
            "apiserver",
            "admin.conf",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "10.0.0.10",
            "--cert-validity",
            "60d",
            "--ca-validity",
            "3650d",
            "-o",
            "json",
        ],
        0,
        true,
    );
    assert_eq!(renew["renewed"].as_array().unwrap().len(), 2, "{renew}");
    assert_eq!(renew["restart"], serde_json::json!(["kube-apiserver"]));

    let hash = document(
        d,
        &["pki", "ca-hash", "--cert-dir", "pki", "-o", "json"],
        0,
        false,
    );
    assert!(hash["hash"].as_str().unwrap().starts_with("sha256:"));

    let csr_dir = tempfile::tempdir().unwrap();
    let csr = document(
        csr_dir.path(),
        &[
            "pki",
            "csr",
            "--cert-dir",
            "pki",
            "--kubeconfig-dir",
            ".",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "10.0.0.10",
            "--encryption-algorithm",
            "ECDSA-P256",
            "-o",
            "json",
        ],
        0,
        false,
    );
    assert!(csr["requests"].as_array().unwrap().len() >= 10, "{csr}");

    // create --offline with every warning it has: a long TTL, a group, a server outside the
    // API server's SANs, a lifetime capped at the CA.
    let tenant = [
        "create",
        "alice",
        "--role",
        "view",
        "--group",
        "dev",
        "--ttl",
        "400d",
        "--server",
        "https://lb.example.net:6443",
        "--offline",
        "--cert-dir",
        "pki",
        "-o",
        "json",
    ];
    let out = tenantctl(d, &tenant);
    let stderr = text(&out.stderr);
    for w in [
        "warning: --ttl 400d is longer than a year",
        "warning: groups dev are baked into the certificate",
        "warning: lb.example.net is not among the API server certificate's SANs",
        "warning: the certificate ends with the CA",
    ] {
        assert!(stderr.contains(w), "{w}\n{stderr}");
    }
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["user"], "alice");
    assert_eq!(record["groups"], serde_json::json!(["dev"]));
    assert!(record["credentials"][0]["sha256"].is_string());
    assert!(d.join("alice.kubeconfig").is_file());

    let dry = document(
        d,
        &[
            "create",
            "bob",
            "--role",
            "view",
            "--group",
            "dev",
            "--dry-run",
            "-o",
            "json",
        ],
        0,
        true,
    );
    assert_eq!(dry["kind"], "List");
    assert_eq!(dry["items"][0]["kind"], "ClusterRoleBinding");

    let csr_out = document(
        d,
        &[
            "create",
            "carol",
            "--role",
            "view",
            "--group",
            "dev",
            "--csr-out",
            "carol.csr",
            "-o",
            "yaml",
        ],
        0,
        true,
    );
    assert_eq!(csr_out["csr"], "carol.csr");
    assert!(d.join("carol.key").is_file());
}

/// A run that fails while writing reports nothing as generated (the files were not written).
#[test]
fn a_failed_init_reports_nothing_as_generated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("pki")).unwrap();
    // A regular file where the etcd directory must go: the write phase fails.
    fs::write(d.join("pki/etcd"), b"not a directory").unwrap();
    let out = tenantctl(d, INIT);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("pki/etcd"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "", "no result from a failed run");
    let left: Vec<_> = fs::read_dir(d.join("pki")).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing else was written: {left:?}");
}

#[test]
fn bash_completion_offers_the_pki_subcommands() {
    let script = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(BIN)
        .args(["completion", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    fs::write(script.path(), &out.stdout).unwrap();
    // What bash does on `tenantctl pki <TAB>`: call the registered function with the words.
    let probe = format!(
        r#"source {}
fn=$(complete -p tenantctl | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=(tenantctl pki ""); COMP_CWORD=2; COMP_LINE="tenantctl pki "; COMP_POINT=${{#COMP_LINE}}
"$fn" tenantctl "" pki
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script.path().display()
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let offered: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    for sub in ["init", "check", "renew", "ca-hash", "csr"] {
        assert!(offered.iter().any(|o| o == sub), "{sub}: {offered:?}");
    }
    assert!(!offered.iter().any(|o| o == "create"), "{offered:?}");
}

#[test]
fn zsh_fish_and_powershell_completions_are_in_their_formats() {
    for (shell, marker) in [
        ("zsh", "#compdef tenantctl"),
        ("fish", "complete -c tenantctl"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = Command::new(BIN)
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("ca-hash"),
            "{shell} knows the pki subcommands"
        );
    }
}

#[test]
fn man_pages_render() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in [
        "tenantctl.1",
        "tenantctl-pki.1",
        "tenantctl-pki-init.1",
        "tenantctl-create.1",
        "tenantctl-completion.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }
    let man = Command::new("man")
        .arg("-l")
        .arg(dir.path().join("tenantctl-create.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man is not installed; .ci/run installs it (Debian package man-db)");
    assert!(man.status.success(), "{}", text(&man.stderr));
    let page = text(&man.stdout);
    assert!(page.contains("--kubeconfig-out"), "{page}");
    assert!(
        page.contains("tenantctl create alice --role view"),
        "examples: {page}"
    );
}
