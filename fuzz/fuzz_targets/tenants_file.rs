//! Fuzz target `tenants_file`. What it parses and checks is the function of the same name in
//! `src/lib.rs`, which the normal test suite also runs on this target's `corpus/` and
//! `regressions/` inputs (`tests/e2e/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tenantctl_fuzz::tenants_file(data));
