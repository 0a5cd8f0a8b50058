//! `Kubeconfig::from_yaml` on arbitrary text. On success:
//! - `to_yaml` succeeds and its output parses to the same kubeconfig (compared as a JSON value,
//!   so the `HashMap`-backed maps kube keeps may come back in any order), and it is a fixed point:
//!   emitting the second parse parses to the same value again;
//! - `current()` resolves the same way (same context, cluster, user, credential kind, or the same
//!   error) on the first and second parse;
//! - when `current()` resolves, `minify()` succeeds and resolves to the same view;
//! - merging the kubeconfig with its own re-parse changes nothing (the first wins every name);
//! - `validate` on the current context works (it may fail, not panic).
#![no_main]

use std::time::{Duration, SystemTime};

use kubeconfig::Kubeconfig;
use libfuzzer_sys::fuzz_target;
use tenantctl_fuzz::text;

fn value(config: &Kubeconfig) -> serde_json::Value {
    serde_json::to_value(config.as_kube()).expect("a parsed kubeconfig serializes to JSON")
}

fn resolved(config: &Kubeconfig) -> Result<String, String> {
    config
        .current()
        .map(|current| format!("{current:?}"))
        .map_err(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
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
    let first_value = value(&first);
    assert_eq!(
        first_value,
        value(&second),
        "parse → emit → parse changed the kubeconfig; emitted:\n{}",
        &*emitted
    );
    let emitted_again = second.to_yaml().expect("a parsed kubeconfig must emit");
    let third = Kubeconfig::from_yaml(&emitted_again).expect("emitted YAML must parse again");
    assert_eq!(first_value, value(&third), "emit is not a fixed point");

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
        value(&merged),
        first_value,
        "merging a kubeconfig with itself changed it"
    );

    if let Ok(current) = first.current() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let _ = current.validate(now);
    }
});
