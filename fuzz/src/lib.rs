//! Checks shared by the fuzz targets in `fuzz_targets/`: the properties a parsed value must have,
//! whatever bytes it came from.
//!
//! Every function panics (which libFuzzer reports as a crash) when a property does not hold.

use std::time::{Duration, SystemTime};

use pki_core::{Certificate, San};

/// The fuzz input as text, or `None` when it is not UTF-8 (every text parser here takes `&str`).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
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
