//! `Certificate::from_der` on arbitrary bytes: on success the certificate keeps the input bytes
//! exactly, round-trips through DER and PEM, and every accessor works (see `check_certificate`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::Certificate;
use tenantctl_fuzz::check_certificate;

fuzz_target!(|data: &[u8]| {
    let Ok(cert) = Certificate::from_der(data) else {
        return;
    };
    assert_eq!(cert.der(), data, "from_der must keep the input DER");
    check_certificate(&cert);
});
