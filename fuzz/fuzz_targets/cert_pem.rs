//! `Certificate::from_pem` and `chain_from_pem` on arbitrary text: the two parse paths agree
//! (the leaf is the chain's first certificate), and every certificate parsed round-trips and
//! answers every accessor (see `check_certificate`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::Certificate;
use tenantctl_fuzz::{check_certificate, text};

fuzz_target!(|data: &[u8]| {
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
});
