//! Files: read what exists, write new files atomically with the right mode from the first
//! byte, lock a directory against concurrent runs, and write many files as one batch that
//! survives a crash at any instant ([`journal`]).

mod journal;

use std::{
    collections::BTreeMap,
    fs::{self, File, OpenOptions},
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

pub use journal::{JOURNAL, Recovered, recover, write_batch};

use crate::{error::Error, time::rfc3339};

/// The file naming the holder of a directory's lock, present while it is held.
pub const LOCK_HOLDER: &str = ".tenantctl-lock";

/// Mode of private keys and kubeconfigs.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of certificates and public keys.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of directories created here (kubeadm's).
pub const DIR_MODE: u32 = 0o755;

/// Reads each of `paths` (relative to `dir`) that exists. A missing file is simply absent
/// from the map; any other failure (permissions, a directory in the way) is an error.
pub fn read_existing(
    dir: &Path,
    paths: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let mut out = BTreeMap::new();
    for rel in paths {
        let path = dir.join(&rel);
        match fs::read(&path) {
            Ok(bytes) => {
                out.insert(rel, bytes);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Read { path, source }),
        }
    }
    Ok(out)
}

/// An exclusive advisory lock (flock) on a directory, held until dropped. The directory itself
/// is locked; `.tenantctl-lock` names the holder while it is held, for the message another run
/// gets.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    holder: PathBuf,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.holder);
    }
}

/// Locks `dir` if it exists (`Ok(None)` if it does not exist yet), waiting up to `timeout` for
/// another run to release it; then [`Error::Locked`] names the holder.
pub fn lock_dir(dir: &Path, timeout: Duration) -> Result<Option<DirLock>, Error> {
    let file = match File::open(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50).min(timeout));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(dir.join(LOCK_HOLDER))
                    .ok()
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty());
                return Err(Error::Locked {
                    path: dir.to_owned(),
                    holder,
                });
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(Error::Write {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
    let holder = dir.join(LOCK_HOLDER);
    let text = format!(
        "pid {} ({}) since {}\n",
        std::process::id(),
        command_name(std::env::args()),
        rfc3339(SystemTime::now())
    );
    // Best effort: the lock is what excludes, this file only names who holds it. 0600 all the
    // same, from the first byte: it names a process of whoever holds the CA keys.
    let _ = replace_file(&holder, text.as_bytes(), true);
    Ok(Some(DirLock {
        _file: file,
        holder,
    }))
}

/// `tenantctl` and its subcommand words (`tenantctl pki rotate-ca begin`), never a flag or a
/// value: `join --token=…` or `--certificate-key …` must not reach a file another run prints.
/// The words stop at the first one that is not lowercase letters and dashes (a flag, a token,
/// an address), three at most.
fn command_name(args: impl Iterator<Item = String>) -> String {
    let mut args = args;
    let program = args
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "tenantctl".into());
    let words = args
        .take_while(|a| {
            a.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && a.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .take(3);
    std::iter::once(program)
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Creates `dir` and its missing parents with mode 0755.
pub fn create_dirs(dir: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| Error::Write {
            path: dir.to_owned(),
            source,
        })
}

/// Creates `dir` and its missing parents; a directory this creates is 0700 (it is for
/// secrets: `apply --out-dir`). An existing one is left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Write {
            path: dir.to_owned(),
            source,
        })
}

/// A file to write.
pub struct Pending<'a> {
    /// Where.
    pub path: PathBuf,
    /// What.
    pub contents: &'a [u8],
    /// 0600 (true) or 0644.
    pub secret: bool,
    /// Replace an existing file ([`write_batch`] only); otherwise the name must be free.
    pub replace: bool,
}

impl<'a> Pending<'a> {
    /// A new file (never replacing one).
    pub fn new(path: PathBuf, contents: &'a [u8], secret: bool) -> Self {
        Self {
            path,
            contents,
            secret,
            replace: false,
        }
    }
}

/// Writes every file as new, or none: each goes to a temporary file in its own directory
/// (created with its final mode, so a key is never readable by others, not even for a moment),
/// is fsynced, then hard-linked to its name, which fails rather than replace an existing file.
/// If any step fails, the files this call already created are removed again.
pub fn write_new_files(files: &[Pending<'_>]) -> Result<Vec<PathBuf>, Error> {
    let mut created = Vec::new();
    for f in files {
        if let Err(e) = write_new(&f.path, f.contents, f.secret) {
            for p in &created {
                let _ = fs::remove_file(p);
            }
            return Err(e);
        }
        created.push(f.path.clone());
    }
    let mut dirs: Vec<&Path> = created.iter().filter_map(|p| p.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        sync_dir(d)?;
    }
    Ok(created)
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_owned(),
        source,
    }
}

