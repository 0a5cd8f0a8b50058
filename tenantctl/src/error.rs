//! The CLI's error type and its exit codes.

use std::{io, path::PathBuf};

/// Documented exit codes (also in `--help` and the README).
pub struct ExitCodes;

impl ExitCodes {
    /// Success.
    pub const OK: u8 = 0;
    /// A runtime failure: I/O, crypto, an unwritable directory.
    pub const FAILURE: u8 = 1;
    /// Invalid flags or values (clap uses 2 for usage errors too).
    pub const USAGE: u8 = 2;
    /// Existing files are inconsistent with each other or with the flags; nothing was changed.
    pub const INCONSISTENT: u8 = 3;
    /// Another tenantctl holds the lock on the directory.
    pub const LOCKED: u8 = 4;
}

/// Everything `tenantctl` reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid flag value.
    #[error("invalid {flag}: {message}")]
    Usage {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another run holds the lock.
    #[error("{} is locked by another tenantctl run", path.display())]
    Locked {
        /// The locked directory.
        path: PathBuf,
    },
    /// Existing files failed the checks; nothing was written.
    #[error("existing files in {} cannot be used (nothing was changed):\n  {}", dir.display(), problems.join("\n  "))]
    Inconsistent {
        /// The directory.
        dir: PathBuf,
        /// One line per problem, naming the file.
        problems: Vec<String>,
    },
    /// A PKI error.
    #[error(transparent)]
    Pki(#[from] pki_core::Error),
    /// A kubeconfig error.
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::Error),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage { .. } => ExitCodes::USAGE,
            Self::Pki(e) if is_input_error(e) => ExitCodes::USAGE,
            Self::Inconsistent { .. } => ExitCodes::INCONSISTENT,
            Self::Locked { .. } => ExitCodes::LOCKED,
            _ => ExitCodes::FAILURE,
        }
    }

    /// A one-line suggestion, when there is an obvious next step.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Write { source, .. } | Self::Read { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                Some("run as a user who may write there (root for /etc/kubernetes), or choose another --cert-dir / --kubeconfig-dir".into())
            }
            Self::Locked { .. } => Some("wait for the other run to finish; the lock is released when it exits".into()),
            Self::Inconsistent { .. } => Some("fix or remove the files named above, or pass the flags the existing PKI was made with".into()),
            _ => None,
        }
    }
}

fn is_input_error(e: &pki_core::Error) -> bool {
    matches!(
        e,
        pki_core::Error::UnknownAlgorithm { .. }
            | pki_core::Error::InvalidSan { .. }
            | pki_core::Error::InvalidName { .. }
            | pki_core::Error::InvalidCidr { .. }
            | pki_core::Error::InvalidEndpoint { .. }
            | pki_core::Error::InvalidValidity { .. }
    )
}
