//! Tenant minting in process, as `tenantctl create` does it: a P-256 tenant key, a client
//! certificate (CN = user, O = groups) signed by the cluster CA, and the kubeconfig around it,
//! serialized — with an RSA-2048 CA and with a P-256 CA. Plus kubeconfig emit and parse.

use std::{
    hint::black_box,
    time::{Duration, Instant, SystemTime},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kubeconfig::{ClusterEntry, Kubeconfig};
use pki_core::{CertSpec, CertificateAuthority, KeyAlgorithm, PrivateKey, Usage, Validity};
use tenantctl::tenant::{self as credentials, AuthKind, Tenant};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

fn ca(algorithm: KeyAlgorithm) -> CertificateAuthority {
    let spec = CertSpec {
        common_name: "kubernetes".into(),
        organizations: vec![],
        usage: Usage::Ca,
        sans: vec![],
        validity: Validity::kubeadm(now(), Duration::from_secs(10 * 365 * 86_400)),
    };
    CertificateAuthority::self_signed(&spec, PrivateKey::generate(algorithm).unwrap()).unwrap()
}

fn entry(ca: &CertificateAuthority) -> ClusterEntry {
    ClusterEntry {
        name: "kubernetes".into(),
        server: "https://vip.example.com:6443".parse().unwrap(),
        ca_pem: ca.certificate().to_pem(),
    }
}

/// One tenant: key, certificate, kubeconfig YAML.
fn mint_one(ca: &CertificateAuthority, entry: &ClusterEntry, tenant: &Tenant) -> usize {
    let minted = credentials::mint_local(
        ca,
        tenant,
        KeyAlgorithm::EcdsaP256,
        Duration::from_secs(30 * 86_400),
        now(),
    )
    .unwrap();
    let kc = credentials::cert_kubeconfig(entry, tenant, &minted, Some("team-a")).unwrap();
    kc.to_yaml().unwrap().len()
}

fn tenant_minting(c: &mut Criterion) {
    let tenant = Tenant::new(
        "alice",
        &["dev".into(), "ops".into()],
        AuthKind::Cert,
        false,
    )
    .unwrap();
    let mut g = c.benchmark_group("tenant_mint");
    g.throughput(Throughput::Elements(1));
    for (name, alg) in [
        ("rsa2048_ca", KeyAlgorithm::Rsa2048),
        ("ecdsa_p256_ca", KeyAlgorithm::EcdsaP256),
    ] {
        let ca = ca(alg);
        let entry = entry(&ca);
        g.bench_function(name, |b| {
            b.iter(|| black_box(mint_one(&ca, &entry, &tenant)))
        });
    }
    g.finish();

    // 1,000 tenants in a row (distinct names), once per CA algorithm, as a plain figure.
    let tenants: Vec<Tenant> = (0..1000)
        .map(|i| Tenant::new(&format!("user-{i}"), &["dev".into()], AuthKind::Cert, false).unwrap())
        .collect();
    for (name, alg) in [
        ("RSA-2048 CA", KeyAlgorithm::Rsa2048),
        ("ECDSA-P256 CA", KeyAlgorithm::EcdsaP256),
    ] {
        let ca = ca(alg);
        let entry = entry(&ca);
        let started = Instant::now();
        let bytes: usize = tenants.iter().map(|t| mint_one(&ca, &entry, t)).sum();
        let took = started.elapsed();
        println!(
            "1000 tenants with a {name}: {:.1} ms ({:.0} µs per tenant, {:.0} tenants/s on one core; {bytes} bytes of kubeconfig)",
            took.as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e3,
            1000.0 / took.as_secs_f64()
        );
    }
}

fn kubeconfig_emit_parse(c: &mut Criterion) {
    let ca = ca(KeyAlgorithm::EcdsaP256);
    let entry = entry(&ca);
    let tenant = Tenant::new("alice", &["dev".into()], AuthKind::Cert, false).unwrap();
    let minted = credentials::mint_local(
        &ca,
        &tenant,
        KeyAlgorithm::EcdsaP256,
        Duration::from_secs(86_400),
        now(),
    )
    .unwrap();
    let kc = credentials::cert_kubeconfig(&entry, &tenant, &minted, None).unwrap();
    let yaml = kc.to_yaml().unwrap();
    let mut g = c.benchmark_group("kubeconfig");
    g.bench_function("emit", |b| {
        b.iter(|| black_box(kc.to_yaml().unwrap().len()))
    });
    g.bench_function("parse", |b| {
        b.iter(|| black_box(Kubeconfig::from_yaml(&yaml).unwrap()))
    });
    g.bench_function("parse_validate", |b| {
        b.iter(|| {
            let kc = Kubeconfig::from_yaml(&yaml).unwrap();
            black_box(kc.current().unwrap().validate(now()).unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, tenant_minting, kubeconfig_emit_parse);
criterion_main!(benches);
