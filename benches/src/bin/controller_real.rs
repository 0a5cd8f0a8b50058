//! `tenantctl controller run` on a real control plane (etcd, kube-apiserver and
//! kube-controller-manager from `../shared/k8s`, as the test suite starts them): many Tenant
//! objects in one file, applied with one `kubectl apply --server-side`, until all are Ready;
//! then the writes and the controller's memory at rest.
//!
//! ```sh
//! ../shared/k8s/install && apt-get install -y etcd-server
//! cargo build --release -p tenantctl -p pki-benches --bins
//! TENANTCTL_K8S=~/.cache/tenantctl-k8s ./target/release/controller_real \
//!     [--tenants 1000] [--namespaces 50] [--concurrency N] [--runs 1] [--tenantctl PATH]
//! ```
//!
//! Each run has two phases, each on a fresh control plane with the CRD installed: "apply while
//! running" starts the controller (`--concurrency` passed only when given), waits for
//! "reconciling Tenant objects", then runs one `kubectl apply --server-side -f FILE` and times
//! from the apply starting until every Tenant is Ready=True; "backlog at start" applies the file
//! first and times from the controller's start (its own throughput, without kubectl's pace). The
//! file: `--tenants` Tenants `uN`, `roles: [view]`, spread over `--namespaces` namespaces
//! `team-N` with `createNamespace: true` (apply_real's shape). Ready is counted with one
//! `kubectl get tenants -o json` every ~0.5 s. Reported per phase: those times, the API
//! server's `apiserver_request_total` by verb and by resource during convergence on the
//! resources the controller touches, the writes on them in a 30 s window at rest (5 s after all
//! are Ready), the controller's VmRSS / VmHWM when all are Ready and after the rest window, its
//! own reconcile metrics, and — since the machine may be shared — the CPU seconds of the
//! controller, kube-apiserver, etcd and the whole machine during convergence, etcd's mean WAL
//! fsync, and the load average. A markdown table goes to stdout, progress to stderr; each
//! phase's controller log is kept in the temp dir (`controller_real-runN-PHASE.log`).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{Read as _, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use workspace_tests::control_plane::ControlPlane;

/// What the controller reads and writes (the e2e test's list, and the roles it reads).
const RESOURCES: [&str; 11] = [
    "tenants",
    "secrets",
    "configmaps",
    "rolebindings",
    "clusterrolebindings",
    "events",
    "subjectaccessreviews",
    "namespaces",
    "serviceaccounts",
    "clusterroles",
    "roles",
];
const WRITES: [&str; 5] = ["POST", "PUT", "PATCH", "APPLY", "DELETE"];
/// How long all Tenants may take to be Ready before the run fails.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(500);
const SETTLE: Duration = Duration::from_secs(5);
const REST: Duration = Duration::from_secs(30);

struct Options {
    tenants: usize,
    namespaces: usize,
    concurrency: Option<usize>,
    runs: usize,
    tenantctl: PathBuf,
}

struct Row {
    run: usize,
    phase: &'static str,
    load: f64,
    apply: Option<Duration>,
    first_ready: Duration,
    all_ready: Duration,
    polls: usize,
    converge: BTreeMap<String, u64>,
    by_resource: BTreeMap<(String, String), u64>,
    rest_writes: BTreeMap<String, u64>,
    rss_ready: Memory,
    rss_rest: Memory,
    cpu: Cpu,
    reconciles: String,
    log_problems: usize,
}

/// CPU seconds (user + system) of the controller, kube-apiserver, etcd, and of the whole
/// machine (every core; the machine may be shared); and etcd's WAL fsyncs (every write waits
/// for one), from its `/metrics`.
#[derive(Clone, Copy, Default)]
struct Cpu {
    controller: f64,
    apiserver: f64,
    etcd: f64,
    machine: f64,
    fsync_seconds: f64,
    fsyncs: f64,
}

/// Clock ticks per second in `/proc` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

