//! `Csr::from_der` and `Csr::from_pem` on arbitrary bytes: on success the request keeps the
//! input DER, round-trips through DER and PEM to an equal request, and every accessor and the
//! self-signature check work (the check may fail, not panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::Csr;
use tenantctl_fuzz::text;

fn check(csr: &Csr) {
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

fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = Csr::from_der(data) {
        assert_eq!(csr.der(), data, "from_der must keep the input DER");
        check(&csr);
    }
    if let Some(pem) = text(data)
        && let Ok(csr) = Csr::from_pem(pem)
    {
        check(&csr);
    }
});
