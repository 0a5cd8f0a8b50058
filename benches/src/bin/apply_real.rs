//! `tenantctl apply -f` of many new tenants on a real control plane (etcd, kube-apiserver and
//! kube-controller-manager from `../shared/k8s`, as the test suite starts them), side by side with
//! the fake API server, then the same file again (every tenant must come back `unchanged`).
//!
//! ```sh
//! ../shared/k8s/install && apt-get install -y etcd-server
//! cargo build --release -p tenantctl
//! TENANTCTL_K8S=~/.cache/tenantctl-k8s cargo run --release -p pki-benches --bin apply_real -- \
//!     [--tenants 1000] [--namespaces 50] [--concurrency 16] [--runs 3] [--tenantctl PATH]
//! ```
//!
//! Each run gets a fresh control plane (and a fresh fake). The file: `--tenants` Tenants
//! `uN`, `roles: [view]`, spread over `--namespaces` namespaces `team-N` with
//! `createNamespace: true` (the issue's shape). Reported per run: wall time of each apply, the
//! API server's `apiserver_request_total` by verb during it (real) or the fake's own count, and
//! apply's summary. A markdown table goes to stdout, progress to stderr.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use workspace_tests::{
    Cluster,
    control_plane::ControlPlane,
    fake_apiserver::{FakeApiServer, LOOPBACK_INIT_FLAGS, set_kubeconfig_server},
};

struct Options {
    tenants: usize,
    namespaces: usize,
    concurrency: usize,
    runs: usize,
    tenantctl: PathBuf,
}

struct Row {
    server: &'static str,
    run: usize,
    phase: &'static str,
    wall: Duration,
    verbs: BTreeMap<String, u64>,
    summary: String,
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("apply_real: {e}");
            eprintln!(
                "usage: apply_real [--tenants N] [--namespaces N] [--concurrency N] [--runs N] [--tenantctl PATH]"
            );
            return ExitCode::from(2);
        }
    };
    let mut rows = Vec::new();
    for run in 1..=o.runs {
        let Some(cp) = ControlPlane::start() else {
            return ExitCode::from(2);
        };
        if let Err(e) = measure(&o, run, Target::Real(&cp), &mut rows) {
            eprintln!("apply_real: real, run {run}: {e}");
            print_table(&o, &rows);
            return ExitCode::FAILURE;
        }
        drop(cp);
        let cluster = Cluster::init_with_node(
            &LOOPBACK_INIT_FLAGS
                .iter()
                .copied()
                .chain(["--encryption-algorithm", "ECDSA-P256"])
                .collect::<Vec<_>>(),
        );
        let fake = FakeApiServer::start(&cluster.pki, Duration::ZERO);
        set_kubeconfig_server(&cluster.etc.join("admin.conf"), &fake.url());
        if let Err(e) = measure(&o, run, Target::Fake(&cluster, &fake), &mut rows) {
            eprintln!("apply_real: fake, run {run}: {e}");
            print_table(&o, &rows);
            return ExitCode::FAILURE;
        }
    }
    print_table(&o, &rows);
    ExitCode::SUCCESS
}

enum Target<'a> {
    Real(&'a ControlPlane),
    Fake(&'a Cluster, &'a FakeApiServer),
}

impl Target<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Real(_) => "real v1.28.7",
            Self::Fake(..) => "fake",
        }
    }

    fn cluster(&self) -> &Cluster {
        match self {
            Self::Real(cp) => &cp.cluster,
            Self::Fake(c, _) => c,
        }
    }

    fn verbs(&self) -> BTreeMap<String, u64> {
        match self {
            Self::Real(cp) => cp.requests_by_verb(),
            Self::Fake(_, f) => f
                .requests_by_verb()
                .into_iter()
                .map(|(k, v)| (k, v as u64))
                .collect(),
        }
    }
}

fn measure(o: &Options, run: usize, target: Target<'_>, rows: &mut Vec<Row>) -> Result<(), String> {
    let cluster = target.cluster();
    let dir = cluster.dir.path();
    let file = dir.join("tenants.yaml");
    std::fs::write(&file, tenants_file(o.tenants, o.namespaces)).map_err(|e| e.to_string())?;
    let out_dir = dir.join("kubeconfigs");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    for (phase, unchanged) in [("first apply", false), ("re-apply", true)] {
        eprintln!(
            "{} run {run}: {phase} of {} tenants",
            target.name(),
            o.tenants
        );
        let before = target.verbs();
        let start = Instant::now();
        let out = Command::new(&o.tenantctl)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .arg("apply")
            .arg("-f")
            .arg(&file)
            .arg("--kubeconfig")
            .arg(cluster.etc.join("admin.conf"))
            .arg("--cert-dir")
            .arg(&cluster.pki)
            .arg("--out-dir")
            .arg(&out_dir)
            .args(["--concurrency", &o.concurrency.to_string(), "-o", "json"])
            .output()
            .map_err(|e| format!("run {}: {e}", o.tenantctl.display()))?;
        let wall = start.elapsed();
        let after = target.verbs();
        let counts = pki_benches::apply_actions(&out.stdout)?;
        let summary = counts
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!("  {:.2} s: {summary}", wall.as_secs_f64());
        let want = if unchanged { "unchanged" } else { "created" };
        if counts.get(want) != Some(&o.tenants) || !out.status.success() {
            return Err(format!(
                "{phase}: {summary} (exit {}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .filter(|l| l.contains("failed") || l.contains("error"))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        let verbs = after
            .into_iter()
            .map(|(v, n)| {
                let d = n.saturating_sub(before.get(&v).copied().unwrap_or(0));
                (v, d)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        rows.push(Row {
            server: target.name(),
            run,
            phase,
            wall,
            verbs,
            summary,
        });
    }
    Ok(())
}

fn parse_args() -> Result<Options, String> {
    let default_tenantctl = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("tenantctl")))
        .unwrap_or_else(|| PathBuf::from("target/release/tenantctl"));
    let mut o = Options {
        tenants: 1000,
        namespaces: 50,
        concurrency: 16,
        runs: 3,
        tenantctl: default_tenantctl,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--tenants" => o.tenants = number(&value)?,
            "--namespaces" => o.namespaces = number(&value)?.max(1),
            "--concurrency" => o.concurrency = number(&value)?.max(1),
            "--runs" => o.runs = number(&value)?.max(1),
            "--tenantctl" => o.tenantctl = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if !Path::new(&o.tenantctl).is_file() {
        return Err(format!(
            "{} not found; cargo build --release -p tenantctl, or --tenantctl PATH",
            o.tenantctl.display()
        ));
    }
    Ok(o)
}

/// `n` Tenants `uI` with `view` in `team-(I % namespaces)`, namespaces created.
fn tenants_file(n: usize, namespaces: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let _ = write!(
            text,
            "---\napiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata:\n  name: u{i}\nspec:\n  roles: [view]\n  namespace: team-{}\n  createNamespace: true\n",
            i % namespaces
        );
    }
    text
}

fn print_table(o: &Options, rows: &[Row]) {
    println!("| server | run | phase | wall | requests by verb | result |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let verbs = r
            .verbs
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {} | {} | {} | {:.2} s | {verbs} | {} |",
            r.server,
            r.run,
            r.phase,
            r.wall.as_secs_f64(),
            r.summary
        );
    }
    println!();
    println!(
        "{} tenants (view) in {} namespaces, --concurrency {}; P-256 PKI; real: requests from apiserver_request_total (includes the controller manager's own); fake: its own count, no latency.",
        o.tenants, o.namespaces, o.concurrency
    );
}
