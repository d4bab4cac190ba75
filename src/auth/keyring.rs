//! The node's API keys: `<data_dir>/keys.json`, hashes only.
//!
//! Shard 0 owns the file (as it owns `catalog.json`): an admin call that
//! creates or revokes a key is forwarded there, shard 0 builds the new
//! [`KeyRing`], writes the file durably (temporary file, fdatasync, rename,
//! directory fsync: `storage::atomic_file`), hands the new ring to every
//! shard and waits until each has installed it, and only then answers. So a
//! revoked key is refused on every connection from the moment its `DELETE`
//! answers, and a created key works on every connection from its `201`.
//!
//! A ring is immutable once built and shared by `Arc` between shards
//! (read-only, like a `QueryPlan`); a change builds a new ring. Looking a
//! key up is a hash-map probe by its public id plus one SHA-256 and a
//! constant-time comparison; nothing is cached beyond the ring itself.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::grant::Role;
use super::key::{self, Digest256, PresentedKey, Salt};
use super::Principal;
use crate::quota::{KeyQuota, QuotaOverride};

/// The key file's name, in the data directory.
pub const KEYS_FILE_NAME: &str = "keys.json";
/// Keys a node holds at most: bounds the file, the ring's memory (about
/// 300 bytes a key) and a list answer.
pub const KEYS_MAX: usize = 10_000;
/// Longest `name` a key may carry (a note for people: "filebeat on web-3").
pub const KEY_NAME_BYTES_MAX: usize = 128;
const FILE_FORMAT: u32 = 1;

/// One key as stored: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: Role,
    /// Partition names or globs; empty: every partition.
    #[serde(default)]
    pub partitions: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Hex of the 32-byte salt.
    pub salt: String,
    /// Hex of SHA-256(salt || secret).
    pub hash: String,
    /// The key's own quota settings over the node's `[quotas]` default;
    /// absent from the file when it has none.
    #[serde(default, skip_serializing_if = "QuotaOverride::is_empty")]
    pub quota: QuotaOverride,
}

/// A record with its salt and hash decoded, ready to verify against, and
/// the principal a request with this key gets.
#[derive(Debug)]
struct Verifier {
    record: Arc<KeyRecord>,
    principal: Principal,
    salt: Salt,
    hash: Digest256,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    keys: Vec<KeyRecord>,
}

/// An immutable set of keys (see the module comment).
#[derive(Debug)]
pub struct KeyRing {
    by_id: HashMap<String, Verifier>,
    /// Compared against when the id is unknown, so that an unknown id costs
    /// what a wrong secret does.
    dummy: Verifier,
}

impl KeyRing {
    pub fn empty() -> KeyRing {
        KeyRing::from_records(Vec::new()).expect("an empty ring is valid")
    }

    /// Builds a ring; `Err` names the first malformed record.
    pub fn from_records(records: Vec<KeyRecord>) -> Result<KeyRing, String> {
        KeyRing::following(records, None)
    }

    /// Builds a ring that replaces `previous`: a key whose quota settings
    /// did not change keeps its quota state (`quota::meter`).
    fn following(records: Vec<KeyRecord>, previous: Option<&KeyRing>) -> Result<KeyRing, String> {
        let mut by_id = HashMap::with_capacity(records.len());
        for record in records {
            let before = previous
                .and_then(|ring| ring.by_id.get(&record.id))
                .and_then(|verifier| verifier.principal.quota.as_ref());
            let quota = KeyQuota::carried(before, record.quota);
            let verifier = decode(record, quota)?;
            let id = verifier.record.id.clone();
            if by_id.insert(id.clone(), verifier).is_some() {
                return Err(format!("key id {id} appears twice"));
            }
        }
        let dummy = dummy_verifier()?;
        Ok(KeyRing { by_id, dummy })
    }