/// `.NAME.tmp.PID.NONCE` next to `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce: u64 = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into());
    path.with_file_name(format!(".{name}.tmp.{}.{nonce}", std::process::id()))
}

fn write_temp(path: &Path, contents: &[u8], secret: bool) -> Result<PathBuf, Error> {
    let mode = if secret { SECRET_MODE } else { PUBLIC_MODE };
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have removed bits of a public file's mode; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(contents)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(write_err(path)(e))
        }
    }
}

fn write_new(path: &Path, contents: &[u8], secret: bool) -> Result<(), Error> {
    let tmp = write_temp(path, contents, secret)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    linked.map_err(write_err(path))
}

/// Replaces `path` atomically (temp file, fsync, rename, fsync the directory). For files that
/// are rewritten on purpose, such as a renewed kubeconfig.
pub fn replace_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), Error> {
    let tmp = write_temp(path, contents, secret)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(path)(e));
    }
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Writes a secret file (a kubeconfig): new, never replacing, unless `force`; 0600 from the
/// first byte; atomic either way. An existing file without `force` is [`Error::Exists`].
pub fn write_secret(path: &Path, contents: &[u8], force: bool) -> Result<(), Error> {
    if force {
        return replace_file(path, contents, true);
    }
    write_new_files(&[Pending::new(path.to_owned(), contents, true)])
        .map(drop)
        .map_err(|e| match e {
            Error::Write { source, .. } if source.kind() == io::ErrorKind::AlreadyExists => {
                Error::Exists {
                    path: path.to_owned(),
                }
            }
            e => e,
        })
}

/// fsyncs a directory, so that the names created or removed in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err(dir))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    #[test]
    fn new_files_get_their_mode_and_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("a.key");
        let crt = dir.path().join("a.crt");
        write_new_files(&[
            Pending::new(key.clone(), b"k", true),
            Pending::new(crt.clone(), b"c", false),
        ])
        .unwrap();
        assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&crt).unwrap().mode() & 0o777, 0o644);
        // A second write of the same name fails, and rolls back the first file of the batch.
        let other = dir.path().join("b.key");
        let err = write_new_files(&[
            Pending::new(other.clone(), b"x", true),
            Pending::new(key.clone(), b"y", true),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("a.key"));
        assert!(!other.exists());
        assert_eq!(fs::read(&key).unwrap(), b"k");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    }

    #[test]
    fn the_lock_names_the_command_never_its_flags_or_values() {
        let argv = |s: &str| {
            s.split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(
            command_name(argv(
                "/usr/bin/tenantctl join --token=abcdef.0123456789abcdef 10.0.0.1:6443"
            )),
            "tenantctl join"
        );
        assert_eq!(
            command_name(argv(
                "tenantctl join 10.0.0.1:6443 --control-plane --certificate-key 0a1b"
            )),
            "tenantctl join"
        );
        assert_eq!(
            command_name(argv("tenantctl pki rotate-ca begin --ca all")),
            "tenantctl pki rotate-ca begin"
        );
        assert_eq!(
            command_name(argv("tenantctl token create abcdef.0123456789abcdef")),
            "tenantctl token create"
        );
    }

    #[test]
    fn the_lock_holder_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_dir(dir.path(), Duration::ZERO).unwrap().unwrap();
        let mode = fs::metadata(dir.path().join(LOCK_HOLDER))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(held);
    }

    #[test]
    fn the_lock_excludes_a_second_holder_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let none = Duration::ZERO;
        let held = lock_dir(dir.path(), none).unwrap().unwrap();
        match lock_dir(dir.path(), Duration::from_millis(120)) {
            Err(Error::Locked {
                holder: Some(holder),
                ..
            }) => assert!(
                holder.starts_with(&format!("pid {} (", std::process::id())),
                "{holder}"
            ),
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(
            !dir.path().join(LOCK_HOLDER).exists(),
            "the holder file goes with the lock"
        );
        assert!(lock_dir(dir.path(), none).unwrap().is_some());
        assert!(
            lock_dir(&dir.path().join("missing"), none)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn replace_is_atomic_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("admin.conf");
        replace_file(&p, b"one", true).unwrap();
        replace_file(&p, b"two", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
    }
}
