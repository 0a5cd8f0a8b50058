//! What every fuzz target checks: one public function per target, named after it, taking the
//! fuzz input. Each function panics (which libFuzzer reports as a crash) when a property does
//! not hold.
//!
//! Two users share this file: the targets in `fuzz_targets/` (each one line that calls its
//! function here), and the normal test suite, which replays `corpus/<target>/` and
//! `regressions/<target>/` through the same functions (`tests/e2e/fuzz_corpus.rs` includes this
//! file as a module with `#[path]`). So it must compile both as this crate's root and as a
//! module of `workspace-tests`: no `crate::` paths, no crate-level attributes, and only
//! dependencies both crates have (pki-core, kubeconfig, tenantctl, serde_json).

use std::{
    net::IpAddr,
    str::FromStr,
    time::{Duration, SystemTime},
};

use kubeconfig::{Kubeconfig, ServerUrl};
use pki_core::{Certificate, Cidr, Csr, Endpoint, KeyAlgorithm, PrivateKey, San, https_url};
use tenantctl::{
    join::{
        discovery::{Pin, verify_cluster_info},
        jws,
    },
    pki::{
        kubeadm_config::{self, EtcdConfig, KubeadmConfig, KubeadmConfigError},
        upload_certs,
    },
};

/// The fuzz input as text, or `None` when it is not UTF-8 (every text parser here takes `&str`).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

// --- cert_der, cert_pem ----------------------------------------------------------------------

/// `Certificate::from_der` on arbitrary bytes: on success the certificate keeps the input bytes
/// exactly, round-trips through DER and PEM, and every accessor works (see
/// [`check_certificate`]).
pub fn cert_der(data: &[u8]) {
    let Ok(cert) = Certificate::from_der(data) else {
        return;
    };
    assert_eq!(cert.der(), data, "from_der must keep the input DER");
    check_certificate(&cert);
}

/// `Certificate::from_pem` and `chain_from_pem` on arbitrary text: the two parse paths agree
/// (the leaf is the chain's first certificate), and every certificate parsed round-trips and
/// answers every accessor (see [`check_certificate`]).
pub fn cert_pem(data: &[u8]) {
    let Some(pem) = text(data) else {
        return;
    };
    let leaf = Certificate::from_pem(pem);
    let chain = Certificate::chain_from_pem(pem);
    match (&leaf, &chain) {
        (Ok(leaf), Ok(chain)) => {
            assert_eq!(
                leaf.der(),
                chain[0].der(),
                "from_pem is not the chain's first"
            );
            for cert in chain {
                check_certificate(cert);
            }
        }
        (Err(_), Err(_)) => {}
        _ => panic!("from_pem {leaf:?} and chain_from_pem {chain:?} disagree"),
    }
}

