//! Criterion benches for pki-core and kubeconfig; see `benches/` and `benches/README.md`.

use std::collections::BTreeMap;

/// Tenants per action in `tenantctl apply -o json` (`{"tenants": [{"user", "action"}, ...]}`),
/// for the apply benches.
pub fn apply_actions(stdout: &[u8]) -> Result<BTreeMap<String, usize>, String> {
    let report: serde_json::Value = serde_json::from_slice(stdout).map_err(|e| {
        format!(
            "apply -o json printed no JSON ({e}): {}",
            String::from_utf8_lossy(stdout)
                .chars()
                .take(400)
                .collect::<String>()
        )
    })?;
    let tenants = report["tenants"]
        .as_array()
        .ok_or("apply -o json has no `tenants` array")?;
    let mut counts = BTreeMap::new();
    for t in tenants {
        let action = t["action"].as_str().ok_or("a tenant without `action`")?;
        *counts.entry(action.to_owned()).or_insert(0) += 1;
    }
    Ok(counts)
}