    /// Reads `<data_dir>/keys.json`; no file is an empty ring.
    pub fn load(data_dir: &Path) -> Result<KeyRing, String> {
        let path = data_dir.join(KEYS_FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(KeyRing::empty())
            }
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        };
        let file: KeyFile = serde_json::from_slice(&bytes)
            .map_err(|error| format!("{} is not a valid key file: {error}", path.display()))?;
        if file.format != FILE_FORMAT {
            return Err(format!(
                "{} has format {}; this server reads format {FILE_FORMAT}",
                path.display(),
                file.format
            ));
        }
        KeyRing::from_records(file.keys)
            .map_err(|reason| format!("{} is not a valid key file: {reason}", path.display()))
    }

    /// The file's bytes for this ring (records sorted by id).
    pub fn to_json(&self) -> Vec<u8> {
        let file = KeyFile {
            format: FILE_FORMAT,
            keys: self.records().into_iter().map(|r| (*r).clone()).collect(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("key records serialise");
        bytes.push(b'\n');
        bytes
    }

    /// Every record, sorted by id.
    pub fn records(&self) -> Vec<Arc<KeyRecord>> {
        let mut records: Vec<_> = self.by_id.values().map(|v| v.record.clone()).collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        records
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The record of `presented` when its secret is right. An unknown id
    /// and a wrong secret take the same work: one hash, one comparison.
    pub fn verify(&self, presented: &PresentedKey<'_>) -> Option<Principal> {
        let (verifier, known) = match self.by_id.get(presented.id) {
            Some(verifier) => (verifier, true),
            None => (&self.dummy, false),
        };
        let matches = key::verify(&verifier.salt, &verifier.hash, presented.secret);
        (matches && known).then(|| verifier.principal.clone())
    }

    /// A new ring with `record` added.
    pub fn with(&self, record: KeyRecord) -> Result<KeyRing, String> {
        if self.by_id.len() >= KEYS_MAX {
            return Err(format!(
                "this node already holds {KEYS_MAX} keys; revoke some first"
            ));
        }
        let mut records: Vec<KeyRecord> = self.records().iter().map(|r| (**r).clone()).collect();
        records.push(record);
        KeyRing::following(records, Some(self))
    }

    /// A new ring with key `id`'s quota settings replaced; `None` when
    /// there is no such key.
    pub fn with_quota(&self, id: &str, quota: QuotaOverride) -> Option<KeyRing> {
        if !self.by_id.contains_key(id) {
            return None;
        }
        let records = self
            .records()
            .iter()
            .map(|record| {
                let mut record = (**record).clone();
                if record.id == id {
                    record.quota = quota;
                }
                record
            })
            .collect();
        Some(KeyRing::following(records, Some(self)).expect("a valid ring's records stay valid"))
    }

    /// Every key's id and quota state, sorted by id (for `/metrics`).
    pub fn quotas(&self) -> Vec<(Arc<str>, Arc<KeyQuota>)> {
        let mut quotas: Vec<_> = self
            .by_id
            .values()
            .filter_map(|v| Some((v.principal.key_id.clone(), v.principal.quota.clone()?)))
            .collect();
        quotas.sort_by(|a, b| a.0.cmp(&b.0));
        quotas
    }

    /// A new ring without key `id`; `None` when there is no such key.
    pub fn without(&self, id: &str) -> Option<KeyRing> {
        if !self.by_id.contains_key(id) {
            return None;
        }
        let records = self
            .records()
            .iter()
            .filter(|record| record.id != id)
            .map(|record| (**record).clone())
            .collect();
        Some(KeyRing::following(records, Some(self)).expect("a subset of a valid ring is valid"))
    }
}

fn decode(record: KeyRecord, quota: Arc<KeyQuota>) -> Result<Verifier, String> {
    let salt = key::unhex::<{ key::SALT_BYTES }>(&record.salt)
        .ok_or_else(|| format!("key {}: salt is not 64 hex digits", record.id))?;
    let hash = key::unhex::<32>(&record.hash)
        .ok_or_else(|| format!("key {}: hash is not 64 hex digits", record.id))?;
    let id_ok = record.id.len() == 2 * key::ID_BYTES
        && record
            .id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !id_ok {
        return Err(format!(
            "key id {:?} is not 12 lower-case hex digits",
            record.id
        ));
    }
    let principal = Principal {
        key_id: Arc::from(record.id.as_str()),
        role: record.role,
        partitions: Arc::from(record.partitions.clone()),
        quota: Some(quota),
    };
    record
        .quota
        .validate()
        .map_err(|reason| format!("key {}: {reason}", record.id))?;
    Ok(Verifier {
        record: Arc::new(record),
        principal,
        salt,
        hash,
    })
}

/// A record no secret matches (its hash is of a random secret nobody kept).
fn dummy_verifier() -> Result<Verifier, String> {
    let new = key::generate()?;
    Ok(Verifier {
        record: Arc::new(KeyRecord {
            id: String::new(),
            name: None,
            role: Role::Query,
            partitions: Vec::new(),
            created_at: String::new(),
            salt: String::new(),
            hash: String::new(),
            quota: QuotaOverride::default(),
        }),
        principal: Principal {
            key_id: Arc::from(""),
            role: Role::Query,
            partitions: Arc::from(Vec::new()),
            quota: None,
        },
        salt: new.salt,
        hash: new.hash,
    })
}

/// What an admin asks for when making a key.
#[derive(Clone, Debug)]
pub struct KeySpec {
    pub role: Role,
    pub partitions: Vec<String>,
    pub name: Option<String>,
    /// The key's own quota settings (empty: the node's default).
    pub quota: QuotaOverride,
}

/// Checks a spec's name and partition list.
pub fn validate_spec(spec: &KeySpec) -> Result<(), String> {
    super::grant::validate_patterns(spec.role, &spec.partitions)?;
    spec.quota.validate()?;
    if let Some(name) = &spec.name {
        if name.len() > KEY_NAME_BYTES_MAX || name.chars().any(char::is_control) {
            return Err(format!(
                "name must be at most {KEY_NAME_BYTES_MAX} bytes without control characters"
            ));
        }
    }
    Ok(())
}

/// A new key for `spec` whose id `ring` does not hold yet: the record to
/// store and the key's text (to show once).
pub fn mint(ring: &KeyRing, spec: &KeySpec, now_ns: i64) -> Result<(KeyRecord, String), String> {
    validate_spec(spec)?;
    // 48-bit random ids collide rarely; a few tries make it never.
    for _ in 0..8 {
        let new = key::generate()?;
        if ring.contains(&new.id) {
            continue;
        }
        let mut created_at = String::new();
        crate::time::format_rfc3339_nanos(now_ns, &mut created_at);
        let record = KeyRecord {
            id: new.id,
            name: spec.name.clone(),
            role: spec.role,
            partitions: spec.partitions.clone(),
            created_at,
            salt: key::hex(&new.salt),
            hash: key::hex(&new.hash),
            quota: spec.quota,
        };
        return Ok((record, new.text));
    }
    Err("could not find an unused key id; retry".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(role: Role) -> KeySpec {
        KeySpec {
            role,
            partitions: Vec::new(),
            name: Some("test".into()),
            quota: QuotaOverride::default(),
        }
    }

    #[test]
    fn a_minted_key_verifies_and_a_revoked_one_does_not() {
        let ring = KeyRing::empty();
        let (record, text) = mint(&ring, &spec(Role::Ingest), 0).expect("mint");
        let ring = ring.with(record.clone()).expect("add");
        let presented = key::parse(&text).expect("shape");
        assert_eq!(&*ring.verify(&presented).expect("valid").key_id, record.id);
        let ring = ring.without(&record.id).expect("present");
        assert!(ring.verify(&presented).is_none());
    }

    #[test]
    fn the_file_round_trips_without_the_secret() {
        let ring = KeyRing::empty();
        let (record, text) = mint(&ring, &spec(Role::Admin), 0).expect("mint");
        let ring = ring.with(record).expect("add");
        let json = ring.to_json();
        let secret = key::parse(&text).expect("shape").secret.to_string();
        assert!(!String::from_utf8_lossy(&json).contains(&secret));
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(KEYS_FILE_NAME), &json).expect("write");
        let loaded = KeyRing::load(dir.path()).expect("load");
        assert!(loaded.verify(&key::parse(&text).expect("shape")).is_some());
    }

    #[test]
    fn a_damaged_file_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join(KEYS_FILE_NAME),
            b"{\"format\":1,\"keys\":[{",
        )
        .expect("w");
        let error = KeyRing::load(dir.path()).expect_err("damaged");
        assert!(error.contains("keys.json"), "{error}");
    }
}