/// Calls every inspection accessor of `cert` (none may panic) and checks the properties that hold
/// for any parsed certificate:
/// - the DER round-trips: `der()` → `from_der` and `to_pem()` → `from_pem` give an equal certificate;
/// - `to_pem()` → `chain_from_pem` gives exactly that one certificate;
/// - fingerprints have their fixed shapes;
/// - `is_valid_at` agrees with `not_before`/`not_after`;
/// - every SAN the certificate covers literally, it `covers`.
pub fn check_certificate(cert: &Certificate) {
    let again = Certificate::from_der(cert.der()).expect("der() must parse again");
    assert_eq!(again.der(), cert.der(), "der() → from_der changed the DER");
    assert!(again == *cert);

    let pem = cert.to_pem();
    let from_pem = Certificate::from_pem(&pem).expect("to_pem() must parse again");
    assert_eq!(
        from_pem.der(),
        cert.der(),
        "to_pem → from_pem changed the DER"
    );
    let chain = Certificate::chain_from_pem(&pem).expect("to_pem() must parse as a chain");
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].der(), cert.der());

    let _ = format!("{cert:?}");
    let _ = cert.common_name();
    let _ = cert.organizations();
    let _ = cert.issuer_common_name();
    let serial = cert.serial_hex();
    assert!(serial.bytes().all(|b| b.is_ascii_hexdigit()), "{serial}");
    let fingerprint = cert.sha256_fingerprint();
    assert_eq!(fingerprint.len(), 64, "{fingerprint}");
    match (cert.public_key_der(), cert.discovery_hash()) {
        (Ok(spki), Ok(hash)) => {
            assert!(!spki.is_empty());
            assert!(
                hash.starts_with("sha256:") && hash.len() == 7 + 64,
                "{hash}"
            );
        }
        (Err(_), Err(_)) => {}
        (spki, hash) => panic!("public_key_der {spki:?} and discovery_hash {hash:?} disagree"),
    }
    let _ = cert.key_algorithm();

    let not_before = cert.not_before();
    let not_after = cert.not_after();
    for t in [
        not_before,
        not_after,
        SystemTime::UNIX_EPOCH,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ] {
        assert_eq!(
            cert.is_valid_at(t),
            not_before <= t && t <= not_after,
            "is_valid_at disagrees with the validity period"
        );
    }

    let _ = cert.is_ca();
    let _ = cert.key_usage();
    let _ = cert.ext_key_usages();
    let _ = cert.subject_key_id();
    let _ = cert.authority_key_id();
    let sans = cert.sans();
    for san in &sans {
        assert!(cert.covers(san), "does not cover its own SAN {san}");
        let _ = san.to_string();
    }
    let _ = cert.covers(&San::Dns("kubernetes.default.svc".into()));
    let _ = cert.covers(&San::Ip([10, 96, 0, 1].into()));

    // The signature check parses the (fuzzed) public key and signature: it may fail, not panic.
    let _ = cert.verify_signed_by(cert);
}

// --- key_pem ---------------------------------------------------------------------------------

/// `PrivateKey::from_pem` on arbitrary text (PKCS#1, SEC1, PKCS#8): on success the key written
/// back in kubeadm's encoding (`secret_pem`) parses to the same algorithm and public key, and
/// the DER body and public PEM can be produced.
pub fn key_pem(data: &[u8]) {
    let Some(pem) = text(data) else {
        return;
    };
    let Ok(key) = PrivateKey::from_pem(pem) else {
        return;
    };
    let _ = format!("{key:?}");
    let public = key.public_key_der().expect("a parsed key has a public key");
    key.public_key_pem().expect("a parsed key has a public PEM");
    let der = key.secret_der().expect("a parsed key serializes");
    let written = key.secret_pem().expect("a parsed key serializes");
    assert!(!der.is_empty());

    let again = PrivateKey::from_pem(&written).expect("secret_pem output must parse again");
    assert_eq!(again.algorithm(), key.algorithm());
    assert_eq!(
        again
            .public_key_der()
            .expect("a parsed key has a public key"),
        public,
        "secret_pem → from_pem changed the public key"
    );
    assert_eq!(
        *again.secret_pem().expect("a parsed key serializes"),
        *written,
        "secret_pem is not stable"
    );
}

// --- csr -------------------------------------------------------------------------------------

/// `Csr::from_der` and `Csr::from_pem` on arbitrary bytes: on success the request keeps the
/// input DER, round-trips through DER and PEM to an equal request, and every accessor and the
/// self-signature check work (the check may fail, not panic).
pub fn csr(data: &[u8]) {
    if let Ok(csr) = Csr::from_der(data) {
        assert_eq!(csr.der(), data, "from_der must keep the input DER");
        check_csr(&csr);
    }
    if let Some(pem) = text(data)
        && let Ok(csr) = Csr::from_pem(pem)
    {
        check_csr(&csr);
    }
}

