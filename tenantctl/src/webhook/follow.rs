//! Keeps the index current: a watch on the ledger's ConfigMaps (`tenant-USER` in the record
//! namespace), each event re-indexing that one record. A revocation reaches the index as soon
//! as the watch event does (milliseconds on a live connection).

use std::sync::{Arc, atomic::Ordering};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client, ResourceExt as _,
    runtime::{WatchStreamExt as _, watcher},
};

use super::server::State;
use crate::{
    output,
    tenant::{TenantRecord, record_selector},
};

/// Follows the ledger in `namespace` until the process ends. The webhook becomes ready once
/// the first full list is indexed; a relist replaces the index in one step.
pub async fn follow(client: Client, namespace: String, state: Arc<State>) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().labels(&record_selector());
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut listing: Option<Vec<(String, TenantRecord)>> = None;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                output::message(&format!("webhook: watching the ledger: {e} (retrying)"));
                continue;
            }
        };
        match event {
            watcher::Event::Init => listing = Some(Vec::new()),
            watcher::Event::InitApply(cm) => {
                if let (Some(list), Some(record)) = (&mut listing, parse(&cm)) {
                    list.push((cm.name_any(), record));
                }
            }
            watcher::Event::InitDone => {
                let list = listing.take().unwrap_or_default();
                if let Ok(mut index) = state.index.write() {
                    index.reset(list.iter().map(|(k, r)| (k.as_str(), r)));
                }
                state.ready.store(true, Ordering::Relaxed);
            }
            watcher::Event::Apply(cm) => {
                if let Some(record) = parse(&cm)
                    && let Ok(mut index) = state.index.write()
                {
                    index.put(&cm.name_any(), &record);
                }
            }
            watcher::Event::Delete(cm) => {
                if let Ok(mut index) = state.index.write() {
                    index.remove(&cm.name_any());
                }
            }
        }
    }
}

fn parse(cm: &ConfigMap) -> Option<TenantRecord> {
    match TenantRecord::from_config_map(cm) {
        Ok(r) => Some(r),
        Err(e) => {
            output::message(&format!(
                "webhook: configmap/{} is not a tenant record ({e}); skipped",
                cm.name_any()
            ));
            None
        }
    }
}
