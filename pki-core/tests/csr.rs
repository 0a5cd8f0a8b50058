//! PKCS#10 requests: built here, parsed back, checked by pki-core's own verifier, by x509-cert's
//! parser and by `openssl req`; and requests openssl made, parsed and verified here.

use std::{
    io::Write as _,
    path::Path,
    process::{Command, Output},
    time::{Duration, SystemTime},
};

use der::Decode as _;
use pki_core::{
    CA_VALIDITY, CertSpec, CertificateAuthority, Csr, Error, KeyAlgorithm, LEAF_VALIDITY,
    PrivateKey, San, Usage, Validity,
};

/// Every algorithm except RSA-4096, whose key generation is too slow for a unit-test loop.
const ALGORITHMS: [KeyAlgorithm; 4] = [
    KeyAlgorithm::Rsa2048,
    KeyAlgorithm::Rsa3072,
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::EcdsaP384,
];

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

fn groups() -> Vec<String> {
    vec!["system:masters".to_owned(), "dev".to_owned()]
}

fn sans() -> Vec<San> {
    vec![
        "alice.example.com".parse().unwrap(),
        "10.0.0.1".parse().unwrap(),
        "fd00::1".parse().unwrap(),
    ]
}

fn build(alg: KeyAlgorithm) -> (PrivateKey, Csr) {
    let key = PrivateKey::generate(alg).unwrap();
    let csr = Csr::build(&key, "alice", &groups(), &sans()).unwrap();
    (key, csr)
}

/// Runs openssl; a missing openssl fails the test (CI installs it).
fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run openssl (it must be installed): {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write_temp(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f.flush().unwrap();
    f
}

fn path(f: &tempfile::NamedTempFile) -> &str {
    f.path().to_str().unwrap()
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

#[test]
fn round_trip_every_algorithm() {
    for alg in ALGORITHMS {
        let (key, csr) = build(alg);
        for parsed in [
            Csr::from_der(csr.der()).unwrap(),
            Csr::from_pem(&csr.to_pem()).unwrap(),
        ] {
            assert_eq!(parsed, csr, "{alg}");
            assert_eq!(parsed.common_name().as_deref(), Some("alice"), "{alg}");
            assert_eq!(parsed.organizations(), groups(), "{alg}");
            assert_eq!(parsed.sans(), sans(), "{alg}");
            assert_eq!(
                parsed.public_key_der(),
                key.public_key_der().unwrap(),
                "{alg}"
            );
            assert_eq!(parsed.key_algorithm().unwrap(), alg);
            parsed.verify_self_signature().unwrap();
        }
        assert!(
            csr.to_pem()
                .starts_with("-----BEGIN CERTIFICATE REQUEST-----\n")
        );
    }
}

#[test]
fn independent_parser_reads_the_request() {
    let (key, csr) = build(KeyAlgorithm::EcdsaP256);
    let req = x509_cert::request::CertReq::from_der(csr.der()).unwrap();
    assert_eq!(req.info.version, x509_cert::request::Version::V1);
    // RFC 4514 string order is the reverse of the encoded order.
    assert_eq!(
        req.info.subject.to_string(),
        "CN=alice,O=dev,O=system:masters"
    );
    assert_eq!(
        der::Encode::to_der(&req.info.public_key).unwrap(),
        key.public_key_der().unwrap()
    );
    let attrs: Vec<_> = req.info.attributes.iter().collect();
    assert_eq!(attrs.len(), 1);
    assert_eq!(attrs[0].oid.to_string(), "1.2.840.113549.1.9.14");
    assert_eq!(req.algorithm.oid.to_string(), "1.2.840.10045.4.3.2");
}

#[test]
fn organizations_keep_their_order() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let orgs: Vec<String> = ["zeta", "alpha", "system:nodes", "mid dle"]
        .map(String::from)
        .to_vec();
    let csr = Csr::build(&key, "bob", &orgs, &[]).unwrap();
    assert_eq!(Csr::from_der(csr.der()).unwrap().organizations(), orgs);
    let none = Csr::build(&key, "bob", &[], &[]).unwrap();
    assert!(none.organizations().is_empty());
    assert_eq!(none.common_name().as_deref(), Some("bob"));
}

#[test]
fn sans_are_requested_in_certificate_order() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let given: Vec<San> = [
        "10.0.0.2",
        "b.example.com",
        "10.0.0.1",
        "a.example.com",
        "10.0.0.2",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let csr = Csr::build(&key, "node", &[], &given).unwrap();
    let want: Vec<San> = ["a.example.com", "b.example.com", "10.0.0.2", "10.0.0.1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(Csr::from_pem(&csr.to_pem()).unwrap().sans(), want);
}

#[test]
fn no_sans_means_no_attributes() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let csr = Csr::build(&key, "alice", &groups(), &[]).unwrap();
    assert!(csr.sans().is_empty());
    let req = x509_cert::request::CertReq::from_der(csr.der()).unwrap();
    assert!(req.info.attributes.is_empty());
    // The attributes field is still there, as RFC 2986 requires: [0] IMPLICIT, length 0.
    let info = der::Encode::to_der(&req.info).unwrap();
    assert_eq!(&info[info.len() - 2..], &[0xa0, 0x00]);
    csr.verify_self_signature().unwrap();
}

#[test]
fn bad_names_are_rejected() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    assert!(matches!(
        Csr::build(&key, "", &[], &[]),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        Csr::build(&key, "alice", &[String::new()], &[]),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        Csr::build(&key, "al\nice", &[], &[]),
        Err(Error::InvalidName { .. })
    ));
}