fn check_csr(csr: &Csr) {
    let again = Csr::from_der(csr.der()).expect("der() must parse again");
    assert!(again == *csr, "der() → from_der gave a different request");
    let from_pem = Csr::from_pem(&csr.to_pem()).expect("to_pem() must parse again");
    assert!(
        from_pem == *csr,
        "to_pem → from_pem gave a different request"
    );

    let _ = format!("{csr:?}");
    let _ = csr.common_name();
    let _ = csr.organizations();
    for san in csr.sans() {
        let _ = san.to_string();
    }
    assert!(!csr.public_key_der().is_empty());
    let _ = csr.key_algorithm();
    let _ = csr.verify_self_signature();
}

// --- kubeconfig_yaml -------------------------------------------------------------------------

/// `Kubeconfig::from_yaml` on arbitrary text. On success:
/// - `to_yaml` succeeds and its output parses to the same kubeconfig (compared as a JSON value,
///   so the `HashMap`-backed maps kube keeps may come back in any order), and it is a fixed
///   point: emitting the second parse parses to the same value again;
/// - `current()` resolves the same way (same context, cluster, user, credential kind, or the
///   same error) on the first and second parse;
/// - when `current()` resolves, `minify()` succeeds and resolves to the same view;
/// - merging the kubeconfig with its own re-parse changes nothing (the first wins every name);
/// - `validate` on the current context works (it may fail, not panic).
pub fn kubeconfig_yaml(data: &[u8]) {
    let Some(yaml) = text(data) else {
        return;
    };
    let Ok(first) = Kubeconfig::from_yaml(yaml) else {
        return;
    };
    let _ = format!("{first:?}");
    let emitted = first.to_yaml().expect("a parsed kubeconfig must emit");
    let second = match Kubeconfig::from_yaml(&emitted) {
        Ok(second) => second,
        Err(e) => panic!("emitted YAML does not parse again: {e}\n{}", &*emitted),
    };
    let first_value = kubeconfig_value(&first);
    assert_eq!(
        first_value,
        kubeconfig_value(&second),
        "parse → emit → parse changed the kubeconfig; emitted:\n{}",
        &*emitted
    );
    let emitted_again = second.to_yaml().expect("a parsed kubeconfig must emit");
    let third = Kubeconfig::from_yaml(&emitted_again).expect("emitted YAML must parse again");
    assert_eq!(
        first_value,
        kubeconfig_value(&third),
        "emit is not a fixed point"
    );

    let current = resolved(&first);
    assert_eq!(
        current,
        resolved(&second),
        "current() differs after a round trip"
    );
    if current.is_ok() {
        let minified = first
            .minify()
            .expect("minify must succeed when current() resolves");
        assert_eq!(
            resolved(&minified),
            current,
            "minify changed the current view"
        );
    } else {
        let _ = first.minify();
    }

    let merged = Kubeconfig::merge([first.clone(), second]);
    assert_eq!(
        kubeconfig_value(&merged),
        first_value,
        "merging a kubeconfig with itself changed it"
    );

    if let Ok(current) = first.current() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let _ = current.validate(now);
    }
}

fn kubeconfig_value(config: &Kubeconfig) -> serde_json::Value {
    serde_json::to_value(config.as_kube()).expect("a parsed kubeconfig serializes to JSON")
}

fn resolved(config: &Kubeconfig) -> Result<String, String> {
    config
        .current()
        .map(|current| format!("{current:?}"))
        .map_err(|e| e.to_string())
}

// --- san -------------------------------------------------------------------------------------

