//! A hung API server: a real TCP listener on loopback that accepts connections and never
//! answers (not even the TLS handshake). Every cluster command must give up on its own, well
//! within its bound, saying on stderr each time it retries, and write nothing.

use std::{
    net::TcpListener,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");

/// Accepts and holds connections for at most `life`, answering nothing.
fn hung_server(life: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut held = Vec::new();
        while started.elapsed() < life {
            match listener.accept() {
                Ok((conn, _)) => held.push(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    port
}

/// A PKI and an admin kubeconfig whose server is the hung listener.
fn cluster(dir: &Path, port: u16) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args([
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
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let admin = std::fs::read_to_string(dir.join("admin.conf")).unwrap();
    let admin = admin.replace(
        "https://10.0.0.10:6443",
        &format!("https://127.0.0.1:{port}"),
    );
    std::fs::write(dir.join("admin.conf"), admin).unwrap();
}

#[test]
fn a_hung_server_costs_two_request_timeouts_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = hung_server(Duration::from_secs(60));
    cluster(d, port);
    let before: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    for args in [
        &["list"][..],
        &["create", "alice", "--role", "view", "--cert-dir", "pki"][..],
        &["revoke", "alice"][..],
    ] {
        let started = Instant::now();
        let out = Command::new(BIN)
            .current_dir(d)
            .args(args)
            .args(["--kubeconfig", "admin.conf", "--request-timeout", "2s"])
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        // Two silent attempts of 2 s and one 0.5 s backoff, plus process start.
        assert!(took < Duration::from_secs(15), "{args:?} took {took:?}");
        assert!(
            took >= Duration::from_millis(4_500),
            "{args:?} took {took:?}"
        );
        let retries: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("retrying "))
            .collect();
        assert_eq!(retries.len(), 1, "{args:?}: {stderr}");
        assert!(
            retries[0].ends_with("in 500ms (attempt 2/5): timed out after 2s"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("no answer within 2s, 2 attempts"),
            "{args:?}: {stderr}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "{args:?}");
    }
    let after: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "nothing written (no alice.kubeconfig)");

    // --timeout bounds the whole command, whatever --request-timeout allows.
    let started = Instant::now();
    let out = Command::new(BIN)
        .current_dir(d)
        .args(["list", "--kubeconfig", "admin.conf", "--timeout", "1s"])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--timeout reached"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