#[test]
fn flipped_signature_byte_fails_verification() {
    for alg in ALGORITHMS {
        let (_, csr) = build(alg);
        let mut der = csr.der().to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let tampered = Csr::from_der(&der).unwrap();
        assert!(
            matches!(
                tampered.verify_self_signature(),
                Err(Error::CsrNotSelfSigned { ref subject }) if subject == "alice"
            ),
            "{alg}"
        );
    }
}

#[test]
fn flipped_subject_byte_fails_verification() {
    for alg in ALGORITHMS {
        let (_, csr) = build(alg);
        let mut der = csr.der().to_vec();
        let at = find(&der, b"alice");
        der[at] = b'b';
        let tampered = Csr::from_der(&der).unwrap();
        assert_eq!(tampered.common_name().as_deref(), Some("blice"));
        assert!(
            matches!(
                tampered.verify_self_signature(),
                Err(Error::CsrNotSelfSigned { .. })
            ),
            "{alg}"
        );
    }
}

#[test]
fn another_keys_signature_fails_verification() {
    // Same subject and SANs, public key of one request, signature of another.
    let (_, a) = build(KeyAlgorithm::EcdsaP256);
    let (_, b) = build(KeyAlgorithm::EcdsaP256);
    let spki_a = a.public_key_der();
    let spki_b = b.public_key_der();
    let mut der = a.der().to_vec();
    let at = find(&der, spki_a);
    der[at..at + spki_a.len()].copy_from_slice(spki_b);
    let swapped = Csr::from_der(&der).unwrap();
    assert_eq!(swapped.public_key_der(), spki_b);
    assert!(matches!(
        swapped.verify_self_signature(),
        Err(Error::CsrNotSelfSigned { .. })
    ));
}

#[test]
fn signature_algorithm_parameters_must_be_absent_or_null() {
    // The signature algorithm is outside the signed bytes: turn RSA's NULL into an empty
    // OCTET STRING (05 00 -> 04 00), which openssl 3.0 lets through.
    let (_, csr) = build(KeyAlgorithm::Rsa2048);
    let mut der = csr.der().to_vec();
    let sha256_rsa = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
    ];
    let at = der
        .windows(sha256_rsa.len())
        .rposition(|w| w == sha256_rsa)
        .unwrap();
    der[at + 11] = 0x04;
    let altered = Csr::from_der(&der).unwrap();
    assert!(matches!(
        altered.verify_self_signature(),
        Err(Error::InvalidCsr { .. })
    ));
}

#[test]
fn every_single_bit_flip_is_an_error() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcdsaP256] {
        let (_, csr) = build(alg);
        for i in 0..csr.der().len() {
            let mut der = csr.der().to_vec();
            der[i] ^= 0x01;
            let result = Csr::from_der(&der).and_then(|c| c.verify_self_signature());
            assert!(result.is_err(), "{alg}: flipping byte {i} went unnoticed");
        }
    }
}