/// The `FromStr` value types on arbitrary text. On success each one's `Display` parses back to
/// an equal value, and the paths that join them agree:
/// - `San`, `Cidr`, `KeyAlgorithm`, `ServerUrl`: `to_string()` → `parse()` is the identity;
///   a `Cidr` has a first host, inside the range;
/// - `Endpoint`: its host parses as the same `San`, and `pki_core::https_url(host, port)` is a
///   `ServerUrl` with that host and port (what `pki init` puts in the kubeconfigs);
/// - `ServerUrl`: `host()`/`port()` work, and `ServerUrl::from_host_port(host, port)` gives a
///   URL with the same host and port.
pub fn san(data: &[u8]) {
    let Some(s) = text(data) else {
        return;
    };
    round_trips::<San>(s);
    round_trips::<Cidr>(s);
    round_trips::<KeyAlgorithm>(s);
    round_trips::<ServerUrl>(s);

    if let Ok(cidr) = s.parse::<Cidr>() {
        check_first_host(&cidr);
    }

    if let Ok(endpoint) = s.parse::<Endpoint>() {
        let host = endpoint.host.to_string();
        assert_eq!(
            host.parse::<San>().ok().as_ref(),
            Some(&endpoint.host),
            "endpoint host {host:?} does not parse as the same SAN"
        );
        let port = endpoint.port.unwrap_or(6443);
        let url = https_url(&endpoint.host, port);
        match url.parse::<ServerUrl>() {
            Ok(server) => {
                assert!(
                    same_host(server.host(), &host),
                    "{url}: host {}",
                    server.host()
                );
                assert_eq!(server.port(), Some(port), "{url}");
            }
            Err(e) => panic!("endpoint {s:?} gives a server URL kubeconfig refuses: {e}"),
        }
    }

    if let Ok(server) = s.parse::<ServerUrl>() {
        let host = server.host();
        if let Some(port) = server.port() {
            match ServerUrl::from_host_port(host, port) {
                Ok(joined) => {
                    assert!(same_host(joined.host(), host), "{server} → {joined}");
                    assert_eq!(joined.port(), Some(port), "{server} → {joined}");
                }
                Err(e) => panic!("{server}: from_host_port({host:?}, {port}) fails: {e}"),
            }
        }
    }
}

/// `s` parses as a `T` whose `Display` parses back to an equal `T`, or `s` does not parse.
fn round_trips<T>(s: &str)
where
    T: FromStr + std::fmt::Display + std::fmt::Debug + PartialEq,
    T::Err: std::fmt::Display,
{
    if let Ok(value) = s.parse::<T>() {
        display_round_trips(&value, s);
    }
}

/// `value.to_string()` parses back to `value` (`from` names where it came from, for the message).
fn display_round_trips<T>(value: &T, from: &str)
where
    T: FromStr + std::fmt::Display + std::fmt::Debug + PartialEq,
    T::Err: std::fmt::Display,
{
    let shown = value.to_string();
    match shown.parse::<T>() {
        Ok(again) => assert_eq!(&again, value, "{from:?} → {shown:?} parsed differently"),
        Err(e) => panic!("{from:?} gave {value:?}, whose Display {shown:?} does not parse: {e}"),
    }
}

/// A CIDR has a first host, and it lies inside the range.
fn check_first_host(cidr: &Cidr) {
    let host = cidr.first_host().expect("a parsed CIDR has a first host");
    let shown = cidr.to_string();
    let (network, prefix) = shown
        .split_once('/')
        .expect("a CIDR shows as ADDRESS/PREFIX");
    let network: IpAddr = network.parse().expect("the network is an IP");
    let prefix: u32 = prefix.parse().expect("the prefix is a number");
    let within = match (network, host) {
        (IpAddr::V4(n), IpAddr::V4(h)) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(h) & mask == u32::from(n)
        }
        (IpAddr::V6(n), IpAddr::V6(h)) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(h) & mask == u128::from(n)
        }
        _ => false,
    };
    assert!(within, "first host {host} of {cidr} is outside the range");
}

/// Hosts compare as IP addresses when both are (IPv6 spellings vary), else as text.
fn same_host(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.eq_ignore_ascii_case(b),
    }
}

// --- kubeadm_config --------------------------------------------------------------------------

/// The document [`kubeadm_config`] appends: a kind kubeadm does not read, so it changes nothing.
pub const OTHER_DOCUMENT: &str = "---\napiVersion: v1\nkind: ConfigMap\n";

