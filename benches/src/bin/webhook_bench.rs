//! The revocation webhook's `POST /authorize` (SubjectAccessReview) under load, over real TLS,
//! with `--ids` revoked certificates in the index, beside the same load on an empty index; and
//! the memory of the index.
//!
//! ```sh
//! cargo build --release -p pki-benches --bin webhook_bench
//! ./target/release/webhook_bench [--ids 100000] [--connections 8] [--rate 5000] [--seconds 10] \
//!     [--warmup 2] [--no-pin]
//! ```
//!
//! Set-up, in a temp dir and in process: `tenantctl pki init` on loopback (P-256), then
//! `tenantctl webhook setup --address 127.0.0.1:9443`. The server is the library's own
//! (`webhook::server::tls_config` + `serve`) with a [`State`] holding a
//! `RevokedIndex::from_ids` of pseudo-random SHA-256 ids, on ONE thread: a tokio
//! current_thread runtime on a dedicated thread, pinned to CPU 0 with `taskset` (unless
//! `--no-pin`). The load generator is another current_thread runtime on the main thread, pinned
//! to CPU 1: keep-alive TLS connections (rustls, the API server's client certificate from
//! `webhook.kubeconfig`) sending raw HTTP/1.1 reviews (Content-Length), 1 in 10 naming a
//! revoked certificate (denied), the rest unknown ones (no opinion); every answer is checked.
//!
//! For each index, three runs: 1 connection back to back (the round trip of a lone review);
//! `--connections` paced at `--rate` reviews/s in all (the issue's load: a pacer thread, also on
//! CPU 1, releases each review at its time, open loop, and it is timed from its release, so
//! queueing behind a slow answer counts); and `--connections` back to back (the most one server
//! thread answers). After `--warmup` s, `--seconds` s are measured: reviews/s, round-trip
//! percentiles, the server thread's time on CPU and runnable-but-waiting
//! (`/proc/self/task/TID/schedstat`: other processes on its CPU), and the server's own
//! `tenantctl_webhook_decision_duration_seconds` histogram from `GET /metrics` (difference over
//! the window). Memory: VmRSS before and after building the `--ids` index (the one then served)
//! and a 1,000,000-id one (dropped), beside what the index allocates by construction. A
//! markdown table goes to stdout, progress to stderr.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::Path,
    process::{Command, ExitCode, Stdio},
    sync::{Arc, RwLock, atomic::AtomicBool, mpsc},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use rustls::{
    ClientConfig, RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _},
};
use tenantctl::webhook::{
    index::{CredentialId, RevokedIndex},
    metrics::Metrics,
    server::{self, State},
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    sync::mpsc::{UnboundedReceiver, UnboundedSender},
};
use tokio_rustls::{TlsConnector, client::TlsStream};
use workspace_tests::{Cluster, tenantctl};

/// The seed of the revoked ids (the index) and of the ids that are not revoked.
const REVOKED_SEED: u64 = 1;
const LIVE_SEED: u64 = 2;
/// Distinct review bodies cycled through; every [`DENIED_EVERY`]th names a revoked id.
const BODIES: usize = 1024;
const DENIED_EVERY: usize = 10;
/// The server thread's CPU and the load generator's.
const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;

