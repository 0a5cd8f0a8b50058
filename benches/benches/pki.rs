//! Key generation per algorithm, signing a leaf, and the whole kubeadm tree (sequential and
//! parallel key generation). Fixed `now`, no I/O.

use std::{
    collections::BTreeMap,
    hint::black_box,
    time::{Duration, SystemTime},
};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pki_core::{
    CertId, CertificateAuthority, ClientIdentity, ClusterConfig, KeyAlgorithm, PrivateKey,
    Validity, generate_keys, plan,
};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

const ALGORITHMS: [(&str, KeyAlgorithm); 5] = [
    ("rsa2048", KeyAlgorithm::Rsa2048),
    ("rsa3072", KeyAlgorithm::Rsa3072),
    ("rsa4096", KeyAlgorithm::Rsa4096),
    ("ecdsa_p256", KeyAlgorithm::EcdsaP256),
    ("ecdsa_p384", KeyAlgorithm::EcdsaP384),
];

fn keygen(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen");
    g.sample_size(10);
    for (name, alg) in ALGORITHMS {
        g.bench_function(name, |b| {
            b.iter(|| black_box(PrivateKey::generate(alg).unwrap()))
        });
    }
    g.finish();
}

/// The alternatives for RSA key generation: aws-lc-rs (what pki-core uses) and the pure-Rust
/// `rsa` crate (which DESIGN.md measured as faster once; its private-key operations are not
/// constant time, RUSTSEC-2023-0071, so it could only ever be used to generate).
fn keygen_backends(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen_backends");
    g.sample_size(20);
    g.bench_function("rsa2048_aws_lc_rs", |b| {
        b.iter(|| black_box(PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap()))
    });
    g.bench_function("rsa2048_rsa_crate", |b| {
        b.iter(|| {
            let k: rsa::PrivateKey = rsa::Generate::generate();
            black_box(k)
        });
    });
    g.finish();
}

fn sign_leaf(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign_client_cert");
    for (name, alg) in ALGORITHMS {
        let name = format!("{name}_ca");
        let cfg = ClusterConfig::new("cp1", "10.0.0.10".parse().unwrap());
        let ca = CertificateAuthority::self_signed(
            &cfg.spec_for(CertId::Ca.def(), now()).unwrap(),
            PrivateKey::generate(alg).unwrap(),
        )
        .unwrap();
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let id = ClientIdentity {
            user: "alice".into(),
            groups: vec!["dev".into()],
        };
        let validity = Validity::kubeadm(now(), Duration::from_secs(30 * 86400));
        g.bench_function(&name, |b| {
            b.iter(|| black_box(ca.issue_client(&id, &key, validity).unwrap()))
        });
    }
    g.finish();
}

fn whole_tree(c: &mut Criterion) {
    let mut g = c.benchmark_group("cluster_tree");
    g.sample_size(10);
    // RSA-4096 is left out: 11 keys at ~0.5-1 s each make one sample take longer than the
    // whole group; `keygen/rsa4096` gives its per-key cost.
    for (name, alg) in ALGORITHMS
        .into_iter()
        .filter(|(_, a)| *a != KeyAlgorithm::Rsa4096)
    {
        let mut cfg = ClusterConfig::new("cp1", "10.0.0.10".parse().unwrap());
        cfg.key_algorithm = alg;
        let empty = BTreeMap::new();
        g.bench_function(format!("{name}_parallel"), |b| {
            b.iter(|| {
                let p = plan(&cfg, &empty, now()).unwrap();
                let keys = generate_keys(alg, p.keys_needed()).unwrap();
                black_box(p.execute(&mut keys.into_iter()).unwrap())
            });
        });
        g.bench_function(format!("{name}_sequential"), |b| {
            b.iter_batched(
                || plan(&cfg, &empty, now()).unwrap(),
                |p| {
                    let mut keys = (0..p.keys_needed()).map(|_| PrivateKey::generate(alg).unwrap());
                    black_box(p.execute(&mut keys).unwrap())
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, keygen, keygen_backends, sign_leaf, whole_tree);
criterion_main!(benches);
