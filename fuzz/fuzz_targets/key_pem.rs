//! `PrivateKey::from_pem` on arbitrary text (PKCS#1, SEC1, PKCS#8): on success the key written
//! back in kubeadm's encoding (`secret_pem`) parses to the same algorithm and public key, and
//! the DER body and public PEM can be produced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::PrivateKey;
use tenantctl_fuzz::text;

fuzz_target!(|data: &[u8]| {
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
});
