//! What a key may do: its role and the partitions it may touch.
//!
//! Roles are not a ladder: `ingest` writes, `query` reads, and only `admin`
//! does everything (both of the others, and administration). A query key
//! cannot write and an ingest key cannot read, so a shipper's stolen key
//! reveals nothing and a dashboard's cannot forge entries.
//!
//! Partitions are names or globs (`*` matches any run of characters,
//! `web-*`, `*-prod`); an empty list means every partition. Admin keys always
//! cover every partition.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ingest,
    Query,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "ingest" => Some(Role::Ingest),
            "query" => Some(Role::Query),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Query => "query",
            Role::Admin => "admin",
        }
    }

    /// Whether a key of this role may do what `needed` allows.
    pub fn covers(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

/// Patterns in one key's partition list at most; each pattern at most
/// `PATTERN_BYTES_MAX`. Bounds the work of one grant check.
pub const PATTERNS_MAX: usize = 64;
pub const PATTERN_BYTES_MAX: usize = 256;

/// Checks a key's partition list as an admin call sends it.
pub fn validate_patterns(role: Role, patterns: &[String]) -> Result<(), String> {
    if role == Role::Admin && !patterns.is_empty() {
        return Err("an admin key covers every partition; leave `partitions` out for it".into());
    }
    if patterns.len() > PATTERNS_MAX {
        return Err(format!(
            "a key may name at most {PATTERNS_MAX} partitions or patterns, not {}",
            patterns.len()
        ));
    }
    for pattern in patterns {
        let well_formed = !pattern.is_empty()
            && pattern.len() <= PATTERN_BYTES_MAX
            && !pattern.chars().any(char::is_control);
        if !well_formed {
            return Err(format!(
                "partition pattern {pattern:?} must be 1 to {PATTERN_BYTES_MAX} bytes without control characters"
            ));
        }
    }
    Ok(())
}

/// Whether `name` is covered by `patterns` (empty: every partition).
pub fn partition_allowed(patterns: &[String], name: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|pattern| glob_match(pattern, name))
}

/// `*` matches any run of characters (empty included); everything else
/// matches itself. Iterative with one backtrack point, so linear in
/// practice and never exponential.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_documented() {
        let cases = [
            ("web-*", "web-1", true),
            ("web-*", "web-", true),
            ("web-*", "api-1", false),
            ("*-prod", "db-prod", true),
            ("*-prod", "db-prod2", false),
            ("a*b*c", "a-b-b-c", true),
            ("a*b*c", "a-c-b", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*", "", true),
            ("**", "x", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(glob_match(pattern, name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn roles_are_not_a_ladder_except_admin() {
        assert!(Role::Admin.covers(Role::Ingest));
        assert!(Role::Admin.covers(Role::Query));
        assert!(!Role::Query.covers(Role::Ingest));
        assert!(!Role::Ingest.covers(Role::Query));
        assert!(!Role::Query.covers(Role::Admin));
    }

    #[test]
    fn an_empty_list_means_every_partition() {
        assert!(partition_allowed(&[], "anything"));
        assert!(!partition_allowed(&["a".into()], "b"));
    }

    #[test]
    fn admin_keys_take_no_partition_list() {
        assert!(validate_patterns(Role::Admin, &["x".into()]).is_err());
        assert!(validate_patterns(Role::Ingest, &["".into()]).is_err());
        assert!(validate_patterns(Role::Ingest, &["web-*".into()]).is_ok());
    }
}
