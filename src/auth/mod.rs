//! auth/: "who is calling, may they do this, and who did what?"
//!
//! - [`key`]: the key text `tdb_<id>_<secret>`, its salted SHA-256 hash and
//!   the constant-time check;
//! - [`grant`]: roles (`ingest`, `query`, `admin`) and partition globs;
//! - [`keyring`]: the node's keys (`<data_dir>/keys.json`, hashes only),
//!   immutable rings shared by every shard;
//! - [`audit`]: the audit log thread and its size-based rotation;
//! - [`exposure`]: no open node beyond loopback;
//! - [`offline`]: `timberdb keys create --offline`, the first admin key of a
//!   stopped node.
//!
//! The HTTP side (which route needs which role, 401 and 403) is
//! `http::auth`; this folder holds no glommio, so the offline command and
//! tests use it directly.

pub mod audit;
pub mod exposure;
pub mod grant;
pub mod key;
pub mod keyring;
pub mod offline;

pub use grant::Role;
pub use keyring::{KeyRecord, KeyRing, KeySpec};

use std::sync::Arc;

/// Who is calling: a verified key (or a client certificate mapped to a
/// role). Cheap to clone (two reference counts): one is made per request.
/// Re-exported as `crate::http::auth::Principal`, the type another layer
/// (mTLS) may insert into a request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The key's public id (audit lines, errors); never the secret.
    pub key_id: Arc<str>,
    pub role: Role,
    /// Partition names or globs; empty: every partition.
    pub partitions: Arc<[String]>,
    /// The key's quota state, shared by every shard (`quota::meter`);
    /// `None` for a client certificate, which no quota limits.
    pub quota: Option<Arc<crate::quota::KeyQuota>>,
}
