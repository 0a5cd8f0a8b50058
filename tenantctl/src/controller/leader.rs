//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager): one reconciler at a
//! time among replicas; a replica whose leader dies takes over once the lease runs out.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;

use crate::error::Error;

/// This replica's claim on the Lease.
pub struct Leadership {
    changes: watch::Receiver<bool>,
    // Dropping the receiver stops the manager's task, which then releases the lease.
    _task: tokio::task::JoinHandle<
        Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
    >,
}

/// Who this replica is in the Lease: the pod's name (or the host's) and the process id.
pub fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tenantctl".into());
    format!("{host}_{}", std::process::id())
}

impl Leadership {
    /// Starts competing for `namespace/name`, each claim lasting `duration` and renewed a third
    /// of it ahead of its end.
    pub async fn start(
        client: Client,
        namespace: &str,
        name: &str,
        duration: Duration,
    ) -> Result<Self, Error> {
        let secs = duration.as_secs();
        if secs < 3 {
            return Err(Error::Usage {
                flag: "--leader-elect-lease-duration",
                message: "must be at least 3s".into(),
            });
        }
        // Each replica its own field manager (the crate's default): the lock relies on
        // server-side apply conflicts between them.
        let params = LeaseParams::new(identity(), secs, (secs / 3).max(1));
        let manager = LeaseManagerBuilder::new(client, name)
            .with_namespace(namespace)
            .with_parameters(params)
            .build()
            .await
            .map_err(|e| Error::Leader {
                message: format!("lease/{name} in {namespace}: {e}"),
            })?;
        let (changes, task) = manager.watch().await;
        Ok(Self {
            changes,
            _task: task,
        })
    }

    /// Waits until this replica holds the lease.
    pub async fn acquired(&mut self) -> Result<(), Error> {
        self.changes
            .wait_for(|leader| *leader)
            .await
            .map(|_| ())
            .map_err(|_| Error::Leader {
                message: "the lease manager stopped".into(),
            })
    }

    /// Resolves when this replica no longer holds the lease.
    pub async fn lost(&mut self) {
        let _ = self.changes.wait_for(|leader| !*leader).await;
    }
}