impl Cpu {
    fn take(cp: &ControlPlane, controller: Option<u32>) -> Self {
        let port = format!("--secure-port={}", cp.port);
        let data = format!(
            "--data-dir={}",
            cp.cluster.dir.path().join("etcd").display()
        );
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| {
                let line = t.lines().next()?.strip_prefix("cpu ")?.to_owned();
                let v: Vec<f64> = line
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal: busy = all but idle, iowait.
                Some(v.iter().take(8).sum::<f64>() - v.get(3)? - v.get(4)?)
            })
            .unwrap_or(0.0);
        let etcd = find_pid("etcd", &data);
        let (fsync_seconds, fsyncs) = etcd.map_or((0.0, 0.0), etcd_fsyncs);
        Self {
            controller: controller.map_or(0.0, process_cpu),
            apiserver: find_pid("kube-apiserver", &port).map_or(0.0, process_cpu),
            etcd: etcd.map_or(0.0, process_cpu),
            machine: machine / TICKS,
            fsync_seconds,
            fsyncs,
        }
    }

    fn since(&self, before: &Self) -> Self {
        Self {
            controller: self.controller - before.controller,
            apiserver: self.apiserver - before.apiserver,
            etcd: self.etcd - before.etcd,
            machine: self.machine - before.machine,
            fsync_seconds: self.fsync_seconds - before.fsync_seconds,
            fsyncs: self.fsyncs - before.fsyncs,
        }
    }

    /// The mean WAL fsync, in ms.
    fn fsync_ms(&self) -> f64 {
        if self.fsyncs > 0.0 {
            self.fsync_seconds / self.fsyncs * 1000.0
        } else {
            0.0
        }
    }

    fn show(&self) -> String {
        format!(
            "controller {:.1} s, kube-apiserver {:.1} s, etcd {:.1} s, machine {:.1} s; etcd: {} WAL fsyncs, mean {:.1} ms",
            self.controller,
            self.apiserver,
            self.etcd,
            self.machine,
            self.fsyncs,
            self.fsync_ms()
        )
    }
}

/// utime + stime of a process, in seconds.
fn process_cpu(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    // After the command: state is field 3, utime 14, stime 15.
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / TICKS
}

/// `etcd_disk_wal_fsync_duration_seconds` (sum, count) of the etcd with that pid, from the
/// `/metrics` of its `--listen-client-urls`.
fn etcd_fsyncs(pid: u32) -> (f64, f64) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let url = cmdline.split(|b| *b == 0).find_map(|a| {
        String::from_utf8_lossy(a)
            .strip_prefix("--listen-client-urls=")
            .map(|u| u.split(',').next().unwrap_or_default().to_owned())
    });
    let Some(text) = url.and_then(|u| http_get(&format!("{u}/metrics"))) else {
        return (0.0, 0.0);
    };
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    (
        value("etcd_disk_wal_fsync_duration_seconds_sum "),
        value("etcd_disk_wal_fsync_duration_seconds_count "),
    )
}

/// The process whose program is `name` and whose command line has `needle`.
fn find_pid(name: &str, needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let program = String::from_utf8_lossy(args.first()?);
        let program = program.rsplit('/').next().unwrap_or_default();
        (program == name && args.iter().any(|a| String::from_utf8_lossy(a) == needle))
            .then_some(pid)
    })
}

