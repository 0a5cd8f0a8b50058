//! Onboarding many tenants against the fake API server with a per-request latency: one
//! `tenantctl create` process per tenant (a shell loop) against one `tenantctl apply -f`.
//!
//! ```sh
//! cargo build --release -p tenantctl
//! cargo run --release -p pki-benches --bin apply_bench -- \
//!     [--tenants 1000] [--sequential 200] [--latency-ms 1,5] [--concurrency 16] [--tenantctl PATH]
//! ```
//!
//! For each latency: a P-256 PKI made by `tenantctl pki init`, a fresh fake API server, then
//! (a) `--sequential` creates one after another, (b) `apply -f` of `--tenants` tenants, and the
//! same apply again (every tenant must come back `unchanged`). A markdown table goes to
//! stdout, progress to stderr.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Output, Stdio},
    time::{Duration, Instant},
};

use workspace_tests::fake_apiserver::{FakeApiServer, LOOPBACK_INIT_FLAGS, set_kubeconfig_server};

struct Options {
    tenants: usize,
    sequential: usize,
    latencies_ms: Vec<u64>,
    concurrency: usize,
    tenantctl: PathBuf,
}

/// One measured phase.
struct Row {
    latency_ms: u64,
    phase: String,
    tenants: usize,
    wall: Duration,
    requests: usize,
    verbs: BTreeMap<String, usize>,
    note: String,
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("apply_bench: {e}");
            eprintln!(
                "usage: apply_bench [--tenants N] [--sequential N] [--latency-ms MS,MS] [--concurrency N] [--tenantctl PATH]"
            );
            return ExitCode::from(2);
        }
    };
    if !options.tenantctl.is_file() {
        eprintln!(
            "apply_bench: {} not found; build it with `cargo build --release -p tenantctl` or pass --tenantctl PATH",
            options.tenantctl.display()
        );
        return ExitCode::from(2);
    }
    let has_apply = command(&options.tenantctl)
        .args(["apply", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_apply {
        eprintln!(
            "apply_bench: {} has no `apply` command: measuring sequential creates only",
            options.tenantctl.display()
        );
    }
    let mut rows = Vec::new();
    for &ms in &options.latencies_ms {
        if let Err(e) = run_latency(&options, ms, has_apply, &mut rows) {
            eprintln!("apply_bench: latency {ms} ms: {e}");
            print_table(&options, &rows);
            return ExitCode::FAILURE;
        }
    }
    print_table(&options, &rows);
    ExitCode::SUCCESS
}

fn parse_args() -> Result<Options, String> {
    let default_tenantctl = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("tenantctl")))
        .unwrap_or_else(|| PathBuf::from("target/release/tenantctl"));
    let mut o = Options {
        tenants: 1000,
        sequential: 200,
        latencies_ms: vec![1, 5],
        concurrency: 16,
        tenantctl: default_tenantctl,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (flag, None),
        };
        if flag == "--help" || flag == "-h" {
            return Err("help".into());
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag.as_str() {
            "--tenants" => o.tenants = number(&value)?,
            "--sequential" => o.sequential = number(&value)?,
            "--concurrency" => o.concurrency = number(&value)?.max(1),
            "--latency-ms" => {
                o.latencies_ms = value
                    .split(',')
                    .map(|v| {
                        v.trim()
                            .parse::<u64>()
                            .map_err(|e| format!("{flag} {v}: {e}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--tenantctl" => o.tenantctl = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

/// `tenantctl` with a clean environment for cluster access (no KUBECONFIG, no HOME config).
fn command(tenantctl: &Path) -> Command {
    let mut c = Command::new(tenantctl);
    c.env_remove("KUBECONFIG").stdin(Stdio::null());
    c
}

fn check(what: &str, out: &Output) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn run_latency(o: &Options, ms: u64, has_apply: bool, rows: &mut Vec<Row>) -> Result<(), String> {
    let latency = Duration::from_millis(ms);
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let pki = dir.path().join("pki");
    let etc = dir.path().join("etc");
    eprintln!("== latency {ms} ms: pki init in {}", dir.path().display());
    let out = command(&o.tenantctl)
        .args(["pki", "init", "--encryption-algorithm", "ECDSA-P256"])
        .args(LOOPBACK_INIT_FLAGS)
        .arg("--cert-dir")
        .arg(&pki)
        .arg("--kubeconfig-dir")
        .arg(&etc)
        .output()
        .map_err(|e| format!("run {}: {e}", o.tenantctl.display()))?;
    check("pki init", &out)?;
    let server = FakeApiServer::start(&pki, latency);
    let admin = etc.join("admin.conf");
    set_kubeconfig_server(&admin, &server.url());
    eprintln!("fake API server on {}", server.url());

    // (a) One process per tenant, one after another.
    let created = dir.path().join("created");
    std::fs::create_dir_all(&created).map_err(|e| e.to_string())?;
    let before = snapshot(&server);
    let start = Instant::now();
    for i in 0..o.sequential {
        let user = format!("user-{i}");
        let out = command(&o.tenantctl)
            .args(["create", &user, "--role", "view", "--kubeconfig"])
            .arg(&admin)
            .arg("--cert-dir")
            .arg(&pki)
            .arg("--kubeconfig-out")
            .arg(created.join(format!("{user}.kubeconfig")))
            .output()
            .map_err(|e| format!("run {}: {e}", o.tenantctl.display()))?;
        check(&format!("create {user}"), &out)?;
        if (i + 1) % 50 == 0 || i + 1 == o.sequential {
            eprintln!(
                "  sequential create: {}/{} ({:.1} s)",
                i + 1,
                o.sequential,
                start.elapsed().as_secs_f64()
            );
        }
    }
    rows.push(row(
        ms,
        "sequential `create` (1 process each)",
        o.sequential,
        start.elapsed(),
        &server,
        &before,
        String::new(),
    ));
    if !has_apply {
        return Ok(());
    }

    // (b) One apply of every tenant, then the same again.
    let file = dir.path().join("tenants.yaml");
    std::fs::write(&file, tenants_file(o.tenants)).map_err(|e| e.to_string())?;
    let out_dir = dir.path().join("applied");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    for (phase, expect_unchanged) in [
        ("`apply -f` (first run)", false),
        ("`apply -f` (unchanged)", true),
    ] {
        eprintln!(
            "  {phase}: {} tenants, concurrency {}",
            o.tenants, o.concurrency
        );
        let before = snapshot(&server);
        let start = Instant::now();
        let out = command(&o.tenantctl)
            .arg("apply")
            .arg("-f")
            .arg(&file)
            .arg("--kubeconfig")
            .arg(&admin)
            .arg("--cert-dir")
            .arg(&pki)
            .arg("--out-dir")
            .arg(&out_dir)
            .args(["--concurrency", &o.concurrency.to_string(), "-o", "json"])
            .output()
            .map_err(|e| format!("run {}: {e}", o.tenantctl.display()))?;
        let wall = start.elapsed();
        check(phase, &out)?;
        let actions = pki_benches::apply_actions(&out.stdout)?;
        let summary = actions
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!("    {:.2} s: {summary}", wall.as_secs_f64());
        let total: usize = actions.values().sum();
        if total != o.tenants {
            return Err(format!(
                "{phase}: {total} tenants reported, {} in the file",
                o.tenants
            ));
        }
        if expect_unchanged && actions.get("unchanged") != Some(&o.tenants) {
            return Err(format!("{phase}: not every tenant is unchanged: {summary}"));
        }
        if !expect_unchanged && actions.get("failed").is_some_and(|n| *n > 0) {
            return Err(format!("{phase}: failures: {summary}"));
        }
        rows.push(row(ms, phase, o.tenants, wall, &server, &before, summary));
    }
    Ok(())
}

/// The requests so far, total and per verb.
fn snapshot(server: &FakeApiServer) -> (usize, BTreeMap<String, usize>) {
    (server.requests(), server.requests_by_verb())
}

fn row(
    latency_ms: u64,
    phase: &str,
    tenants: usize,
    wall: Duration,
    server: &FakeApiServer,
    before: &(usize, BTreeMap<String, usize>),
    note: String,
) -> Row {
    let (now, verbs) = snapshot(server);
    let verbs = verbs
        .into_iter()
        .map(|(v, n)| {
            let delta = n - before.1.get(&v).copied().unwrap_or(0);
            (v, delta)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    Row {
        latency_ms,
        phase: phase.to_owned(),
        tenants,
        wall,
        requests: now - before.0,
        verbs,
        note,
    }
}

/// `--tenants` Tenant documents; every 4th in its own namespace (`ns-(I%10)`, created) with
/// `edit` instead of `view`.
fn tenants_file(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let name = format!("team-{i}");
        let _ = write!(
            text,
            "---\napiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  user: {name}\n"
        );
        if i % 4 == 3 {
            let _ = write!(
                text,
                "  namespace: ns-{}\n  createNamespace: true\n  roles: [edit]\n",
                i % 10
            );
        } else {
            text.push_str("  roles: [view]\n");
        }
    }
    text
}

fn print_table(o: &Options, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    println!(
        "| latency | phase | tenants | wall | per tenant | per 1,000 tenants | requests | requests/tenant | by verb | result |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let n = r.tenants.max(1);
        let per = r.wall.as_secs_f64() / n as f64;
        let verbs = r
            .verbs
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {} ms | {} | {} | {:.2} s | {:.1} ms | {:.1} s | {} | {:.1} | {verbs} | {} |",
            r.latency_ms,
            r.phase,
            r.tenants,
            r.wall.as_secs_f64(),
            per * 1e3,
            per * 1000.0,
            r.requests,
            r.requests as f64 / n as f64,
            if r.note.is_empty() { "ok" } else { &r.note }
        );
    }
    println!();
    println!(
        "apply: --concurrency {}; sequential creates: one `tenantctl create USER --role view` process after another; P-256 PKI; fake API server on loopback sleeping the latency before each answer.",
        o.concurrency
    );
}