/// `tenantctl::pki::kubeadm_config::parse` on arbitrary text:
/// - parsing the same text twice gives equal results (`Ok` or `Err`);
/// - an error's `Display` works, and its `line()`, when known, is from 1 to the number of lines
///   in the text + 1 (the end of the text after a final line break); `\n`, `\r\n` and a lone
///   `\r` each end a line, as in YAML;
/// - on success, every SAN (`certSANs`, etcd's `serverCertSANs`/`peerCertSANs`, the
///   control-plane endpoint's host), every service CIDR and the key algorithm round-trip through
///   `Display` → `FromStr`; the service subnets are one CIDR or one per IP family, each with a
///   first host inside it; the documented invariants hold (no control character in the cluster
///   name, DNS names lowercase, `certificatesDir` absolute, no port 0, no unspecified advertise
///   address);
/// - on success, appending [`OTHER_DOCUMENT`] (after a line break, if the text does not end
///   with one) gives the same result, unless the text already has a `ConfigMap` document (a
///   kind given twice is refused, whatever its group).
pub fn kubeadm_config(data: &[u8]) {
    let Some(yaml) = text(data) else {
        return;
    };
    let first = kubeadm_config::parse(yaml);
    assert_eq!(
        first,
        kubeadm_config::parse(yaml),
        "parsing the same text twice gave different results"
    );
    let config = match first {
        Ok(config) => config,
        Err(err) => {
            check_kubeadm_error(yaml, &err);
            return;
        }
    };
    let _ = format!("{config:?}");
    check_kubeadm_values(&config);

    let separator = if yaml.is_empty() || yaml.ends_with(['\n', '\r']) {
        ""
    } else {
        "\n"
    };
    let longer = format!("{yaml}{separator}{OTHER_DOCUMENT}");
    match kubeadm_config::parse(&longer) {
        Ok(again) => assert_eq!(
            again, config,
            "appending a ConfigMap document changed the result"
        ),
        Err(KubeadmConfigError::Document { problem, .. })
            if problem.starts_with("kind ConfigMap is given twice") => {}
        Err(err) => panic!("appending a ConfigMap document made a valid file fail: {err}"),
    }
}

fn check_kubeadm_error(yaml: &str, err: &KubeadmConfigError) {
    let message = err.to_string();
    assert!(!message.is_empty(), "{err:?} has an empty message");
    if let Some(line) = err.line() {
        let lines = yaml_lines(yaml);
        assert!(
            (1..=lines + 1).contains(&line),
            "error on line {line} of a text of {lines} lines: {message}"
        );
    }
}

/// The number of lines, as `str::lines` counts them but with a lone `\r` also ending a line
/// (YAML's line breaks): line breaks, plus one if the last line has none.
fn yaml_lines(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut breaks = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // "\r\n" counts once, at its '\n'.
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            breaks += 1;
        }
    }
    let unterminated = !text.is_empty() && !text.ends_with(['\n', '\r']);
    breaks + u64::from(unterminated)
}

fn check_kubeadm_values(config: &KubeadmConfig) {
    if let Some(name) = &config.cluster_name {
        assert!(
            !name.is_empty() && !name.chars().any(char::is_control),
            "{name:?}"
        );
    }
    if let Some(endpoint) = &config.control_plane_endpoint {
        display_round_trips(&endpoint.host, "controlPlaneEndpoint");
        assert_ne!(endpoint.port, Some(0), "controlPlaneEndpoint port 0");
    }
    if let Some(subnets) = &config.service_subnets {
        for cidr in subnets {
            display_round_trips(cidr, "serviceSubnet");
            check_first_host(cidr);
        }
        let families: Vec<bool> = subnets
            .iter()
            .map(|c| c.first_host().is_ok_and(|ip| ip.is_ipv4()))
            .collect();
        assert!(
            matches!(families.as_slice(), [_]) || matches!(families.as_slice(), [a, b] if a != b),
            "serviceSubnet {subnets:?} is not one CIDR or one per IP family"
        );
    }
    for name in [&config.dns_domain, &config.node_name]
        .into_iter()
        .flatten()
    {
        assert!(
            !name.bytes().any(|b| b.is_ascii_uppercase()),
            "{name:?} has uppercase letters"
        );
        assert!(name.parse::<San>().is_ok(), "{name:?} is not a DNS name");
    }
    for san in config.cert_sans.iter().flatten() {
        display_round_trips(san, "certSANs");
    }
    if let Some(EtcdConfig::Local {
        server_cert_sans,
        peer_cert_sans,
    }) = &config.etcd
    {
        for san in server_cert_sans.iter().chain(peer_cert_sans) {
            display_round_trips(san, "etcd SANs");
        }
    }
    if let Some(dir) = &config.cert_dir {
        assert!(dir.is_absolute(), "certificatesDir {dir:?} is not absolute");
    }
    if let Some(algorithm) = config.encryption_algorithm {
        display_round_trips(&algorithm, "encryptionAlgorithm");
    }
    assert_ne!(config.bind_port, Some(0), "bindPort 0 is kubeadm's unset");
    if let Some(ip) = config.advertise_address {
        assert!(!ip.is_unspecified(), "advertiseAddress {ip} is unspecified");
    }
}

