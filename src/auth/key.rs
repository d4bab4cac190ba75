//! API key text and its salted hash: `tdb_<id>_<secret>`.
//!
//! The id (12 lower-case hex digits, 48 random bits) is public: it names the
//! key's record in lists, audit lines and error messages. The secret (64 hex
//! digits, 256 random bits from the OS) is shown once, when the key is made,
//! and stored only as `SHA-256(salt || secret)` with a random 32-byte salt.
//!
//! Why SHA-256 and not a slow password hash (argon2, scrypt): slow hashes
//! exist to make guessing a *low-entropy* human password from a stolen hash
//! expensive. A 256-bit random secret cannot be guessed whatever the hash
//! costs, so a fast hash loses nothing, and it keeps the check on the ingest
//! path to about a microsecond instead of tens of milliseconds per request.
//!
//! Why the id is in the key: the server finds the one record by id (a hash
//! map lookup) and compares one hash, in constant time (`subtle`). An id
//! that is not known is compared against a dummy record, so an unknown id
//! costs the same as a wrong secret and timing tells an attacker nothing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every key starts with this, so a key pasted in the wrong place is
/// recognisable (and secret scanners can find it).
pub const KEY_PREFIX: &str = "tdb_";
/// Random bytes in an id (12 hex digits).
pub const ID_BYTES: usize = 6;
/// Random bytes in a secret (64 hex digits).
pub const SECRET_BYTES: usize = 32;
/// Random bytes of salt per key.
pub const SALT_BYTES: usize = 32;
/// Length of a whole key's text: prefix, id, `_`, secret.
pub const KEY_TEXT_BYTES: usize = KEY_PREFIX.len() + 2 * ID_BYTES + 1 + 2 * SECRET_BYTES;

const _: () = assert!(KEY_TEXT_BYTES == 81);

pub type Salt = [u8; SALT_BYTES];
pub type Digest256 = [u8; 32];

/// A key presented by a client, split into its public id and its secret.
/// Deliberately not `Debug`: the secret must never reach a log line.
pub struct PresentedKey<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

/// Splits `text` into id and secret when it has the key's shape; `None`
/// otherwise (the caller answers 401 without saying what was wrong with it).
pub fn parse(text: &str) -> Option<PresentedKey<'_>> {
    let rest = text.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let is_hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_hex(id, 2 * ID_BYTES) || !is_hex(secret, 2 * SECRET_BYTES) {
        return None;
    }
    Some(PresentedKey { id, secret })
}

/// A new key: its id, its whole text (shown once), its salt and hash.
pub struct NewKey {
    pub id: String,
    pub text: String,
    pub salt: Salt,
    pub hash: Digest256,
}

/// Makes a new key from the operating system's random source.
pub fn generate() -> Result<NewKey, String> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    let mut salt = [0u8; SALT_BYTES];
    for buffer in [&mut id[..], &mut secret[..], &mut salt[..]] {
        getrandom::getrandom(buffer)
            .map_err(|error| format!("the OS random source failed: {error}"))?;
    }
    let id = hex(&id);
    let secret = hex(&secret);
    let hash = hash_secret(&salt, &secret);
    Ok(NewKey {
        text: format!("{KEY_PREFIX}{id}_{secret}"),
        id,
        salt,
        hash,
    })
}

/// `SHA-256(salt || secret text)`.
pub fn hash_secret(salt: &Salt, secret: &str) -> Digest256 {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

/// Whether `secret` hashes to `expected` under `salt`, compared in constant
/// time (every byte is compared whatever the first difference).
pub fn verify(salt: &Salt, expected: &Digest256, secret: &str) -> bool {
    let actual = hash_secret(salt, secret);
    actual.ct_eq(expected).into()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[(byte >> 4) as usize] as char);
        text.push(DIGITS[(byte & 15) as usize] as char);
    }
    text
}

/// Decodes exactly `N` bytes of hex; `None` for anything else.
pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (index, pair) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[index] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_verifies() {
        let key = generate().expect("random");
        assert_eq!(key.text.len(), KEY_TEXT_BYTES);
        let presented = parse(&key.text).expect("shape");
        assert_eq!(presented.id, key.id);
        assert!(verify(&key.salt, &key.hash, presented.secret));
    }

    #[test]
    fn a_changed_secret_or_salt_does_not_verify() {
        let key = generate().expect("random");
        let presented = parse(&key.text).expect("shape");
        let mut wrong = presented.secret.to_string();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(wrong.len() - 1.., last);
        assert!(!verify(&key.salt, &key.hash, &wrong));
        let mut salt = key.salt;
        salt[0] ^= 1;
        assert!(!verify(&salt, &key.hash, presented.secret));
    }

    #[test]
    fn malformed_keys_are_refused() {
        let key = generate().expect("random");
        for bad in [
            "",
            "tdb_",
            &key.text[..key.text.len() - 1],
            &format!("{}0", key.text),
            &key.text.replace("tdb_", "tdc_"),
            "tdb_zzzzzzzzzzzz_00",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(unhex::<4>(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex::<4>("00"), None);
        assert_eq!(unhex::<1>("zz"), None);
    }
}