#[derive(Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("controller_real: {e}");
            eprintln!(
                "usage: controller_real [--tenants N] [--namespaces N] [--concurrency N] [--runs N] [--tenantctl PATH]"
            );
            return ExitCode::from(2);
        }
    };
    let mut rows = Vec::new();
    for run in 1..=o.runs {
        for phase in [Phase::Live, Phase::Backlog] {
            let Some(cp) = ControlPlane::start() else {
                return ExitCode::from(2);
            };
            match measure(&o, run, phase, &cp) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    eprintln!("controller_real: run {run}, {}: {e}", phase.name());
                    print_table(&o, &rows);
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    print_table(&o, &rows);
    ExitCode::SUCCESS
}

/// A `controller run` process, killed on drop; its stderr in a file.
struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    fn start(o: &Options, cp: &ControlPlane, log: &Path) -> Result<Self, String> {
        let mut cmd = Command::new(&o.tenantctl);
        cmd.env_remove("KUBECONFIG")
            .args(["controller", "run", "--kubeconfig"])
            .arg(cp.admin())
            .arg("--cert-dir")
            .arg(&cp.cluster.pki)
            .args([
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--health-probe-bind-address",
                "127.0.0.1:0",
            ]);
        if let Some(n) = o.concurrency {
            cmd.args(["--concurrency", &n.to_string()]);
        }
        let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("run {}: {e}", o.tenantctl.display()))?;
        Ok(Self {
            child,
            log: log.to_owned(),
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `needle` (at most `secs`); fails if the process ends.
    fn wait_log(&mut self, needle: &str, secs: u64) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return Ok(log);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the controller exited ({status}):\n{log}"));
            }
            if Instant::now() > deadline {
                return Err(format!("no {needle:?} after {secs} s:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT/metrics`.
    fn metrics_url(&mut self) -> Result<String, String> {
        let log = self.wait_log("metrics on http://", 30)?;
        let line = log
            .lines()
            .find(|l| l.contains("metrics on http://"))
            .unwrap_or_default();
        let at = line.find("http://").unwrap_or_default();
        Ok(format!("{}/metrics", line[at..].trim()))
    }

    /// VmRSS and VmHWM from `/proc/PID/status`.
    fn memory(&self) -> Memory {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: kib("VmRSS:"),
            hwm_kib: kib("VmHWM:"),
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the controller runs while the file is applied, or starts after it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Controller running, then `kubectl apply`; the clock starts with the apply.
    Live,
    /// `kubectl apply` first, then the controller; the clock starts with the controller.
    Backlog,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Self::Live => "apply while running",
            Self::Backlog => "backlog at start",
        }
    }
}

fn measure(o: &Options, run: usize, phase: Phase, cp: &ControlPlane) -> Result<Row, String> {
    let dir = cp.cluster.dir.path();
    let load = load_average();
    eprintln!(
        "run {run}, {}: installing the CRD (load average {load:.2})",
        phase.name()
    );
    install_crd(o, cp)?;
    let file = dir.join("tenants.yaml");
    std::fs::write(&file, tenants_file(o.tenants, o.namespaces)).map_err(|e| e.to_string())?;
    let log = std::env::temp_dir().join(format!(
        "controller_real-run{run}-{}.log",
        match phase {
            Phase::Live => "live",
            Phase::Backlog => "backlog",
        }
    ));

    let (mut controller, before, cpu_before, start, apply) = match phase {
        Phase::Live => {
            let mut controller = Controller::start(o, cp, &log)?;
            controller.wait_log("reconciling Tenant objects", 60)?;
            eprintln!(
                "  controller pid {} up, log {}; kubectl apply --server-side of {} tenants",
                controller.child.id(),
                log.display(),
                o.tenants
            );
            let before = requests(cp);
            let cpu = Cpu::take(cp, Some(controller.child.id()));
            let start = Instant::now();
            let apply = spawn_apply(cp, &file, &dir.join("apply.log"))?;
            (controller, before, cpu, start, Some(apply))
        }
        Phase::Backlog => {
            eprintln!(
                "  kubectl apply --server-side of {} tenants, no controller",
                o.tenants
            );
            let started = Instant::now();
            let cpu = Cpu::take(cp, None);
            let (at, status) = spawn_apply(cp, &file, &dir.join("apply.log"))?
                .join()
                .map_err(|_| "the kubectl thread panicked")?;
            let status = status?;
            let took = at.duration_since(started);
            eprintln!(
                "  kubectl apply: {:.2} s ({status}); CPU: {}",
                took.as_secs_f64(),
                Cpu::take(cp, None).since(&cpu).show()
            );
            let before = requests(cp);
            let cpu = Cpu::take(cp, None);
            let start = Instant::now();
            let controller = Controller::start(o, cp, &log)?;
            eprintln!(
                "  controller pid {} started, log {}",
                controller.child.id(),
                log.display()
            );
            (controller, before, cpu, start, None)
        }
    };
    let mut apply_took = None;
    let mut apply = apply;
    let mut first_ready = None;
    let mut polls = 0;
    let mut last = (0, BTreeMap::new());
    let all_ready = loop {
        let tick = Instant::now();
        if apply
            .as_ref()
            .is_some_and(std::thread::JoinHandle::is_finished)
            && let Some(handle) = apply.take()
        {
            let (at, status) = handle.join().map_err(|_| "the kubectl thread panicked")?;
            status?;
            let took = at.duration_since(start);
            eprintln!("  kubectl apply returned after {:.2} s", took.as_secs_f64());
            apply_took = Some(took);
        }
        let (ready, reasons) = tenant_states(cp)?;
        polls += 1;
        let at = start.elapsed();
        if ready > 0 && first_ready.is_none() {
            first_ready = Some(at);
        }
        if (ready, &reasons) != (last.0, &last.1) {
            eprintln!(
                "  {:6.2} s: {ready}/{} Ready ({})",
                at.as_secs_f64(),
                o.tenants,
                join(&reasons)
            );
            last = (ready, reasons);
        }
        if ready == o.tenants && apply.is_none() {
            break at;
        }
        if let Ok(Some(status)) = controller.child.try_wait() {
            return Err(format!(
                "the controller exited ({status}):\n{}",
                tail(&controller.log(), 20)
            ));
        }
        if at > CONVERGE_TIMEOUT {
            return Err(format!(
                "{ready}/{} Ready after {} s; controller log tail:\n{}",
                o.tenants,
                CONVERGE_TIMEOUT.as_secs(),
                tail(&controller.log(), 20)
            ));
        }
        std::thread::sleep(POLL.saturating_sub(tick.elapsed()));
    };
    let cpu = Cpu::take(cp, Some(controller.child.id())).since(&cpu_before);
    let after = requests(cp);
    let rss_ready = controller.memory();
    let metrics_url = controller.metrics_url()?;
    let by_resource = diff(&before, &after);
    let converge = by_verb(&by_resource);
    eprintln!(
        "  all {} Ready after {:.2} s ({polls} polls); requests: {}; VmRSS {}, VmHWM {}",
        o.tenants,
        all_ready.as_secs_f64(),
        join(&converge),
        mib(rss_ready.rss_kib),
        mib(rss_ready.hwm_kib)
    );
    eprintln!("  CPU: {}", cpu.show());
    eprintln!("  controller metrics: {}", controller_metrics(&metrics_url));

    eprintln!(
        "  at rest: {} s to settle, then {} s",
        SETTLE.as_secs(),
        REST.as_secs()
    );
    std::thread::sleep(SETTLE);
    let rest_before = requests(cp);
    std::thread::sleep(REST);
    let rest_after = requests(cp);
    let rss_rest = controller.memory();
    let rest_by_resource = diff(&rest_before, &rest_after);
    let rest_all = by_verb(&rest_by_resource);
    let rest_writes: BTreeMap<String, u64> = WRITES
        .iter()
        .map(|v| ((*v).to_owned(), rest_all.get(*v).copied().unwrap_or(0)))
        .collect();
    let reconciles = controller_metrics(&metrics_url);
    eprintln!(
        "  at rest: {} (all: {}); VmRSS {}, VmHWM {}; controller metrics: {reconciles}",
        join(&rest_writes),
        rest_by_resource
            .iter()
            .map(|((r, v), n)| format!("{v} {r} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        mib(rss_rest.rss_kib),
        mib(rss_rest.hwm_kib)
    );
    let text = controller.log();
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("retrying") || l.contains("error") || l.contains("not recorded"))
        .collect();
    if !problems.is_empty() {
        eprintln!(
            "  {} error/retry lines in the controller log, e.g.:\n{}",
            problems.len(),
            problems[..problems.len().min(5)].join("\n")
        );
    }
    let log_problems = problems.len();
    drop(controller);
    Ok(Row {
        run,
        phase: phase.name(),
        load,
        apply: apply_took,
        first_ready: first_ready.unwrap_or_default(),
        all_ready,
        polls,
        converge,
        by_resource,
        rest_writes,
        rss_ready,
        rss_rest,
        cpu,
        reconciles,
        log_problems,
    })
}

type ApplyDone = (Instant, Result<String, String>);

/// `kubectl apply --server-side -f FILE` as super-admin in a thread that returns when it ended
/// and its status (stderr into `log`).
fn spawn_apply(
    cp: &ControlPlane,
    file: &Path,
    log: &Path,
) -> Result<std::thread::JoinHandle<ApplyDone>, String> {
    let err = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cp.super_admin())
        .args(["apply", "--server-side", "-f"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .map_err(|e| format!("kubectl: {e}"))?;
    let log = log.to_owned();
    Ok(std::thread::spawn(move || {
        let status = child.wait();
        let at = Instant::now();
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        let result = match status {
            Ok(s) if s.success() => Ok(s.to_string()),
            Ok(s) => Err(format!("kubectl apply ({s}): {}", tail(&err, 10))),
            Err(e) => Err(format!("kubectl apply: {e}")),
        };
        (at, result)
    }))
}

/// The 1-minute load average (the machine may be shared).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// The CRD from `controller manifests --crd-only`, applied server-side and established.
fn install_crd(o: &Options, cp: &ControlPlane) -> Result<(), String> {
    let out = Command::new(&o.tenantctl)
        .args(["controller", "manifests", "--crd-only"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {}: {e}", o.tenantctl.display()))?;
    if !out.status.success() {
        return Err(format!(
            "controller manifests: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cp.super_admin())
        .args(["apply", "--server-side", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("kubectl: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("kubectl stdin")?
        .write_all(&out.stdout)
        .map_err(|e| e.to_string())?;
    let applied = child.wait_with_output().map_err(|e| e.to_string())?;
    if !applied.status.success() {
        return Err(format!(
            "kubectl apply the CRD: {}",
            String::from_utf8_lossy(&applied.stderr)
        ));
    }
    cp.kubectl_super(&[
        "wait",
        "--for=condition=Established",
        "crd/tenants.tenantctl.io",
        "--timeout=60s",
    ]);
    Ok(())
}

/// How many Tenants are Ready=True, and the others by Ready reason (`-`: no condition yet).
fn tenant_states(cp: &ControlPlane) -> Result<(usize, BTreeMap<String, u64>), String> {
    let (ok, out, err) = cp.kubectl_as(&cp.super_admin(), &["get", "tenants", "-o", "json"]);
    if !ok {
        return Err(format!("kubectl get tenants: {err}"));
    }
    let list: Value = serde_json::from_str(&out).map_err(|e| format!("tenants JSON: {e}"))?;
    let mut ready = 0;
    let mut others = BTreeMap::new();
    for t in list["items"].as_array().into_iter().flatten() {
        let c = t["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
        match c {
            Some(c) if c["status"] == "True" => ready += 1,
            Some(c) => {
                *others
                    .entry(c["reason"].as_str().unwrap_or("?").to_owned())
                    .or_insert(0) += 1;
            }
            None => *others.entry("-".to_owned()).or_insert(0) += 1,
        }
    }
    Ok((ready, others))
}

/// `apiserver_request_total` summed by (resource, verb) over [`RESOURCES`] (as
/// `ControlPlane::requests_by_verb_for`, one read of `/metrics` for both views).
fn requests(cp: &ControlPlane) -> BTreeMap<(String, String), u64> {
    let text = cp.kubectl_super(&["get", "--raw", "/metrics"]);
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(name))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let resource = label("resource=\"");
        if !RESOURCES.contains(&resource.as_str()) {
            continue;
        }
        let n: f64 = value.trim().parse().unwrap_or(0.0);
        *counts.entry((resource, label("verb=\""))).or_insert(0) += n as u64;
    }
    counts
}

fn diff(
    before: &BTreeMap<(String, String), u64>,
    after: &BTreeMap<(String, String), u64>,
) -> BTreeMap<(String, String), u64> {
    after
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n.saturating_sub(before.get(k).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn by_verb(counts: &BTreeMap<(String, String), u64>) -> BTreeMap<String, u64> {
    let mut verbs = BTreeMap::new();
    for ((_, verb), n) in counts {
        *verbs.entry(verb.clone()).or_insert(0) += n;
    }
    verbs
}

/// `tenantctl_reconcile_total` by result, `tenantctl_reconcile_errors_total` and the mean of
/// `tenantctl_reconcile_duration_seconds` from the controller's `/metrics`.
fn controller_metrics(url: &str) -> String {
    let Some(text) = http_get(url) else {
        return format!("{url} did not answer");
    };
    let mut parts = Vec::new();
    let (mut sum, mut count) = (0.0, 0.0);
    for line in text.lines() {
        let value = |v: &str| v.trim().parse::<f64>().unwrap_or(0.0);
        if let Some(rest) = line.strip_prefix("tenantctl_reconcile_total{result=\"") {
            if let Some((result, n)) = rest.split_once("\"} ") {
                parts.push(format!("{result} {}", n.trim()));
            }
        } else if let Some(n) = line.strip_prefix("tenantctl_reconcile_errors_total ") {
            parts.push(format!("errors {}", n.trim()));
        } else if let Some(v) = line.strip_prefix("tenantctl_reconcile_duration_seconds_sum ") {
            sum = value(v);
        } else if let Some(v) = line.strip_prefix("tenantctl_reconcile_duration_seconds_count ") {
            count = value(v);
        }
    }
    if count > 0.0 {
        parts.push(format!("mean reconcile {:.0} ms", sum / count * 1000.0));
    }
    parts.join(", ")
}

/// HTTP GET over a plain TCP stream: the body of a 200.
fn http_get(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.lines()
        .next()
        .is_some_and(|l| l.contains(" 200"))
        .then(|| body.to_owned())
}

fn parse_args() -> Result<Options, String> {
    let default_tenantctl = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("tenantctl")))
        .unwrap_or_else(|| PathBuf::from("target/release/tenantctl"));
    let mut o = Options {
        tenants: 1000,
        namespaces: 50,
        concurrency: None,
        runs: 1,
        tenantctl: default_tenantctl,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--tenants" => o.tenants = number(&value)?.max(1),
            "--namespaces" => o.namespaces = number(&value)?.max(1),
            "--concurrency" => o.concurrency = Some(number(&value)?.max(1)),
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

fn join<K: std::fmt::Display>(counts: &BTreeMap<K, u64>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn print_table(o: &Options, rows: &[Row]) {
    println!(
        "| run | phase | load | tenants | kubectl apply | first Ready | all Ready | requests during convergence | writes in {} s at rest | VmRSS / VmHWM at Ready | after rest | CPU s: controller / apiserver / etcd / machine | etcd fsync mean |",
        REST.as_secs()
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} | {} | {} | {:.2} s | {:.2} s | {} | {} | {} / {} | {} / {} | {:.1} / {:.1} / {:.1} / {:.1} | {:.1} ms |",
            r.run,
            r.phase,
            r.load,
            o.tenants,
            r.apply.map_or_else(
                || "before".to_owned(),
                |d| format!("{:.2} s", d.as_secs_f64())
            ),
            r.first_ready.as_secs_f64(),
            r.all_ready.as_secs_f64(),
            join(&r.converge),
            join(&r.rest_writes),
            mib(r.rss_ready.rss_kib),
            mib(r.rss_ready.hwm_kib),
            mib(r.rss_rest.rss_kib),
            mib(r.rss_rest.hwm_kib),
            r.cpu.controller,
            r.cpu.apiserver,
            r.cpu.etcd,
            r.cpu.machine,
            r.cpu.fsync_ms(),
        );
    }
    println!();
    println!("| run | phase | resource | requests during convergence |");
    println!("|---|---|---|---|");
    for r in rows {
        let mut per: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for ((resource, verb), n) in &r.by_resource {
            per.entry(resource).or_default().push(format!("{verb} {n}"));
        }
        for (resource, verbs) in per {
            println!(
                "| {} | {} | {resource} | {} |",
                r.run,
                r.phase,
                verbs.join(", ")
            );
        }
    }
    println!();
    for r in rows {
        println!(
            "run {}, {}: {} polls; controller: {}; {} error/retry lines in its log",
            r.run, r.phase, r.polls, r.reconciles, r.log_problems
        );
    }
    println!(
        "{} tenants (view) in {} namespaces, controller {}; P-256 PKI. The clock starts with the apply (apply while running) or with the controller's start (backlog at start: the apply ran before, the controller's cache fills from a full list). load: 1-minute load average at the phase's start; CPU: user + system seconds during convergence (machine: all cores, 2 x wall at most). Requests: apiserver_request_total on {} (includes kubectl's apply when it ran during the phase, and the status polls).",
        o.tenants,
        o.namespaces,
        o.concurrency.map_or_else(
            || "--concurrency default".to_owned(),
            |n| format!("--concurrency {n}")
        ),
        RESOURCES.join(", ")
    );
}