/// `cluster_info`: what token discovery parses from the network — the `cluster-info`
/// ConfigMap's data (a JSON map; any other input is taken as the kubeconfig and signed, so the
/// kubeconfig parser is reached). Never a panic; an accepted cluster-info has its kubeconfig
/// signed by the token, a CA that parses, is accepted again when pinned to that CA's hash and
/// refused when pinned to another hash or checked with another secret.
pub fn cluster_info(data: &[u8]) {
    let (id, secret) = ("abcdef", "0123456789abcdef");
    let map: std::collections::BTreeMap<String, String> = match serde_json::from_slice(data) {
        Ok(map) => map,
        Err(_) => {
            let Some(text) = text(data) else { return };
            [
                ("kubeconfig".to_owned(), text.to_owned()),
                (
                    format!("jws-kubeconfig-{id}"),
                    jws::detached_signature(text, id, secret),
                ),
            ]
            .into()
        }
    };
    let Ok((found, kubeconfig)) = verify_cluster_info(&map, id, secret, &Pin::Unsafe) else {
        return;
    };
    assert_eq!(map.get("kubeconfig"), Some(&kubeconfig));
    assert!(jws::is_valid(
        &map[&format!("jws-kubeconfig-{id}")],
        &kubeconfig,
        id,
        secret
    ));
    let ca = Certificate::from_pem(&found.ca_pem).expect("an accepted CA parses again");
    let hash = ca.discovery_hash().expect("an accepted CA has a hash");
    assert!(
        verify_cluster_info(&map, id, secret, &Pin::Hashes(vec![hash])).is_ok(),
        "pinned to its own hash"
    );
    let other = format!("sha256:{}", "0".repeat(64));
    assert!(verify_cluster_info(&map, id, secret, &Pin::Hashes(vec![other])).is_err());
    assert!(verify_cluster_info(&map, id, "ffffffffffffffff", &Pin::Unsafe).is_err());
}

/// `kubeadm_certs`: a `kubeadm-certs` entry as the network gives it. Arbitrary bytes never
/// open (nor panic); arbitrary bytes sealed open again, only with their key; a Secret of such
/// entries opens entry by entry to what each decrypts to, or not at all.
pub fn kubeadm_certs(data: &[u8]) {
    let key = [7u8; 32];
    let _ = upload_certs::decrypt(data, &key);
    let sealed = upload_certs::encrypt(data, &key).expect("sealing works");
    assert_eq!(&*upload_certs::decrypt(&sealed, &key).expect("opens"), data);
    assert!(upload_certs::decrypt(&sealed, &[8u8; 32]).is_err());
    for external in [false, true] {
        let map: std::collections::BTreeMap<String, Vec<u8>> = upload_certs::entries(external)
            .iter()
            .map(|(name, _)| ((*name).to_owned(), data.to_vec()))
            .collect();
        if let Ok(opened) = upload_certs::open_data(&map, external, &key) {
            for value in opened.values() {
                assert!(value.is_empty() == data.is_empty());
            }
        }
    }
}

