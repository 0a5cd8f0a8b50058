//! The write journal: a multi-file write that a crash (kill -9, power cut) can interrupt at any
//! instant without leaving a half-done tree.
//!
//! A batch is written in two phases, under the caller's lock on the journal directory:
//!
//! 1. `.tenantctl-journal` records the batch (state `writing`: each final path with the
//!    temporary file it will come from, the directories the batch creates) and is fsynced; then
//!    every file is written to its temporary name with its final mode and fsynced.
//! 2. The journal is rewritten as `committed` (atomically: temporary file, fsync, rename); then
//!    each file is put in place in order — linked when new (never replacing), renamed over the
//!    old one when replacing — and the journal is removed.
//!
//! No final name changes before the commit point, and after it every new file exists whole
//! under its temporary name. So [`recover`], run by the next writer when it holds the lock,
//! can always converge: a `writing` journal is rolled back (temporary files and the batch's
//! empty directories removed; nothing under a final name was touched), a `committed` one is
//! rolled forward (the remaining temporary files put in place). Keys are listed before their
//! certificates, so even a reader that looks mid-way never finds a new certificate over an old
//! key, only (briefly, within one batch) a new key under an old certificate.

use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::{DIR_MODE, PUBLIC_MODE, Pending, SECRET_MODE, sync_dir, temp_path};
use crate::error::Error;

/// The journal's file name in the journal directory.
pub const JOURNAL: &str = ".tenantctl-journal";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum State {
    Writing,
    Committed,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Journal {
    /// The process that wrote it (for messages).
    pid: u32,
    state: State,
    /// Directories this batch created, parents first.
    created_dirs: Vec<PathBuf>,
    /// The files, in the order they are put in place.
    entries: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    path: PathBuf,
    temp: PathBuf,
    /// Replace an existing file (renew) rather than create a new one (never replacing).
    replace: bool,
}

/// What [`recover`] did about a run that died.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// One line per action, for stderr.
    pub lines: Vec<String>,
}

/// Writes `files` as one batch through the journal in `journal_dir` (which must exist and be
/// locked by the caller). Missing parent directories are created (and recorded). A new file
/// whose name exists is refused before anything is written. On a failure before the commit
/// point everything this call wrote is removed again; after it, the journal stays for
/// [`recover`] to finish.
pub fn write_batch(journal_dir: &Path, files: &[Pending<'_>]) -> Result<Vec<PathBuf>, Error> {
    let journal_path = absolute(&journal_dir.join(JOURNAL))?;
    let mut journal = Journal {
        pid: std::process::id(),
        state: State::Writing,
        created_dirs: Vec::new(),
        entries: Vec::new(),
    };
    // Secrets (private keys) go in place first, so a run killed between two renames never
    // leaves a certificate under its final name without its key.
    let mut order: Vec<&Pending<'_>> = files.iter().collect();
    order.sort_by_key(|f| !f.secret);
    for f in &order {
        let path = absolute(&f.path)?;
        if !f.replace && path.symlink_metadata().is_ok() {
            return Err(Error::Exists {
                path: f.path.clone(),
            });
        }
        journal.entries.push(Entry {
            temp: temp_path(&path),
            path,
            replace: f.replace,
        });
    }
    journal.created_dirs = missing_parents(journal.entries.iter().map(|e| e.path.as_path()));
    save(&journal_path, &journal)?;

    match prepare(&journal, &order) {
        Ok(()) => {}
        Err(e) => {
            roll_back(&journal);
            let _ = fs::remove_file(&journal_path);
            let _ = sync_dir(journal_dir);
            return Err(e);
        }
    }
    journal.state = State::Committed;
    save(&journal_path, &journal)?;
    put_in_place(&journal)?;
    fs::remove_file(&journal_path).map_err(write_err(&journal_path))?;
    sync_dir(journal_dir)?;
    Ok(files.iter().map(|f| f.path.clone()).collect())
}

/// Converges after a run that died: rolls a `writing` journal in `journal_dir` back, or a
/// `committed` one forward, then removes stray temporary files (`.NAME.tmp.PID.N`) in each of
/// `sweep`. Call it only while holding the lock on `journal_dir`: then no live tenantctl is
/// writing there.
pub fn recover(journal_dir: &Path, sweep: &[&Path]) -> Result<Recovered, Error> {
    let mut done = Recovered::default();
    let journal_path = journal_dir.join(JOURNAL);
    match fs::read(&journal_path) {
        Ok(bytes) => {
            let journal: Journal =
                serde_json::from_slice(&bytes).map_err(|e| Error::Inconsistent {
                    dir: journal_dir.to_owned(),
                    problems: vec![format!(
                        "{JOURNAL} cannot be read ({e}); it records an interrupted write: compare the files with a backup, then remove it"
                    )],
                })?;
            match journal.state {
                State::Writing => {
                    let removed = roll_back(&journal);
                    done.lines.push(format!(
                        "recovered: rolled back a write interrupted before it completed (pid {}): {removed} temporary files removed, no file under its final name was touched",
                        journal.pid
                    ));
                }
                State::Committed => {
                    let placed = put_in_place(&journal)?;
                    done.lines.push(format!(
                        "recovered: finished a write interrupted after it was committed (pid {}): {placed} of {} files put in place",
                        journal.pid,
                        journal.entries.len()
                    ));
                }
            }
            fs::remove_file(&journal_path).map_err(write_err(&journal_path))?;
            sync_dir(journal_dir)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Read {
                path: journal_path,
                source,
            });
        }
    }
    let mut stray = 0;
    for dir in sweep {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if is_temp_name(&name.to_string_lossy())
                && entry.file_type().is_ok_and(|t| t.is_file())
                && fs::remove_file(entry.path()).is_ok()
            {
                stray += 1;
            }
        }
    }
    if stray > 0 {
        done.lines.push(format!(
            "recovered: removed {stray} temporary files left by a run that died"
        ));
    }
    Ok(done)
}

