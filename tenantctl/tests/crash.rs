//! kill -9 at seeded-random moments: during RSA key generation, during the write phase of
//! `pki init`, and during `pki renew`. After each kill the tree must be whole (every file under
//! its final name parses and has its mode; no certificate without its key); the same command
//! again must converge (exit 0) and leave no temporary file, journal, lock file or empty
//! directory; `pki check` must then pass.
//!
//! The seed is printed; `TENANTCTL_KILL_SEED=N` replays a run.

use std::{
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use pki_core::{Certificate, PrivateKey};

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");

const BASES: [&str; 10] = [
    "ca",
    "apiserver",
    "apiserver-kubelet-client",
    "front-proxy-ca",
    "front-proxy-client",
    "etcd/ca",
    "etcd/server",
    "etcd/peer",
    "etcd/healthcheck-client",
    "apiserver-etcd-client",
];
const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: Duration) -> Duration {
        let nanos = u64::try_from(n.as_nanos()).unwrap_or(u64::MAX).max(1);
        Duration::from_nanos(self.next() % nanos)
    }
}

fn command(dir: &Path, alg: &str, verb: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .args(verb)
        .args([
            "--cert-dir",
            "k8s/pki",
            "--kubeconfig-dir",
            "k8s",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "10.0.0.10",
            "--encryption-algorithm",
            alg,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Runs to the end; returns how long it took and whether it recovered a dead run's write.
fn run(dir: &Path, alg: &str, verb: &[&str]) -> (Duration, bool) {
    let started = Instant::now();
    let out = command(dir, alg, verb).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{verb:?} after a kill did not converge: {stderr}"
    );
    (started.elapsed(), stderr.contains("recovered:"))
}

/// Starts the command and kills it with SIGKILL after `after`.
fn kill_after(dir: &Path, alg: &str, verb: &[&str], after: Duration) {
    let mut child = command(dir, alg, verb).spawn().unwrap();
    std::thread::sleep(after);
    let _ = child.kill(); // SIGKILL; it may have finished already
    let _ = child.wait();
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().mode() & 0o777
}

/// Every file under a final name is whole and has its mode; no certificate lacks its key. With
/// `window`, a replaced key may not match its old certificate yet (the moment between the two
/// renames of a committed renewal); recovery finishes it.
fn assert_whole(dir: &Path, what: &str, window: bool) {
    let pki = dir.join("k8s/pki");
    for base in BASES {
        let crt = pki.join(format!("{base}.crt"));
        let key = pki.join(format!("{base}.key"));
        match (crt.exists(), key.exists()) {
            (false, _) => continue,
            (true, false) => panic!("{what}: {base}.crt without its key"),
            (true, true) => {}
        }
        let cert = Certificate::from_pem(&fs::read_to_string(&crt).unwrap())
            .unwrap_or_else(|e| panic!("{what}: {base}.crt is not whole: {e}"));
        let k = PrivateKey::from_pem(&fs::read_to_string(&key).unwrap())
            .unwrap_or_else(|e| panic!("{what}: {base}.key is not whole: {e}"));
        assert!(
            window || cert.matches_key(&k).unwrap(),
            "{what}: {base}.key does not belong to {base}.crt"
        );
        assert_eq!(mode(&crt), 0o644, "{what}: {base}.crt");
        assert_eq!(mode(&key), 0o600, "{what}: {base}.key");
    }
    for f in ["sa.key", "sa.pub"] {
        let p = pki.join(f);
        if p.exists() {
            assert!(
                fs::read_to_string(&p).unwrap().ends_with("-----\n"),
                "{what}: {f}"
            );
            assert_eq!(mode(&p), 0o600, "{what}: {f}");
        }
    }
    for kc in KUBECONFIGS {
        let p = dir.join("k8s").join(kc);
        if p.exists() {
            kubeconfig::Kubeconfig::from_yaml(&fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{what}: {kc} is not whole: {e}"));
            assert_eq!(mode(&p), 0o600, "{what}: {kc}");
        }
    }
}

/// After convergence: the whole tree, and nothing else.
fn assert_converged(dir: &Path, what: &str) {
    assert_whole(dir, what, false);
    let files = clean_files(dir, what);
    assert_eq!(files.len(), 27, "{what}: the whole tree");
}

/// Every file under `k8s/`, asserting on the way that no directory is empty and nothing was
/// left behind (a journal, temporary file or lock file: a name starting with a dot).
fn clean_files(dir: &Path, what: &str) -> Vec<PathBuf> {
    let mut stack: Vec<PathBuf> = vec![dir.join("k8s")];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        let entries: Vec<_> = fs::read_dir(&d).unwrap().map(|e| e.unwrap()).collect();
        assert!(
            !entries.is_empty(),
            "{what}: empty directory {}",
            d.display()
        );
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with('.'),
                "{what}: left behind: {}",
                e.path().display()
            );
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    files
}

fn check(dir: &Path, alg: &str, what: &str) {
    let out = command(dir, alg, &["pki", "check"]).output().unwrap();
    assert!(
        out.status.success(),
        "{what}: pki check after convergence: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kill_9_at_random_moments_leaves_a_whole_tree_that_the_next_run_completes() {
    let seed: u64 = std::env::var("TENANTCTL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("TENANTCTL_KILL_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let started = Instant::now();

    // How long each whole command takes here, to spread the kills over it.
    let probe = tempfile::tempdir().unwrap();
    let ecdsa = run(probe.path(), "ECDSA-P256", &["pki", "init"]).0;
    let renew = run(probe.path(), "ECDSA-P256", &["pki", "renew", "all"]).0;
    let rsa_dir = tempfile::tempdir().unwrap();
    let rsa = run(rsa_dir.path(), "RSA-2048", &["pki", "init"]).0;
    println!("whole runs: ECDSA init {ecdsa:?}, renew all {renew:?}, RSA-2048 init {rsa:?}");

    let (mut kills, mut mid_write) = (0, 0);
    // The write phase of init (ECDSA: keys take microseconds, the run is mostly writing).
    for i in 0..16 {
        let dir = tempfile::tempdir().unwrap();
        let at = rng.below(ecdsa + ecdsa / 4);
        kill_after(dir.path(), "ECDSA-P256", &["pki", "init"], at);
        let what = format!("ECDSA init #{i} killed at {at:?}");
        if dir.path().join("k8s/pki").exists() {
            assert_whole(dir.path(), &what, false);
        }
        mid_write += usize::from(run(dir.path(), "ECDSA-P256", &["pki", "init"]).1);
        assert_converged(dir.path(), &what);
        check(dir.path(), "ECDSA-P256", &what);
        kills += 1;
    }
    // RSA key generation (most of an RSA run) and its writes.
    for i in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let at = rng.below(rsa + rsa / 10);
        kill_after(dir.path(), "RSA-2048", &["pki", "init"], at);
        let what = format!("RSA init #{i} killed at {at:?}");
        if dir.path().join("k8s/pki").exists() {
            assert_whole(dir.path(), &what, false);
        }
        mid_write += usize::from(run(dir.path(), "RSA-2048", &["pki", "init"]).1);
        assert_converged(dir.path(), &what);
        kills += 1;
    }
    // Renewal: replaced pairs.
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), "ECDSA-P256", &["pki", "init"]);
    for i in 0..10 {
        let at = rng.below(renew + renew / 4);
        kill_after(dir.path(), "ECDSA-P256", &["pki", "renew", "all"], at);
        let what = format!("renew #{i} killed at {at:?}");
        let committed = dir.path().join("k8s/pki/.tenantctl-journal").exists();
        assert_whole(dir.path(), &what, committed);
        mid_write += usize::from(run(dir.path(), "ECDSA-P256", &["pki", "renew", "all"]).1);
        assert_converged(dir.path(), &what);
        check(dir.path(), "ECDSA-P256", &what);
        kills += 1;
    }
    println!(
        "{kills} kills, {mid_write} of them mid-write (the next run recovered), all converged, in {:?}",
        started.elapsed()
    );
    assert!(
        mid_write > 0,
        "no kill landed in a write phase: the test proved nothing"
    );
}

const DEFAULT_SEED: u64 = 0x7e57_c0de;

/// Two writers on one PKI directory: the second fails at once (exit 4, naming the holder), or
/// waits with --lock-timeout and then runs.
#[test]
fn a_second_writer_fails_at_once_or_waits_for_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, "ECDSA-P256", &["pki", "init"]);
    let pki = d.join("k8s/pki");
    // Hold the lock as another tenantctl would: flock on the directory, holder named.
    let held = fs::File::open(&pki).unwrap();
    held.lock().unwrap();
    fs::write(
        pki.join(".tenantctl-lock"),
        "pid 4242 (tenantctl pki renew) since 2026-12-02T00:00:00Z\n",
    )
    .unwrap();

    let out = command(d, "ECDSA-P256", &["pki", "renew", "all"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("is locked by another tenantctl run: pid 4242 (tenantctl pki renew)"),
        "{stderr}"
    );

    let waiter = std::thread::spawn({
        let d = d.to_owned();
        move || {
            let started = Instant::now();
            let out = command(
                &d,
                "ECDSA-P256",
                &["pki", "renew", "all", "--lock-timeout", "20s"],
            )
            .output()
            .unwrap();
            (out, started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    fs::remove_file(pki.join(".tenantctl-lock")).unwrap();
    held.unlock().unwrap();
    let (out, took) = waiter.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took >= Duration::from_millis(600), "it waited: {took:?}");
    assert_converged(d, "after waiting for the lock");
}

/// Each CA rotation step, with the steps that lead to the phase it starts from.
const ROTATION_STEPS: [(&str, &[&str]); 5] = [
    ("begin", &[]),
    ("reissue", &["begin"]),
    ("finish", &["begin", "reissue"]),
    ("abort", &["begin"]),
    ("abort", &["begin", "reissue"]),
];

fn rotate(step: &str) -> [&str; 6] {
    ["pki", "rotate-ca", step, "--ca", "all", "--skip-tenants"]
}

/// Under a rotation: each CA file's certificates parse and the first one belongs to its key
/// (bar the `window` of a committed batch); the state parses; while the rotation is under way
/// both pairs are in the rotation directory, whole, keys 0600.
fn assert_rotation_whole(dir: &Path, what: &str, window: bool) -> Vec<(String, String)> {
    let pki = dir.join("k8s/pki");
    let mut phases = Vec::new();
    for (name, base) in [
        ("cluster", "ca"),
        ("front-proxy", "front-proxy-ca"),
        ("etcd", "etcd/ca"),
    ] {
        let bundle = Certificate::chain_from_pem(
            &fs::read_to_string(pki.join(format!("{base}.crt"))).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{what}: {base}.crt: {e}"));
        let key =
            PrivateKey::from_pem(&fs::read_to_string(pki.join(format!("{base}.key"))).unwrap())
                .unwrap();
        assert!(
            window || bundle[0].matches_key(&key).unwrap(),
            "{what}: {base}.crt's first certificate does not belong to {base}.key"
        );
        let rot = pki.join("rotation").join(name);
        let Ok(state) = fs::read_to_string(rot.join("state.yaml")) else {
            assert!(
                window || bundle.len() == 1,
                "{what}: {base}.crt is a bundle without a state"
            );
            continue;
        };
        let phase = state
            .lines()
            .find_map(|l| l.strip_prefix("phase: "))
            .unwrap_or_else(|| panic!("{what}: {name}/state.yaml: {state}"))
            .trim()
            .to_owned();
        // Within a committed batch (the `window`) the state may be in place before or after
        // the CA file; recovery finishes the batch.
        if !window && (phase == "begun" || phase == "reissued") {
            assert_eq!(bundle.len(), 2, "{what}: {base}.crt during {phase}");
            for pair in ["old", "new"] {
                let k = rot.join(format!("{pair}.key"));
                let c = rot.join(format!("{pair}.crt"));
                let cert = Certificate::from_pem(&fs::read_to_string(&c).unwrap()).unwrap();
                let key = PrivateKey::from_pem(&fs::read_to_string(&k).unwrap()).unwrap();
                assert!(cert.matches_key(&key).unwrap(), "{what}: {name}/{pair}");
                assert_eq!(mode(&k), 0o600, "{what}: {name}/{pair}.key");
            }
        }
        phases.push((name.to_owned(), phase));
    }
    phases
}

/// After the step converged: whole, every leaf signed by the first certificate of its CA file,
/// no journal, temporary or lock file, no empty directory, and no key material left after
/// finish or abort.
fn assert_rotation_converged(dir: &Path, what: &str, phase: &str) {
    assert_whole(dir, what, false);
    let phases = assert_rotation_whole(dir, what, false);
    assert_eq!(phases.len(), 3, "{what}: {phases:?}");
    assert!(
        phases.iter().all(|(_, p)| p == phase),
        "{what}: {phases:?}, want {phase}"
    );
    let pki = dir.join("k8s/pki");
    for (ca, leaves) in [
        ("ca", &["apiserver", "apiserver-kubelet-client"][..]),
        ("front-proxy-ca", &["front-proxy-client"][..]),
        (
            "etcd/ca",
            &[
                "etcd/server",
                "etcd/peer",
                "etcd/healthcheck-client",
                "apiserver-etcd-client",
            ][..],
        ),
    ] {
        let signer =
            Certificate::from_pem(&fs::read_to_string(pki.join(format!("{ca}.crt"))).unwrap())
                .unwrap();
        for leaf in leaves {
            Certificate::from_pem(&fs::read_to_string(pki.join(format!("{leaf}.crt"))).unwrap())
                .unwrap()
                .verify_signed_by(&signer)
                .unwrap_or_else(|e| panic!("{what}: {leaf}: {e}"));
        }
    }
    let files = clean_files(dir, what);
    if phase == "finished" || phase == "aborted" {
        for f in &files {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            assert!(
                !["old.key", "new.key", "old.crt", "new.crt"].contains(&name.as_ref()),
                "{what}: key material left: {}",
                f.display()
            );
        }
    }
}

#[test]
fn kill_9_in_each_ca_rotation_step_then_the_same_step_converges() {
    let seed: u64 = std::env::var("TENANTCTL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("TENANTCTL_KILL_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let alg = "ECDSA-P256";
    let (mut kills, mut mid_write) = (0, 0);
    for (step, before) in ROTATION_STEPS {
        let prepare = || {
            let dir = tempfile::tempdir().unwrap();
            run(dir.path(), alg, &["pki", "init"]);
            for b in before {
                run(dir.path(), alg, &rotate(b));
            }
            dir
        };
        let probe = prepare();
        let whole = run(probe.path(), alg, &rotate(step)).0;
        let phase = match step {
            "begin" => "begun",
            "reissue" => "reissued",
            "finish" => "finished",
            _ => "aborted",
        };
        for i in 0..6 {
            let dir = prepare();
            let at = rng.below(whole + whole / 4);
            kill_after(dir.path(), alg, &rotate(step), at);
            let what = format!(
                "rotate-ca {step} after {before:?}, #{i} killed at {at:?} (whole run {whole:?})"
            );
            let committed = dir.path().join("k8s/pki/.tenantctl-journal").exists();
            assert_whole(dir.path(), &what, committed);
            assert_rotation_whole(dir.path(), &what, committed);
            mid_write += usize::from(run(dir.path(), alg, &rotate(step)).1);
            assert_rotation_converged(dir.path(), &what, phase);
            check(dir.path(), alg, &what);
            kills += 1;
        }
    }
    println!(
        "rotation: {kills} kills, {mid_write} of them mid-write (the next run recovered), all converged"
    );
    assert!(
        mid_write > 0,
        "no kill landed in a write: the test proved nothing"
    );
}