struct Options {
    ids: usize,
    connections: usize,
    rate: u64,
    seconds: u64,
    warmup: u64,
    pin: bool,
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("webhook_bench: {e}");
            eprintln!(
                "usage: webhook_bench [--ids N] [--connections N] [--rate N] [--seconds N] [--warmup N] [--no-pin]"
            );
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webhook_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where the figures were taken.
struct Machine {
    cpus: usize,
    pinned: bool,
    load_before: String,
    load_after: String,
}

fn run(o: &Options) -> Result<(), String> {
    let mut machine = Machine {
        cpus: thread::available_parallelism().map_or(0, |n| n.get()),
        pinned: false,
        load_before: loadavg(),
        load_after: String::new(),
    };
    // Memory first, before any thread or TLS state exists.
    eprintln!("building an index of {} ids", o.ids);
    let (memory, index) = measure_memory(o.ids);
    let mut memories = vec![memory];
    if o.ids != 1_000_000 {
        eprintln!("building an index of 1,000,000 ids (memory only)");
        memories.push(measure_memory(1_000_000).0);
    }

    eprintln!("pki init + webhook setup");
    let cluster = Cluster::init_loopback(&["--encryption-algorithm", "ECDSA-P256"]);
    let dir = cluster.dir.path().join("webhook");
    tenantctl(&[
        "webhook",
        "setup",
        "--cert-dir",
        &cluster.pki.display().to_string(),
        "--address",
        "127.0.0.1:9443",
        "--out-dir",
        &dir.display().to_string(),
    ])
    .map_err(|e| format!("webhook setup: {e}"))?;
    let tls = server::tls_config(&dir).map_err(|e| format!("tls_config: {e}"))?;
    let client = client_config(&dir)?;
    let requests = Arc::new(requests(o.ids));

    let pinned = o.pin && current_tid().is_some_and(|tid| pin(tid, CLIENT_CPU));
    if o.pin && !pinned {
        eprintln!("could not pin the load generator to CPU {CLIENT_CPU} (taskset); unpinned");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let mut rows = Vec::new();
    let mut server_pinned = true;
    for (label, index) in [("empty", RevokedIndex::default()), ("full", index)] {
        let revoked = index.len();
        let srv = Server::start(index, tls.clone(), o.pin.then_some(SERVER_CPU))?;
        server_pinned &= srv.pinned;
        let mut shapes = vec![Shape {
            connections: 1,
            rate: None,
        }];
        if o.rate > 0 {
            shapes.push(Shape {
                connections: o.connections,
                rate: Some(o.rate),
            });
        }
        if o.connections != 1 {
            shapes.push(Shape {
                connections: o.connections,
                rate: None,
            });
        }
        for shape in shapes {
            eprintln!(
                "index {label} ({revoked} ids), {shape}: {} s warm-up + {} s",
                o.warmup, o.seconds
            );
            let r = rt.block_on(load(
                &srv,
                client.clone(),
                requests.clone(),
                revoked > 0,
                shape,
                Duration::from_secs(o.warmup),
                Duration::from_secs(o.seconds),
            ))?;
            eprintln!(
                "  {:.0} reviews/s, p99 {}, server CPU {:.0} %",
                r.throughput(),
                fmt_ns(r.percentile(0.99)),
                r.server_cpu().unwrap_or(f64::NAN) * 100.0
            );
            rows.push((revoked, r));
        }
        drop(srv);
    }
    machine.load_after = loadavg();
    machine.pinned = pinned && server_pinned;
    print_report(o, &memories, &rows, &machine);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Memory.

struct Memory {
    ids: usize,
    before_kib: u64,
    after_kib: u64,
    expected: u64,
}

/// VmRSS before and after `RevokedIndex::from_ids` of `n` ids, and the index.
fn measure_memory(n: usize) -> (Memory, RevokedIndex) {
    let before_kib = vm_rss_kib();
    let index = RevokedIndex::from_ids((0..n as u64).map(|i| id(REVOKED_SEED, i)));
    let after_kib = vm_rss_kib();
    let memory = Memory {
        ids: n,
        before_kib,
        after_kib,
        expected: expected_bytes(n),
    };
    (memory, index)
}

/// What `from_ids` allocates for `n` ids by construction: hashbrown's table (power-of-two
/// buckets at most 7/8 full, 32 B + one control byte each, 16 more control bytes) and the
/// record's own list of the same ids (32 B each).
fn expected_bytes(n: usize) -> u64 {
    let buckets = match n {
        0 => return 0,
        1..4 => 4,
        4..8 => 8,
        _ => (n * 8 / 7).next_power_of_two(),
    };
    (buckets * 33 + 16 + n * 32) as u64
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Ids and reviews.

/// A pseudo-random SHA-256-sized id (splitmix64), the same for the same seed and `i`.
fn id(seed: u64, i: u64) -> CredentialId {
    let mut state =
        seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ i.wrapping_mul(0xA24B_AED4_963E_E407);
    let mut out = [0u8; 32];
    for chunk in out.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    out
}

fn hex(id: &CredentialId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// One request on the wire, and whether it names a revoked id.
struct Req {
    bytes: Vec<u8>,
    revoked: bool,
}

/// [`BODIES`] reviews as the API server posts them (apiVersion, kind, metadata, spec with user,
/// groups, extra, resourceAttributes; status), every [`DENIED_EVERY`]th with an id of the
/// index of `ids`.
fn requests(ids: usize) -> Vec<Req> {
    (0..BODIES)
        .map(|k| {
            let revoked = ids > 0 && k % DENIED_EVERY == 0;
            let credential = if revoked {
                id(REVOKED_SEED, (k as u64 * 7919) % ids as u64)
            } else {
                id(LIVE_SEED, k as u64)
            };
            let body = serde_json::json!({
                "kind": "SubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": null},
                "spec": {
                    "resourceAttributes": {
                        "namespace": format!("team-{}", k % 50),
                        "verb": "list",
                        "version": "v1",
                        "resource": "configmaps"
                    },
                    "user": format!("tenant-{k}"),
                    "groups": ["tenants", "system:authenticated"],
                    "extra": {
                        "authentication.kubernetes.io/credential-id": [
                            format!("X509SHA256={}", hex(&credential))
                        ]
                    },
                    "uid": ""
                },
                "status": {"allowed": false}
            })
            .to_string();
            let mut bytes = format!(
                "POST /authorize?timeout=3s HTTP/1.1\r\nHost: 127.0.0.1:9443\r\nUser-Agent: kube-apiserver/v1.35.0 (linux/amd64)\r\nAccept: application/json, */*\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            bytes.extend_from_slice(body.as_bytes());
            Req { bytes, revoked }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The server on one thread.

struct Server {
    addr: SocketAddr,
    tid: Option<u32>,
    pinned: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// `serve` on a loopback port, on a new thread running a current_thread runtime (pinned
    /// to `cpu`), with `index`, ready.
    fn start(
        index: RevokedIndex,
        tls: Arc<ServerConfig>,
        cpu: Option<usize>,
    ) -> Result<Self, String> {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("bind: {e}"))?;
        let state = Arc::new(State {
            index: RwLock::new(index),
            ready: AtomicBool::new(true),
            metrics: Metrics::default(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tid_tx, tid_rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("webhook".into())
            .spawn(move || {
                let tid = current_tid();
                let pinned = cpu.is_some_and(|c| tid.is_some_and(|t| pin(t, c)));
                let _ = tid_tx.send((tid, pinned));
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return eprintln!("webhook_bench: server runtime: {e}"),
                };
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            tokio::spawn(server::serve(listener, tls, state));
                            let _ = stopped.await;
                        }
                        Err(e) => eprintln!("webhook_bench: listener: {e}"),
                    }
                });
                // Dropping the runtime drops the accept loop and every connection.
            })
            .map_err(|e| format!("server thread: {e}"))?;
        let (tid, pinned) = tid_rx
            .recv()
            .map_err(|_| "the server thread died".to_owned())?;
        if cpu.is_some() && !pinned {
            eprintln!("could not pin the server thread to CPU {SERVER_CPU} (taskset); unpinned");
        }
        Ok(Self {
            addr,
            tid,
            pinned,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A thread's time on a CPU and time runnable but waiting for one, so far (ns).
#[derive(Clone, Copy, Debug, Default)]
struct Sched {
    run: u64,
    wait: u64,
}

impl Sched {
    /// `/proc/self/task/TID/schedstat`.
    fn of(tid: Option<u32>) -> Option<Self> {
        let text = std::fs::read_to_string(format!("/proc/self/task/{}/schedstat", tid?)).ok()?;
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
        Some(Self {
            run: fields.next()??,
            wait: fields.next()??,
        })
    }

    fn since(self, earlier: Self) -> Self {
        Self {
            run: self.run.saturating_sub(earlier.run),
            wait: self.wait.saturating_sub(earlier.wait),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// This thread's id, from `/proc/thread-self` (`PID/task/TID`).
fn current_tid() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .to_str()?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

/// `taskset -p -c CPU TID`: the one thread only.
fn pin(tid: u32, cpu: usize) -> bool {
    Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), &tid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------------
// The load generator.

/// The API server's side: `ca.crt` trusted, the client certificate of `webhook.kubeconfig`.
fn client_config(dir: &Path) -> Result<Arc<ClientConfig>, String> {
    let path = dir.join("webhook.kubeconfig");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let kc = kubeconfig::Kubeconfig::from_yaml(&text).map_err(|e| format!("{e}"))?;
    let current = kc.current().map_err(|e| format!("{e}"))?;
    let kubeconfig::Credentials::ClientCertificate { cert_pem, key_pem } = current.credentials
    else {
        return Err("webhook.kubeconfig holds no client certificate".into());
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("client certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.expose_secret().as_bytes())
        .map_err(|e| format!("client key: {e}"))?;
    let ca = std::fs::read(dir.join("ca.crt")).map_err(|e| format!("ca.crt: {e}"))?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots
            .add(c.map_err(|e| format!("ca.crt: {e}"))?)
            .map_err(|e| format!("ca.crt: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("client certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How the load is offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    connections: usize,
    /// Reviews per second in all, spread evenly over the connections, each timed from when it
    /// was due (so a stall counts for every review it delays); `None`: back to back.
    rate: Option<u64>,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.connections;
        let s = if n == 1 { "" } else { "s" };
        match self.rate {
            Some(r) => write!(f, "{n} connection{s}, paced at {r}/s"),
            None => write!(f, "{n} connection{s}, back to back"),
        }
    }
}

/// What one run measured.
struct Run {
    shape: Shape,
    window: Duration,
    /// Round trips started in the window, ns, sorted.
    latencies: Vec<u64>,
    denied: u64,
    non_200: u64,
    wrong: u64,
    errors: Vec<String>,
    /// The server thread's and the load generator's scheduling over the window.
    server_sched: Option<Sched>,
    client_sched: Option<Sched>,
    /// The server's metrics over the window.
    server: Scrape,
}

impl Run {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.window.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> u64 {
        if self.latencies.is_empty() {
            return 0;
        }
        let i = ((p * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1]
    }

    /// The server thread's share of one core over the window.
    fn server_cpu(&self) -> Option<f64> {
        self.share(self.server_sched.map(|s| s.run))
    }

    /// A time as a share of the window.
    fn share(&self, ns: Option<u64>) -> Option<f64> {
        ns.map(|ns| ns as f64 / self.window.as_nanos() as f64)
    }
}

/// One connection's results.
#[derive(Default)]
struct Conn {
    latencies: Vec<u64>,
    denied: u64,
    non_200: u64,
    wrong: u64,
    error: Option<String>,
}

async fn load(
    srv: &Server,
    config: Arc<ClientConfig>,
    requests: Arc<Vec<Req>>,
    expect_denials: bool,
    shape: Shape,
    warmup: Duration,
    seconds: Duration,
) -> Result<Run, String> {
    let connections = shape.connections;
    let connector = TlsConnector::from(config);
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        streams.push(connect(&connector, srv.addr).await?);
    }
    let begin = Instant::now();
    let warm_end = begin + warmup;
    let end = warm_end + seconds;
    let (mut senders, mut receivers) = (Vec::new(), Vec::new());
    for _ in 0..connections {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        senders.push(tx);
        receivers.push(shape.rate.map(|_| rx));
    }
    let pacer = match shape.rate {
        Some(rate) => Some(
            thread::Builder::new()
                .name("pacer".into())
                .spawn(move || pace(&senders, rate, begin, end))
                .map_err(|e| format!("pacer thread: {e}"))?,
        ),
        None => None,
    };
    let tasks: Vec<_> = streams
        .into_iter()
        .zip(receivers)
        .enumerate()
        .map(|(c, (stream, pace))| {
            tokio::spawn(drive(
                stream,
                requests.clone(),
                c * BODIES / connections,
                expect_denials,
                pace,
                (warm_end, end),
            ))
        })
        .collect();
    tokio::time::sleep_until(warm_end.into()).await;
    let client_tid = current_tid();
    let (server_start, client_start) = (Sched::of(srv.tid), Sched::of(client_tid));
    let scrape_start = scrape(&connector, srv.addr).await?;
    tokio::time::sleep_until(end.into()).await;
    let (server_end, client_end) = (Sched::of(srv.tid), Sched::of(client_tid));
    let mut run = Run {
        shape,
        window: seconds,
        latencies: Vec::new(),
        denied: 0,
        non_200: 0,
        wrong: 0,
        errors: Vec::new(),
        server_sched: server_start.zip(server_end).map(|(a, b)| b.since(a)),
        client_sched: client_start.zip(client_end).map(|(a, b)| b.since(a)),
        server: Scrape::default(),
    };
    for task in tasks {
        let c = task.await.map_err(|e| format!("connection task: {e}"))?;
        run.latencies.extend(c.latencies);
        run.denied += c.denied;
        run.non_200 += c.non_200;
        run.wrong += c.wrong;
        run.errors.extend(c.error);
    }
    if let Some(p) = pacer {
        p.join()
            .map_err(|_| "the pacer thread panicked".to_owned())?;
    }
    run.latencies.sort_unstable();
    run.server = scrape(&connector, srv.addr).await?.minus(&scrape_start);
    Ok(run)
}

async fn connect(
    connector: &TlsConnector,
    addr: SocketAddr,
) -> Result<TlsStream<TcpStream>, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))
}

/// Releases `rate` reviews a second from `begin` to `end`, round robin over the connections,
/// each as the instant it was released at. A thread of its own that sleeps in between
/// (`nanosleep`: tokio's timer has a 1 ms grain, and spinning would keep the kernel's own work
/// on this CPU waiting); it never waits on the server, so a stall shows in every review it holds
/// up.
fn pace(senders: &[UnboundedSender<Instant>], rate: u64, begin: Instant, end: Instant) {
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    for k in 0u32.. {
        let due = begin + every * k;
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let _ = senders[k as usize % senders.len()].send(Instant::now());
    }
}

/// Reviews on one connection until `end`: back to back, or each as the pacer releases it
/// (`pace`), timed from its release (queueing behind a slow answer included); those started
/// (or released) from `warm_end` on are counted.
async fn drive(
    mut stream: TlsStream<TcpStream>,
    requests: Arc<Vec<Req>>,
    mut next: usize,
    expect_denials: bool,
    mut pace: Option<UnboundedReceiver<Instant>>,
    (warm_end, end): (Instant, Instant),
) -> Conn {
    let mut conn = Conn {
        latencies: Vec::with_capacity(1 << 16),
        ..Conn::default()
    };
    let mut buf = Vec::with_capacity(8192);
    loop {
        let started = match &mut pace {
            Some(released) => match released.recv().await {
                Some(t) => t,
                None => break,
            },
            None => Instant::now(),
        };
        if started >= end {
            break;
        }
        let req = &requests[next % requests.len()];
        next += 1;
        let answer = round_trip(&mut stream, &req.bytes, &mut buf).await;
        let took = started.elapsed();
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                conn.error = Some(e);
                break;
            }
        };
        if started < warm_end {
            continue;
        }
        conn.latencies
            .push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        if status != 200 {
            conn.non_200 += 1;
            continue;
        }
        let denied = body.windows(13).any(|w| w == b"\"denied\":true");
        conn.denied += u64::from(denied);
        if denied != (expect_denials && req.revoked) {
            conn.wrong += 1;
        }
    }
    conn
}

/// Sends `req` and reads one response into `buf`: (status, body).
async fn round_trip<'b>(
    stream: &mut TlsStream<TcpStream>,
    req: &[u8],
    buf: &'b mut Vec<u8>,
) -> Result<(u16, &'b [u8]), String> {
    stream
        .write_all(req)
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream.flush().await.map_err(|e| format!("write: {e}"))?;
    buf.clear();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "response head not UTF-8")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .ok_or_else(|| format!("no content-length: {head:?}"))?;
    while buf.len() < head_end + length {
        read_more(stream, buf).await?;
    }
    Ok((status, &buf[head_end..head_end + length]))
}

async fn read_more(stream: &mut TlsStream<TcpStream>, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.reserve(4096);
    match stream.read_buf(buf).await {
        Ok(0) => Err("connection closed by the server".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The server's metrics.

/// What `GET /metrics` says about decisions.
#[derive(Clone, Debug, Default)]
struct Scrape {
    /// `le` → cumulative count of `tenantctl_webhook_decision_duration_seconds`.
    buckets: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
    decisions: BTreeMap<String, u64>,
    bad: BTreeMap<String, u64>,
}

const HISTOGRAM: &str = "tenantctl_webhook_decision_duration_seconds";

async fn scrape(connector: &TlsConnector, addr: SocketAddr) -> Result<Scrape, String> {
    let mut stream = connect(connector, addr).await?;
    let mut buf = Vec::new();
    let (status, body) = round_trip(
        &mut stream,
        b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        &mut buf,
    )
    .await?;
    if status != 200 {
        return Err(format!("GET /metrics: {status}"));
    }
    Ok(Scrape::parse(&String::from_utf8_lossy(body)))
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut s = Self::default();
        let labelled = |line: &str, prefix: &str| -> Option<(String, u64)> {
            let rest = line.strip_prefix(prefix)?.strip_prefix("{result=\"")?;
            let (label, value) = rest.split_once("\"}")?;
            Some((label.to_owned(), value.trim().parse().ok()?))
        };
        for line in text.lines() {
            if let Some(rest) = line
                .strip_prefix(HISTOGRAM)
                .and_then(|r| r.strip_prefix("_bucket{le=\""))
                && let Some((le, value)) = rest.split_once("\"}")
            {
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                s.buckets.push((le, value.trim().parse().unwrap_or(0)));
            } else if let Some(v) = line
                .strip_prefix(HISTOGRAM)
                .and_then(|r| r.strip_prefix("_sum "))
            {
                s.sum = v.trim().parse().unwrap_or(0.0);
            } else if let Some(v) = line
                .strip_prefix(HISTOGRAM)
                .and_then(|r| r.strip_prefix("_count "))
            {
                s.count = v.trim().parse().unwrap_or(0);
            } else if let Some((k, v)) = labelled(line, "tenantctl_webhook_decisions_total") {
                s.decisions.insert(k, v);
            } else if let Some((k, v)) = labelled(line, "tenantctl_webhook_bad_requests_total") {
                s.bad.insert(k, v);
            }
        }
        s
    }

    /// The difference from an earlier scrape.
    fn minus(mut self, earlier: &Self) -> Self {
        for (b, e) in self.buckets.iter_mut().zip(&earlier.buckets) {
            b.1 = b.1.saturating_sub(e.1);
        }
        self.sum -= earlier.sum;
        self.count = self.count.saturating_sub(earlier.count);
        for (now, then) in [
            (&mut self.decisions, &earlier.decisions),
            (&mut self.bad, &earlier.bad),
        ] {
            for (k, v) in now.iter_mut() {
                *v = v.saturating_sub(then.get(k).copied().unwrap_or(0));
            }
        }
        self
    }

    /// The smallest bucket bound holding at least `p` of the decisions.
    fn bound(&self, p: f64) -> Option<f64> {
        let want = (p * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= want)
            .map(|(le, _)| *le)
    }

    /// The share of decisions within `le` seconds (`le` must be a bucket bound).
    fn share_within(&self, le: f64) -> Option<f64> {
        let (_, n) = self.buckets.iter().find(|(b, _)| (*b - le).abs() < 1e-12)?;
        (self.count > 0).then(|| *n as f64 / self.count as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

fn fmt_ns(ns: u64) -> String {
    if ns < 1_000_000 {
        format!("{:.0} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

fn fmt_secs(s: f64) -> String {
    if s.is_infinite() {
        "> 50 ms".into()
    } else {
        fmt_ns((s * 1e9).round() as u64)
    }
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "?".into(), |s| format!("{:.0} %", s * 100.0))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_report(o: &Options, memories: &[Memory], rows: &[(usize, Run)], machine: &Machine) {
    println!(
        "| revoked ids | VmRSS before | VmRSS after | delta | per id | allocated by construction |"
    );
    println!("|---|---|---|---|---|---|");
    for m in memories {
        let delta = m.after_kib.saturating_sub(m.before_kib);
        println!(
            "| {} | {} | {} | {} | {:.0} B | {:.1} MiB ({:.0} B per id) |",
            m.ids,
            mib(m.before_kib),
            mib(m.after_kib),
            mib(delta),
            (delta * 1024) as f64 / m.ids.max(1) as f64,
            m.expected as f64 / 1_048_576.0,
            m.expected as f64 / m.ids.max(1) as f64,
        );
    }
    println!();
    println!(
        "| revoked ids | load | reviews/s | round trip p50 | p90 | p99 | p99.9 | max | server decision p99 (histogram) | decisions ≤ 1 ms | server thread on CPU / runnable waiting | reviews per server CPU-second | load generator on CPU | denied | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (revoked, r) in rows {
        let cpu = r.server_cpu();
        let errors =
            r.non_200 + r.wrong + r.errors.len() as u64 + r.server.bad.values().sum::<u64>();
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | ≤ {} | {} | {} / {} | {} | {} | {} | {} |",
            revoked,
            r.shape,
            r.throughput(),
            fmt_ns(r.percentile(0.5)),
            fmt_ns(r.percentile(0.9)),
            fmt_ns(r.percentile(0.99)),
            fmt_ns(r.percentile(0.999)),
            fmt_ns(r.latencies.last().copied().unwrap_or(0)),
            r.server.bound(0.99).map_or_else(|| "?".into(), fmt_secs),
            r.server
                .share_within(0.001)
                .map_or_else(|| "?".into(), |s| format!("{:.3} %", s * 100.0)),
            percent(cpu),
            percent(r.share(r.server_sched.map(|s| s.wait))),
            cpu.map_or_else(
                || "?".into(),
                |c| format!("{:.0}", r.throughput() / c.max(1e-9))
            ),
            percent(r.share(r.client_sched.map(|s| s.run))),
            r.denied,
            errors,
        );
    }
    println!();
    for (revoked, r) in rows {
        if r.server.count > 0 {
            println!(
                "- {} ids, {}: server decisions {} (mean {}), {}; bad requests {:?}",
                revoked,
                r.shape,
                r.server.count,
                fmt_secs(r.server.sum / r.server.count as f64),
                r.server
                    .decisions
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                r.server.bad,
            );
        }
        for e in &r.errors {
            println!("- {revoked} ids, {}: connection error: {e}", r.shape);
        }
        if r.wrong > 0 || r.non_200 > 0 {
            println!(
                "- {revoked} ids, {}: {} answers not 200, {} with the wrong decision",
                r.shape, r.non_200, r.wrong
            );
        }
    }
    // The full index against the empty one, per connection count.
    for (revoked, full) in rows.iter().filter(|(n, _)| *n > 0) {
        if let Some((_, empty)) = rows.iter().find(|(n, r)| *n == 0 && r.shape == full.shape) {
            println!(
                "- {revoked} ids vs empty, {}: throughput ×{:.3}, round-trip p99 ×{:.3}, server CPU per review ×{:.3}",
                full.shape,
                full.throughput() / empty.throughput(),
                full.percentile(0.99) as f64 / empty.percentile(0.99).max(1) as f64,
                match (full.server_cpu(), empty.server_cpu()) {
                    (Some(f), Some(e)) =>
                        (f / full.throughput()) / (e / empty.throughput()).max(1e-12),
                    _ => f64::NAN,
                }
            );
        }
    }
    println!();
    println!(
        "Server: `webhook::server::serve` on one thread (tokio current_thread){}; load: keep-alive TLS connections on {}, 1 in {DENIED_EVERY} reviews naming a revoked id; {} s warm-up, {} s measured per row. Load average before {}, after {}; {} CPUs.",
        if machine.pinned {
            format!(", pinned to CPU {SERVER_CPU}")
        } else {
            ", unpinned".into()
        },
        if machine.pinned {
            format!("one thread pinned to CPU {CLIENT_CPU}")
        } else {
            "one thread, unpinned".into()
        },
        o.warmup,
        o.seconds,
        machine.load_before,
        machine.load_after,
        machine.cpus,
    );
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        ids: 100_000,
        connections: 8,
        rate: 5000,
        seconds: 10,
        warmup: 2,
        pin: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--no-pin" {
            o.pin = false;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--ids" => o.ids = number(&value)? as usize,
            "--connections" => o.connections = (number(&value)? as usize).max(1),
            "--rate" => o.rate = number(&value)?,
            "--seconds" => o.seconds = number(&value)?.max(1),
            "--warmup" => o.warmup = number(&value)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}