/// Phase 1: the directories, then every file under its temporary name, fsynced.
fn prepare(journal: &Journal, files: &[&Pending<'_>]) -> Result<(), Error> {
    for dir in &journal.created_dirs {
        fs::DirBuilder::new()
            .mode(DIR_MODE)
            .create(dir)
            .or_else(|e| match e.kind() {
                io::ErrorKind::AlreadyExists if dir.is_dir() => Ok(()),
                _ => Err(e),
            })
            .map_err(write_err(dir))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
    }
    for (entry, f) in journal.entries.iter().zip(files) {
        write_temp(&entry.temp, f.contents, f.secret).map_err(write_err(&entry.path))?;
    }
    for dir in parents(journal) {
        sync_dir(&dir)?;
    }
    Ok(())
}

/// Phase 2 (and roll-forward): each remaining temporary file to its final name, in order.
/// Returns how many were put in place.
fn put_in_place(journal: &Journal) -> Result<usize, Error> {
    let mut placed = 0;
    for e in &journal.entries {
        if e.temp.symlink_metadata().is_err() {
            continue; // already in place
        }
        if e.replace {
            fs::rename(&e.temp, &e.path).map_err(write_err(&e.path))?;
        } else {
            match fs::hard_link(&e.temp, &e.path) {
                Ok(()) => {}
                // Put in place before the crash, its temporary name not yet removed.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(write_err(&e.path)(err)),
            }
            fs::remove_file(&e.temp).map_err(write_err(&e.temp))?;
        }
        placed += 1;
    }
    for dir in parents(journal) {
        sync_dir(&dir)?;
    }
    Ok(placed)
}

/// Removes the batch's temporary files and then its directories, deepest first, where empty.
/// Returns how many temporary files were removed.
fn roll_back(journal: &Journal) -> usize {
    let mut removed = 0;
    for e in &journal.entries {
        if fs::remove_file(&e.temp).is_ok() {
            removed += 1;
        }
    }
    for dir in journal.created_dirs.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
    removed
}

/// Writes the journal atomically: temporary file, fsync, rename, fsync the directory.
fn save(path: &Path, journal: &Journal) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(journal).map_err(|e| Error::Manifest {
        message: e.to_string(),
    })?;
    let tmp = temp_path(path);
    write_temp(&tmp, &bytes, true).map_err(write_err(path))?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(path)(e));
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

fn write_temp(tmp: &Path, contents: &[u8], secret: bool) -> io::Result<()> {
    let mode = if secret { SECRET_MODE } else { PUBLIC_MODE };
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(tmp)?;
        // The umask may have removed bits of a public file's mode; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(contents)?;
        f.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// The directories the files need that do not exist yet, parents first.
fn missing_parents<'a>(paths: impl Iterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = Vec::new();
    for p in paths {
        let mut chain = Vec::new();
        let mut dir = p.parent();
        while let Some(d) = dir {
            if d.as_os_str().is_empty() || d.exists() || missing.iter().any(|m| m == d) {
                break;
            }
            chain.push(d.to_path_buf());
            dir = d.parent();
        }
        missing.extend(chain.into_iter().rev());
    }
    missing
}