#[test]
fn garbage_and_truncated_input_is_an_error() {
    let (_, csr) = build(KeyAlgorithm::EcdsaP256);
    let der = csr.der();
    for len in 0..der.len() {
        assert!(Csr::from_der(&der[..len]).is_err(), "prefix of {len} bytes");
    }
    let mut trailing = der.to_vec();
    trailing.push(0);
    assert!(Csr::from_der(&trailing).is_err());

    let pem = csr.to_pem();
    // Every prefix that cuts into the END line (or earlier).
    for len in 0..pem.trim_end().len() {
        assert!(Csr::from_pem(&pem[..len]).is_err(), "PEM prefix of {len}");
    }

    // A deterministic stream of pseudo-random bytes, raw and behind a SEQUENCE header.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..2000 {
        let len = round % 300;
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        assert!(Csr::from_der(&bytes).is_err());
        if len > 2 {
            bytes[0] = 0x30;
            bytes[1] = u8::try_from(len - 2).unwrap_or(0x7f).min(0x7f);
            let _ = Csr::from_der(&bytes).and_then(|c| c.verify_self_signature());
        }
    }

    for input in [
        "",
        "hello",
        "-----BEGIN CERTIFICATE REQUEST-----\n",
        "-----BEGIN ",
    ] {
        assert!(Csr::from_pem(input).is_err(), "{input:?}");
    }
    assert!(matches!(
        Csr::from_pem(
            "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n"
        ),
        Err(Error::Pem(_))
    ));
}

#[test]
fn pem_labels() {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let csr = Csr::build(&key, "alice", &[], &[]).unwrap();
    let legacy = csr
        .to_pem()
        .replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
    assert_eq!(Csr::from_pem(&legacy).unwrap(), csr);

    // Other blocks before it are skipped; a file with none is NoPem.
    let with_key = format!("{}{}", key.secret_pem().unwrap().as_str(), csr.to_pem());
    assert_eq!(Csr::from_pem(&with_key).unwrap(), csr);
    assert!(matches!(
        Csr::from_pem(key.secret_pem().unwrap().as_str()),
        Err(Error::NoPem { .. })
    ));

    // A certificate is not a request, in PEM or in DER.
    let ca = ca();
    assert!(matches!(
        Csr::from_pem(&ca.certificate().to_pem()),
        Err(Error::NoPem { .. })
    ));
    assert!(matches!(
        Csr::from_der(ca.certificate().der()),
        Err(Error::Der { .. })
    ));
}

#[test]
fn debug_names_the_request() {
    let (_, csr) = build(KeyAlgorithm::EcdsaP256);
    let debug = format!("{csr:?}");
    for want in ["alice", "system:masters", "alice.example.com"] {
        assert!(debug.contains(want), "{debug}");
    }
}

fn ca() -> CertificateAuthority {
    let spec = CertSpec {
        common_name: "kubernetes".into(),
        organizations: vec![],
        usage: Usage::Ca,
        sans: vec![San::Dns("kubernetes".into())],
        validity: Validity::kubeadm(now(), CA_VALIDITY),
    };
    CertificateAuthority::self_signed(
        &spec,
        PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
    )
    .unwrap()
}

#[test]
fn ca_signs_the_requested_key() {
    let ca = ca();
    for alg in ALGORITHMS {
        let (key, csr) = build(alg);
        csr.verify_self_signature().unwrap();
        let spec = CertSpec {
            common_name: csr.common_name().unwrap(),
            organizations: csr.organizations(),
            usage: Usage::Client,
            sans: csr.sans().to_vec(),
            validity: Validity::kubeadm(now(), LEAF_VALIDITY),
        };
        let cert = ca.issue(&spec, csr.public_key_der()).unwrap();
        assert!(cert.matches_key(&key).unwrap(), "{alg}");
        assert!(
            !cert
                .matches_key(&PrivateKey::generate(alg).unwrap())
                .unwrap()
        );
        cert.verify_signed_by(ca.certificate()).unwrap();
        assert_eq!(cert.common_name(), csr.common_name());
        assert_eq!(cert.organizations(), csr.organizations());
        assert_eq!(cert.sans(), csr.sans());
        assert_eq!(cert.public_key_der().unwrap(), csr.public_key_der());
    }
}