/// `tenants_file`: `tenantctl apply -f`'s parser on text. Never a panic; the same text parses
/// the same way twice; every problem names the file, has a message and, when it has a line,
/// one from 1 to the number of lines + 1. On success: every tenant passed the guardrails (no
/// `system:` user or group, at least one role, no user given twice), and a canonical document
/// rendered from each tenant's spec parses back to the same spec; `--allow-privileged` accepts
/// every file the default accepts, with the same tenants.
pub fn tenants_file(data: &[u8]) {
    use tenantctl::tenant::{ParseOptions, duplicates, parse_tenants};
    let Some(text) = text(data) else { return };
    let strict = ParseOptions::default();
    let first = parse_tenants("f.yaml", text, strict);
    assert_eq!(
        first,
        parse_tenants("f.yaml", text, strict),
        "parsing the same text twice gave different results"
    );
    let tenants = match first {
        Ok(tenants) => tenants,
        Err(problems) => {
            assert!(!problems.is_empty(), "an error without problems");
            let lines = yaml_lines(text);
            for p in &problems {
                assert_eq!(p.file, "f.yaml");
                assert!(!p.message.is_empty(), "{p:?} has an empty message");
                if let Some(line) = p.line {
                    assert!(
                        (1..=lines + 1).contains(&line),
                        "problem on line {line} of a text of {lines} lines: {p}"
                    );
                }
            }
            return;
        }
    };
    let _ = duplicates(&tenants);
    let privileged = parse_tenants(
        "f.yaml",
        text,
        ParseOptions {
            allow_privileged: true,
        },
    )
    .expect("--allow-privileged refused what the default accepts");
    assert_eq!(
        privileged.iter().map(|d| &d.spec).collect::<Vec<_>>(),
        tenants.iter().map(|d| &d.spec).collect::<Vec<_>>()
    );
    for d in &tenants {
        let spec = &d.spec;
        let tenant = &spec.tenant;
        assert!(!tenant.user().starts_with("system:"), "{}", tenant.user());
        assert!(tenant.groups().iter().all(|g| !g.starts_with("system:")));
        assert!(!spec.bindings.roles.is_empty());
        let rendered = render_tenant(spec);
        let again = parse_tenants("r.yaml", &rendered, strict)
            .unwrap_or_else(|p| panic!("the rendered tenant does not parse: {p:?}\n{rendered}"));
        assert_eq!(again.len(), 1, "{rendered}");
        assert_eq!(&again[0].spec, spec, "round trip through\n{rendered}");
    }
}

/// A Tenant document giving every field of `spec` explicitly (JSON strings are YAML scalars).
fn render_tenant(spec: &tenantctl::tenant::TenantSpec) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let tenant = &spec.tenant;
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let mut doc = format!(
        "apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata:\n  name: {}\nspec:\n  user: {}\n  auth: {}\n  groups: {}\n  roles: {}\n  bindGroup: {}\n  ttl: {}s\n  keyAlgorithm: {}\n  signer: {}\n",
        q(tenant.user()),
        q(tenant.user()),
        tenant.auth(),
        list(tenant.groups().iter().map(|g| q(g)).collect()),
        list(
            spec.bindings
                .roles
                .iter()
                .map(|r| q(&r.to_string()))
                .collect()
        ),
        spec.bindings.bind_group,
        spec.ttl.as_secs(),
        spec.key_algorithm,
        match spec.signer {
            tenantctl::cli::SignerKind::Local => "local",
            tenantctl::cli::SignerKind::Csr => "csr",
        }
    );
    if let Some(ns) = &spec.bindings.namespace {
        doc.push_str(&format!(
            "  namespace: {}\n  createNamespace: {}\n",
            q(ns),
            spec.bindings.create_namespace
        ));
    }
    doc
}