fn parents(journal: &Journal) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = journal
        .entries
        .iter()
        .filter_map(|e| e.path.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// `.NAME.tmp.PID.NONCE`, as [`temp_path`] makes them.
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let mut parts = rest.rsplitn(3, '.');
    let (Some(nonce), Some(pid), Some(head)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(nonce) && digits(pid) && head.ends_with(".tmp") && head.len() > ".tmp".len()
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(write_err(path))
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    fn pending<'a>(path: PathBuf, contents: &'a [u8], secret: bool) -> Pending<'a> {
        Pending {
            path,
            contents,
            secret,
            replace: false,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_batch_lands_whole_with_modes_and_leaves_no_journal() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_batch(
            d,
            &[
                pending(d.join("etcd/ca.key"), b"k", true),
                pending(d.join("etcd/ca.crt"), b"c", false),
            ],
        )
        .unwrap();
        assert_eq!(names(d), ["etcd"]);
        assert_eq!(names(&d.join("etcd")), ["ca.crt", "ca.key"]);
        assert_eq!(
            fs::metadata(d.join("etcd/ca.key")).unwrap().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(d.join("etcd/ca.crt")).unwrap().mode() & 0o777,
            0o644
        );
        // A new file never replaces one.
        let err = write_batch(d, &[pending(d.join("etcd/ca.key"), b"x", true)]).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");
        assert_eq!(fs::read(d.join("etcd/ca.key")).unwrap(), b"k");
    }

    /// The state a kill leaves at each point of a batch, and what recovery makes of it.
    #[test]
    fn recovery_rolls_back_before_the_commit_and_forward_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let entries = |replace| {
            vec![
                Entry {
                    path: d.join("sub/a.key"),
                    temp: d.join("sub/.a.key.tmp.1.1"),
                    replace,
                },
                Entry {
                    path: d.join("sub/a.crt"),
                    temp: d.join("sub/.a.crt.tmp.1.2"),
                    replace,
                },
            ]
        };
        // Killed while writing: one temporary file written, the directory created.
        let journal = Journal {
            pid: 1,
            state: State::Writing,
            created_dirs: vec![d.join("sub")],
            entries: entries(false),
        };
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("sub/.a.key.tmp.1.1"), b"k").unwrap();
        save(&d.join(JOURNAL), &journal).unwrap();
        fs::write(d.join(".stray.tmp.77.88"), b"x").unwrap();
        let done = recover(d, &[d]).unwrap();
        assert_eq!(done.lines.len(), 2, "{done:?}");
        assert!(names(d).is_empty(), "{:?}", names(d));

        // Killed after the commit, the key in place, the certificate not yet.
        let journal = Journal {
            pid: 2,
            state: State::Committed,
            created_dirs: vec![d.join("sub")],
            entries: entries(false),
        };
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("sub/a.key"), b"k").unwrap();
        fs::hard_link(d.join("sub/a.key"), d.join("sub/.a.key.tmp.1.1")).unwrap();
        fs::write(d.join("sub/.a.crt.tmp.1.2"), b"c").unwrap();
        save(&d.join(JOURNAL), &journal).unwrap();
        let done = recover(d, &[d, &d.join("sub")]).unwrap();
        assert!(
            done.lines[0].contains("2 of 2 files put in place"),
            "{done:?}"
        );
        assert_eq!(names(d), ["sub"]);
        assert_eq!(names(&d.join("sub")), ["a.crt", "a.key"]);
        assert_eq!(fs::read(d.join("sub/a.crt")).unwrap(), b"c");

        // A committed replacement: the new pair wins.
        let journal = Journal {
            pid: 3,
            state: State::Committed,
            created_dirs: vec![],
            entries: entries(true),
        };
        fs::write(d.join("sub/.a.key.tmp.1.1"), b"k2").unwrap();
        fs::write(d.join("sub/.a.crt.tmp.1.2"), b"c2").unwrap();
        save(&d.join(JOURNAL), &journal).unwrap();
        recover(d, &[]).unwrap();
        assert_eq!(fs::read(d.join("sub/a.key")).unwrap(), b"k2");
        assert_eq!(fs::read(d.join("sub/a.crt")).unwrap(), b"c2");
        assert_eq!(names(&d.join("sub")), ["a.crt", "a.key"]);

        // Nothing to do: nothing said.
        assert_eq!(recover(d, &[d]).unwrap(), Recovered::default());
    }

    #[test]
    fn a_failure_before_the_commit_removes_everything_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The second file's directory cannot be made: a file is in the way.
        fs::write(d.join("blocker"), b"x").unwrap();
        let err = write_batch(
            d,
            &[
                pending(d.join("new/a.key"), b"k", true),
                pending(d.join("blocker/sub/a.crt"), b"c", false),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("blocker"), "{err}");
        assert_eq!(names(d), ["blocker"], "no file, directory or journal left");
    }

    #[test]
    fn temp_names() {
        assert!(is_temp_name(".ca.key.tmp.16742.305682109"));
        assert!(is_temp_name(".tenantctl-journal.tmp.1.2"));
        assert!(!is_temp_name("ca.key"));
        assert!(!is_temp_name(".tmp.1.2"));
        assert!(!is_temp_name(".ca.key.tmp.x.2"));
        assert!(!is_temp_name(".ca.key.tmp.1."));
    }
}