#[test]
fn openssl_verifies_our_requests() {
    for alg in ALGORITHMS {
        let (_, csr) = build(alg);
        let file = write_temp(&csr.to_pem());
        let verify = openssl(&["req", "-in", path(&file), "-noout", "-verify"]);
        // Both: OpenSSL 3.0 exits 0 on a failed self-signature too.
        assert!(verify.status.success(), "{alg}: {}", text(&verify));
        assert!(
            text(&verify).contains("verify OK"),
            "{alg}: {}",
            text(&verify)
        );

        let subject = openssl(&["req", "-in", path(&file), "-noout", "-subject"]);
        assert!(subject.status.success(), "{alg}: {}", text(&subject));
        let subject = String::from_utf8_lossy(&subject.stdout).into_owned();
        assert_eq!(
            subject.trim(),
            "subject=O = system:masters, O = dev, CN = alice",
            "{alg}"
        );

        let dump = openssl(&["req", "-in", path(&file), "-noout", "-text"]);
        assert!(dump.status.success(), "{alg}: {}", text(&dump));
        let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
        assert!(dump.contains("Requested Extensions:"), "{alg}: {dump}");
        assert!(
            dump.contains(
                "DNS:alice.example.com, IP Address:10.0.0.1, IP Address:FD00:0:0:0:0:0:0:1"
            ),
            "{alg}: {dump}"
        );
    }
}

#[test]
fn openssl_rejects_a_tampered_request() {
    let (_, csr) = build(KeyAlgorithm::EcdsaP256);
    let mut der = csr.der().to_vec();
    let at = find(&der, b"alice");
    der[at] = b'b';
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &der).unwrap();
    let verify = openssl(&[
        "req",
        "-in",
        path(&file),
        "-inform",
        "DER",
        "-noout",
        "-verify",
    ]);
    // OpenSSL 3.0 exits 0 even when the self-signature fails, so read what it says.
    assert!(
        text(&verify).contains("verify failure"),
        "{}",
        text(&verify)
    );
    assert!(!text(&verify).contains("verify OK"), "{}", text(&verify));
}

fn openssl_request(newkey: &[&str], dir: &Path) -> (Csr, PrivateKey) {
    let csr_path = dir.join("req.csr");
    let key_path = dir.join("req.key");
    let mut args = vec!["req", "-new", "-nodes"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-keyout",
        key_path.to_str().unwrap(),
        "-out",
        csr_path.to_str().unwrap(),
        "-subj",
        "/O=system:masters/O=dev/CN=alice",
        "-addext",
        "subjectAltName=DNS:alice.example.com,IP:10.0.0.1",
    ]);
    let out = openssl(&args);
    assert!(out.status.success(), "{}", text(&out));
    let csr = Csr::from_pem(&std::fs::read_to_string(csr_path).unwrap()).unwrap();
    let key = PrivateKey::from_pem(&std::fs::read_to_string(key_path).unwrap()).unwrap();
    (csr, key)
}

#[test]
fn we_read_and_verify_openssl_requests() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    for (newkey, alg) in [
        (&["-newkey", "rsa:2048"][..], KeyAlgorithm::Rsa2048),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
            KeyAlgorithm::EcdsaP256,
        ),
        // openssl signs with SHA-256 whatever the curve: ecdsa-with-SHA256 over P-384.
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"][..],
            KeyAlgorithm::EcdsaP384,
        ),
    ] {
        let (csr, key) = openssl_request(newkey, dir.path());
        csr.verify_self_signature().unwrap();
        assert_eq!(csr.key_algorithm().unwrap(), alg);
        assert_eq!(csr.common_name().as_deref(), Some("alice"));
        assert_eq!(csr.organizations(), groups());
        assert_eq!(
            csr.sans(),
            [
                San::Dns("alice.example.com".into()),
                San::Ip("10.0.0.1".parse().unwrap())
            ]
        );
        assert_eq!(csr.public_key_der(), key.public_key_der().unwrap());
        let spec = CertSpec {
            common_name: "alice".into(),
            organizations: csr.organizations(),
            usage: Usage::Client,
            sans: vec![],
            validity: Validity::kubeadm(now(), LEAF_VALIDITY),
        };
        let cert = ca.issue(&spec, csr.public_key_der()).unwrap();
        assert!(cert.matches_key(&key).unwrap(), "{alg}");
    }
}
