//! Overwriting key material before it is removed.

use super::*;

/// Overwrites and removes `rotation/<ca>/<name>.key` and removes `<name>.crt`, for each name;
/// returns what was removed. Run after the step's batch committed, so a kill between the two
/// leaves files the same step removes when run again.
pub(super) fn shred_pairs(
    dry_run: bool,
    s: &Settings,
    kind: CaKind,
    names: &[&str],
) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    if dry_run {
        for name in names {
            for ext in ["key", "crt"] {
                let p = rot_path(s, kind, &format!("{name}.{ext}"));
                if p.exists() {
                    done.push(p.display().to_string());
                }
            }
        }
        return Ok(done);
    }
    for name in names {
        let key = rot_path(s, kind, &format!("{name}.key"));
        if shred(&key)? {
            done.push(key.display().to_string());
        }
        let crt = rot_path(s, kind, &format!("{name}.crt"));
        match std::fs::remove_file(&crt) {
            Ok(()) => done.push(crt.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Write { path: crt, source }),
        }
    }
    if !done.is_empty() {
        fs::sync_dir(&rotation::dir(&s.cert_dir, kind))?;
    }
    Ok(done)
}

/// Overwrites a file with zeros, fsyncs it, then removes it. `false` when it was not there.
pub(super) fn shred(path: &Path) -> Result<bool, Error> {
    let werr = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(Error::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(werr)?;
    let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
    f.write_all(&zeros).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    drop(f);
    std::fs::remove_file(path).map_err(werr)?;
    Ok(true)
}
