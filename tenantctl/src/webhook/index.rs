//! The revoked credentials, indexed for the authorizer: every revoked certificate's SHA-256
//! (the API server's `X509SHA256=` credential id) and every revoked user, built from the
//! ledger's records and kept current record by record. Pure.

use std::collections::{HashMap, HashSet};

use crate::tenant::{AuthKind, Phase, TenantRecord};

/// A SHA-256 over a certificate's DER.
pub type CredentialId = [u8; 32];

/// What one record contributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Entry {
    user: String,
    revoked_user: bool,
    ids: Vec<CredentialId>,
}

/// Revoked credential ids and users, by the record they come from.
#[derive(Debug, Default)]
pub struct RevokedIndex {
    ids: HashSet<CredentialId>,
    users: HashMap<String, usize>,
    by_record: HashMap<String, Entry>,
}

impl RevokedIndex {
    /// An index of `ids` alone (benchmarks, tests).
    pub fn from_ids(ids: impl IntoIterator<Item = CredentialId>) -> Self {
        let mut index = Self::default();
        let ids: Vec<CredentialId> = ids.into_iter().collect();
        index.ids.extend(ids.iter().copied());
        index.by_record.insert(
            String::new(),
            Entry {
                ids,
                ..Entry::default()
            },
        );
        index
    }

    /// Sets what the record stored under `key` (its ConfigMap's name) says: its revoked
    /// certificates, and its user when the whole tenant is revoked.
    pub fn put(&mut self, key: &str, record: &TenantRecord) {
        let entry = Entry {
            user: record.user.clone(),
            revoked_user: record.phase == Phase::Revoked,
            ids: record
                .credentials
                .iter()
                .filter(|c| c.kind == AuthKind::Cert && c.revoked.is_some())
                .filter_map(|c| c.sha256.as_deref().and_then(parse_fingerprint))
                .collect(),
        };
        self.remove(key);
        self.ids.extend(entry.ids.iter().copied());
        if entry.revoked_user {
            *self.users.entry(entry.user.clone()).or_default() += 1;
        }
        self.by_record.insert(key.to_owned(), entry);
    }

    /// Forgets the record stored under `key` (its ConfigMap was deleted).
    pub fn remove(&mut self, key: &str) {
        let Some(old) = self.by_record.remove(key) else {
            return;
        };
        for id in &old.ids {
            self.ids.remove(id);
        }
        if old.revoked_user
            && let Some(n) = self.users.get_mut(&old.user)
        {
            *n -= 1;
            if *n == 0 {
                self.users.remove(&old.user);
            }
        }
    }

    /// Replaces everything with `records` (a fresh list).
    pub fn reset<'a>(&mut self, records: impl IntoIterator<Item = (&'a str, &'a TenantRecord)>) {
        *self = Self::default();
        for (key, record) in records {
            self.put(key, record);
        }
    }

    /// The certificate with this SHA-256 is revoked.
    pub fn is_revoked(&self, id: &CredentialId) -> bool {
        self.ids.contains(id)
    }

    /// The whole tenant of this user is revoked.
    pub fn is_revoked_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// How many revoked certificates.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// No revoked certificate.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A SHA-256 as the ledger writes it (hex, with or without colons, any case) or as the API
/// server's credential id carries it (lowercase hex).
pub fn parse_fingerprint(s: &str) -> Option<CredentialId> {
    let mut out = [0u8; 32];
    let mut digits = s.bytes().filter(|b| *b != b':');
    for byte in &mut out {
        let hi = hex_value(digits.next()?)?;
        let lo = hex_value(digits.next()?)?;
        *byte = hi << 4 | lo;
    }
    digits.next().is_none().then_some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::tenant::CredentialRecord;

    fn record(user: &str, phase: Phase, certs: &[(&str, bool)]) -> TenantRecord {
        let credentials = certs
            .iter()
            .map(|(sha, revoked)| {
                let mut c = CredentialRecord::token(SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH);
                c.kind = AuthKind::Cert;
                c.sha256 = Some((*sha).into());
                c.revoked = revoked.then(|| "2026-12-05T00:00:00Z".into());
                c
            })
            .collect();
        TenantRecord::fixture(user, phase, credentials)
    }

    #[test]
    fn fingerprints_in_either_spelling() {
        let plain = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&plain), Some([0xab; 32]));
        assert_eq!(parse_fingerprint(&colons), Some([0xab; 32]));
        assert_eq!(parse_fingerprint(&"ab".repeat(31)), None);
        assert_eq!(parse_fingerprint(&"ab".repeat(33)), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
    }

    #[test]
    fn records_come_and_go() {
        let (a, b) = ("aa".repeat(32), "bb".repeat(32));
        let mut index = RevokedIndex::default();
        // One credential of an Active tenant revoked: only it.
        index.put(
            "tenant-alice",
            &record("alice", Phase::Active, &[(&a, true), (&b, false)]),
        );
        assert!(index.is_revoked(&[0xaa; 32]) && !index.is_revoked(&[0xbb; 32]));
        assert!(!index.is_revoked_user("alice"));
        // The tenant revoked: both, and the user.
        index.put(
            "tenant-alice",
            &record("alice", Phase::Revoked, &[(&a, true), (&b, true)]),
        );
        assert_eq!(index.len(), 2);
        assert!(index.is_revoked_user("alice"));
        // Created again: the old ones stay revoked, the user no longer is.
        let c = "cc".repeat(32);
        index.put(
            "tenant-alice",
            &record(
                "alice",
                Phase::Active,
                &[(&a, true), (&b, true), (&c, false)],
            ),
        );
        assert!(index.is_revoked(&[0xbb; 32]) && !index.is_revoked(&[0xcc; 32]));
        assert!(!index.is_revoked_user("alice"));
        index.remove("tenant-alice");
        assert!(index.is_empty());
    }
}
