//! The fuzz targets' seed corpora and regression inputs, replayed in the normal test suite: every
//! file in `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the same parse
//! calls and property checks as the fuzz target (`fuzz/src/lib.rs`, included here as a module,
//! so the checks are written once). A regression input that fails again fails this test, without
//! cargo-fuzz or a nightly toolchain.

use std::{
    fs,
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
};

// Written for the fuzz crate, where its functions are that crate's public API.
#[allow(unreachable_pub)]
#[path = "../../fuzz/src/lib.rs"]
mod checks;

fn fuzz_dir() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests
        .parent()
        .expect("tests/ is in the repository")
        .join("fuzz")
}

/// The files directly in `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("read a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every corpus and regression input of `target`; fails naming every input that
/// panics (each panic's message is printed above the failure).
fn replay(target: &str, check: fn(&[u8])) {
    let corpus = inputs(&fuzz_dir().join("corpus").join(target));
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ has no seeds");
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = fs::read(path).expect("read a fuzz input");
        if panic::catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail the fuzz target's checks:\n{}",
        failed.len(),
        corpus.len() + regressions.len(),
        failed.join("\n")
    );
}

macro_rules! replay_targets {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target), checks::$target);
            }
        )*

        /// Every target replayed above.
        const REPLAYED: &[&str] = &[$(stringify!($target)),*];
    };
}

replay_targets!(
    cert_der,
    cert_pem,
    key_pem,
    csr,
    kubeconfig_yaml,
    san,
    kubeadm_config,
    cluster_info,
    kubeadm_certs,
    tenants_file
);

#[test]
fn every_fuzz_target_is_replayed() {
    let mut targets: Vec<String> = inputs(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|path| Some(path.file_name()?.to_str()?.strip_suffix(".rs")?.to_owned()))
        .collect();
    targets.sort();
    let mut replayed: Vec<&str> = REPLAYED.to_vec();
    replayed.sort_unstable();
    assert_eq!(
        targets, replayed,
        "add each fuzz target to replay_targets! in tests/e2e/fuzz_corpus.rs"
    );
    // Regression inputs only count under a target's name.
    for dir in subdirectories(&fuzz_dir().join("regressions")) {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(
            REPLAYED.contains(&name),
            "fuzz/regressions/{name}/ is not a fuzz target"
        );
    }
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.expect("read a directory entry").path())
        .filter(|path| path.is_dir())
        .collect()
}
