//! `[tls]`: HTTPS on the API port, optional client certificates (mTLS), and the roles that
//! verified client certificates are given.
//!
//! Every layer of the configuration reads this section through this module: the file layer
//! calls [`apply_file_section`], the environment layer [`apply_env`], the summary
//! [`summary_lines`] and validation [`validate`]. The files themselves (PEM certificates and
//! keys) are read and checked when the server starts (`http::tls::load`), not here: `timberdb
//! check` and a client subcommand must work without access to the private key, and a
//! reload on SIGHUP reads them again anyway.
//!
//! Invariant after [`validate`]: TLS is on exactly when both `cert_file` and `key_file` are
//! set; `client_auth` other than `off` has a `client_ca_file`; `client_roles` is only set
//! with client certificates on, and its keys are a certificate subject CN or a normalised
//! `sha256:<64 lower-case hex digits>` fingerprint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::{Table, Value};

use super::value::Parsed;
use super::{Config, ConfigError, Result};

/// How long a new connection may take to complete its TLS handshake by default. A client
/// that opens TCP and sends nothing holds a task and its buffers until then.
pub const HANDSHAKE_TIMEOUT_SECONDS_DEFAULT: u64 = 10;
/// Range of `tls.handshake_timeout` in seconds.
pub const HANDSHAKE_TIMEOUT_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 1..=300;
/// Entries in `[tls.client_roles]`; each is looked up on every handshake with a client
/// certificate (two map lookups), so the bound is about config size, not speed.
pub const CLIENT_ROLES_MAX: usize = 10_000;

/// `[tls]`: the API port's TLS settings. TLS is off unless both files are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file with the server's certificate chain, leaf first. Absolute after start-up.
    pub cert_file: Option<PathBuf>,
    /// PEM file with the private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM file with the CA certificates client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
    /// Whether clients must, may or cannot present a certificate.
    pub client_auth: ClientAuth,
    /// Longest a TLS handshake may take, from accept to its last message.
    pub handshake_timeout: Duration,
    /// Role of a verified client certificate, by `sha256:<hex>` fingerprint or subject CN.
    pub client_roles: BTreeMap<String, ClientRole>,
}

/// `tls.client_auth`: client certificates (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No certificate is asked for.
    #[default]
    Off,
    /// A certificate is asked for; a client without one is served, one with a certificate
    /// the CA did not sign is refused during the handshake.
    Optional,
    /// A client without a certificate signed by the CA is refused during the handshake.
    Required,
}

/// The role a verified client certificate is given (the auth layer's roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientRole {
    Ingest,
    Query,
    Admin,
}

impl ClientRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientRole::Ingest => "ingest",
            ClientRole::Query => "query",
            ClientRole::Admin => "admin",
        }
    }
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Off => "off",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        }
    }
}

impl TlsConfig {
    /// Whether the API port speaks HTTPS.
    pub fn is_enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }

    /// Makes the file paths absolute against `cwd` (those from a config file were already
    /// made relative to the file's directory), so a reload on SIGHUP reads the same files
    /// whatever the process's working directory is by then.
    pub fn make_paths_absolute(&mut self, cwd: &Path) {
        for path in [
            &mut self.cert_file,
            &mut self.key_file,
            &mut self.client_ca_file,
        ]
        .into_iter()
        .flatten()
        {
            *path = cwd.join(&*path).components().collect();
        }
    }
}

impl Default for TlsConfig {
    /// Off, with the default handshake timeout.
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            client_auth: ClientAuth::Off,
            handshake_timeout: Duration::from_secs(HANDSHAKE_TIMEOUT_SECONDS_DEFAULT),
            client_roles: BTreeMap::new(),
        }
    }
}

/// Environment variables of `[tls]`, each setting the key of the same name.
pub const ENV_VARIABLES: [&str; 6] = [
    "TIMBERDB_TLS_CERT_FILE",
    "TIMBERDB_TLS_KEY_FILE",
    "TIMBERDB_TLS_CLIENT_CA_FILE",
    "TIMBERDB_TLS_CLIENT_AUTH",
    "TIMBERDB_TLS_HANDSHAKE_TIMEOUT",
    "TIMBERDB_TLS_CLIENT_ROLES",
];

/// Applies one `[tls]` table read from the file at `path` (relative file names are relative
/// to the file's directory, as `[storage]` paths are).
pub fn apply_file_section(
    config: &mut Config,
    path: &Path,
    section: &Table,
) -> Result<Vec<String>> {
    let base = path.parent().unwrap_or(Path::new(""));
    let mut warnings = Vec::new();
    for (name, item) in section {
        let full = format!("tls.{name}");
        let invalid = |expected: String| ConfigError::Invalid {
            place: path.display().to_string(),
            key: full.clone(),
            value: item.to_string(),
            expected,
        };
        let file_path = |v: &Value| text(v, file_name).map(|p| Some(base.join(p)));
        let tls = &mut config.tls;
        match name.as_str() {
            "cert_file" => tls.cert_file = file_path(item).map_err(invalid)?,
            "key_file" => tls.key_file = file_path(item).map_err(invalid)?,
            "client_ca_file" => tls.client_ca_file = file_path(item).map_err(invalid)?,
            "client_auth" => tls.client_auth = text(item, client_auth).map_err(invalid)?,
            "handshake_timeout" => {
                tls.handshake_timeout = handshake_timeout(&item.to_string()).map_err(invalid)?
            }
            "client_roles" => tls.client_roles = roles_table(item).map_err(invalid)?,
            _ => warnings.push(format!(
                "ignoring unknown key {full} in {}: not implemented",
                path.display()
            )),
        }
    }
    Ok(warnings)
}

/// Applies the `TIMBERDB_TLS_*` variables that are set (empty counts as unset).
pub fn apply_env(config: &mut Config, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    for var in ENV_VARIABLES {
        let Some(value) = env(var).filter(|value| !value.is_empty()) else {
            continue;
        };
        let invalid = |expected: String| ConfigError::Invalid {
            place: "environment".to_string(),
            key: var.to_string(),
            value: format!("{value:?}"),
            expected,
        };
        let tls = &mut config.tls;
        match var {
            "TIMBERDB_TLS_CERT_FILE" => tls.cert_file = Some(file_name(&value).map_err(invalid)?),
            "TIMBERDB_TLS_KEY_FILE" => tls.key_file = Some(file_name(&value).map_err(invalid)?),
            "TIMBERDB_TLS_CLIENT_CA_FILE" => {
                tls.client_ca_file = Some(file_name(&value).map_err(invalid)?)
            }
            "TIMBERDB_TLS_CLIENT_AUTH" => tls.client_auth = client_auth(&value).map_err(invalid)?,
            "TIMBERDB_TLS_HANDSHAKE_TIMEOUT" => {
                tls.handshake_timeout = handshake_timeout(&value).map_err(invalid)?
            }
            _ => tls.client_roles = roles_list(&value).map_err(invalid)?,
        }
    }
    Ok(())
}

/// The relations between `[tls]` keys, checked once all layers are merged.
pub fn validate(tls: &TlsConfig) -> Result<()> {
    let conflict = |first: &str, second: &str, advice: &str| ConfigError::Conflict {
        place: "the configuration".to_string(),
        first: first.to_string(),
        second: second.to_string(),
        advice: advice.to_string(),
    };
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => return Err(missing("tls.key_file", "tls.cert_file is set")),
        (None, Some(_)) => return Err(missing("tls.cert_file", "tls.key_file is set")),
        _ => {}
    }
    let client_certs = tls.client_auth != ClientAuth::Off;
    if client_certs && !tls.is_enabled() {
        return Err(missing(
            "tls.cert_file and tls.key_file",
            "tls.client_auth asks for client certificates, which need TLS",
        ));
    }
    if client_certs && tls.client_ca_file.is_none() {
        return Err(missing(
            "tls.client_ca_file",
            "tls.client_auth is not \"off\" and client certificates are verified against it",
        ));
    }
    if !client_certs && tls.client_ca_file.is_some() {
        return Err(conflict(
            "tls.client_ca_file",
            "tls.client_auth = \"off\"",
            "set tls.client_auth to \"optional\" or \"required\" to verify client certificates, or remove tls.client_ca_file",
        ));
    }
    if !client_certs && !tls.client_roles.is_empty() {
        return Err(conflict(
            "tls.client_roles",
            "tls.client_auth = \"off\"",
            "roles are given to verified client certificates; set tls.client_auth to \"optional\" or \"required\"",
        ));
    }
    Ok(())
}

fn missing(key: &str, because: &str) -> ConfigError {
    ConfigError::Invalid {
        place: "the configuration".to_string(),
        key: key.to_string(),
        value: "(not set)".to_string(),
        expected: format!("must be set because {because}"),
    }
}

/// The summary's `tls.*` lines (never file contents; paths only).
pub fn summary_lines(tls: &TlsConfig) -> Vec<String> {
    let quoted = |path: &Path| Value::String(path.to_string_lossy().into_owned()).to_string();
    let mut lines = Vec::new();
    if !tls.is_enabled() {
        lines.push("# tls.cert_file not set: the API speaks plain HTTP".to_string());
    }
    for (key, path) in [
        ("tls.cert_file", &tls.cert_file),
        ("tls.key_file", &tls.key_file),
        ("tls.client_ca_file", &tls.client_ca_file),
    ] {
        if let Some(path) = path {
            lines.push(format!("{key} = {}", quoted(path)));
        }
    }
    lines.push(format!(
        "tls.client_auth = \"{}\"",
        tls.client_auth.as_str()
    ));
    lines.push(format!(
        "tls.handshake_timeout = {}",
        tls.handshake_timeout.as_secs()
    ));
    for (identity, role) in &tls.client_roles {
        let key = Value::String(identity.clone()).to_string();
        lines.push(format!("tls.client_roles.{key} = \"{}\"", role.as_str()));
    }
    lines
}

fn text<T>(item: &Value, parse: fn(&str) -> Parsed<T>) -> Parsed<T> {
    match item {
        Value::String(text) => parse(text),
        other => Err(format!(
            "expected a quoted string, not {}",
            other.type_str()
        )),
    }
}

fn file_name(text: &str) -> Parsed<PathBuf> {
    if text.trim().is_empty() {
        return Err("expected the path of a PEM file".to_string());
    }
    Ok(PathBuf::from(text))
}

fn client_auth(text: &str) -> Parsed<ClientAuth> {
    match text.to_ascii_lowercase().as_str() {
        "off" => Ok(ClientAuth::Off),
        "optional" => Ok(ClientAuth::Optional),
        "required" => Ok(ClientAuth::Required),
        _ => Err("expected \"off\", \"optional\" or \"required\"".to_string()),
    }
}

fn handshake_timeout(text: &str) -> Parsed<Duration> {
    let range = HANDSHAKE_TIMEOUT_SECONDS_RANGE;
    let expected = || {
        format!(
            "expected whole seconds between {} and {}",
            range.start(),
            range.end()
        )
    };
    let seconds: u64 = text.trim().parse().map_err(|_| expected())?;
    if !range.contains(&seconds) {
        return Err(expected());
    }
    Ok(Duration::from_secs(seconds))
}

fn role(text: &str) -> Parsed<ClientRole> {
    match text.to_ascii_lowercase().as_str() {
        "ingest" => Ok(ClientRole::Ingest),
        "query" => Ok(ClientRole::Query),
        "admin" => Ok(ClientRole::Admin),
        _ => Err(format!(
            "expected the role \"ingest\", \"query\" or \"admin\", not {text:?}"
        )),
    }
}

/// A `[tls.client_roles]` key: a `sha256:` fingerprint (hex, colons allowed, any case; stored
/// as 64 lower-case digits) or a subject CN (as written, at most 256 bytes, no control
/// characters).
pub fn client_identity_key(text: &str) -> Parsed<String> {
    let prefix = "sha256:";
    if text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix) {
        let hex: String = text[prefix.len()..]
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "expected sha256: followed by 64 hex digits (the SHA-256 of the certificate's DER, as `openssl x509 -noout -fingerprint -sha256` prints it), not {text:?}"
            ));
        }
        return Ok(format!("{prefix}{hex}"));
    }
    if text.is_empty() || text.len() > 256 || text.chars().any(char::is_control) {
        return Err(format!(
            "expected a certificate subject CN (1 to 256 bytes, no control characters) or sha256:<fingerprint>, not {text:?}"
        ));
    }
    Ok(text.to_string())
}

/// `[tls.client_roles]` as a TOML table: `"CN or sha256:..." = "role"`.
fn roles_table(item: &Value) -> Parsed<BTreeMap<String, ClientRole>> {
    let Value::Table(table) = item else {
        return Err(
            "expected a table [tls.client_roles] of \"CN or sha256:<fingerprint>\" = \"ingest\" | \"query\" | \"admin\"".to_string(),
        );
    };
    let pairs = table.iter().map(|(key, value)| match value {
        Value::String(name) => Ok((key.as_str(), name.as_str())),
        other => Err(format!(
            "the role of {key:?} must be a quoted string, not {}",
            other.type_str()
        )),
    });
    collect_roles(pairs)
}

/// The environment's form: `CN=role,sha256:...=role` (a CN containing `,` or `=` needs the
/// file form).
fn roles_list(text: &str) -> Parsed<BTreeMap<String, ClientRole>> {
    let pairs = text
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.rsplit_once('=')
                .map(|(key, value)| (key.trim(), value.trim()))
                .ok_or_else(|| {
                    format!("expected IDENTITY=ROLE pairs separated by commas, not {pair:?}")
                })
        });
    collect_roles(pairs)
}

fn collect_roles<'a>(
    pairs: impl Iterator<Item = Parsed<(&'a str, &'a str)>>,
) -> Parsed<BTreeMap<String, ClientRole>> {
    let mut roles = BTreeMap::new();
    for pair in pairs {
        let (key, name) = pair?;
        let identity = client_identity_key(key)?;
        if roles.insert(identity, role(name)?).is_some() {
            return Err(format!("{key:?} is given a role twice"));
        }
        if roles.len() > CLIENT_ROLES_MAX {
            return Err(format!("expected at most {CLIENT_ROLES_MAX} entries"));
        }
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_keys_are_normalised_fingerprints_or_common_names() {
        let colons = format!("SHA256:{}", ["AB"; 32].join(":"));
        assert_eq!(
            client_identity_key(&colons).unwrap(),
            format!("sha256:{}", "ab".repeat(32))
        );
        assert_eq!(client_identity_key("shipper-1").unwrap(), "shipper-1");
        assert!(client_identity_key("sha256:abcd").is_err());
        assert!(client_identity_key("").is_err());
        assert!(client_identity_key("bad\nname").is_err());
    }

    #[test]
    fn roles_list_reads_the_environment_form() {
        let roles = roles_list("shipper=ingest, grafana = query").unwrap();
        assert_eq!(roles["shipper"], ClientRole::Ingest);
        assert_eq!(roles["grafana"], ClientRole::Query);
        assert!(roles_list("shipper").is_err());
        assert!(roles_list("shipper=root").is_err());
        assert!(roles_list("a=ingest,a=admin").is_err());
    }

    fn load(text: Option<&str>, env: &[(&str, &str)]) -> Result<(Config, std::path::PathBuf)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("timberdb.toml");
        let mut args = vec!["timberdb".to_string()];
        if let Some(text) = text {
            std::fs::write(&path, text).expect("write config");
            args.extend(["--config".to_string(), path.display().to_string()]);
        }
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let loaded = super::super::load_from(args.into_iter().map(Into::into), &lookup)?;
        let config = loaded.command.config().expect("server command").clone();
        Ok((config, dir.path().to_path_buf()))
    }

    #[test]
    fn a_file_section_sets_every_key_with_paths_relative_to_the_file() {
        let text = "[tls]\ncert_file = \"tls/server.crt\"\nkey_file = \"/abs/server.key\"\nclient_ca_file = \"ca.crt\"\nclient_auth = \"Required\"\nhandshake_timeout = 3\n[tls.client_roles]\nshipper = \"ingest\"\n\"sha256:{}\" = \"admin\"\n";
        let text = text.replace("{}", &"AB".repeat(32));
        let (config, dir) = load(Some(&text), &[]).expect("valid");
        let tls = &config.tls;
        assert!(tls.is_enabled());
        assert_eq!(
            tls.cert_file.as_deref(),
            Some(dir.join("tls/server.crt").as_path())
        );
        assert_eq!(tls.key_file.as_deref(), Some(Path::new("/abs/server.key")));
        assert_eq!(tls.client_auth, ClientAuth::Required);
        assert_eq!(tls.handshake_timeout, Duration::from_secs(3));
        assert_eq!(tls.client_roles["shipper"], ClientRole::Ingest);
        let fingerprint = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(tls.client_roles[&fingerprint], ClientRole::Admin);
        // The start-up summary is a config file that loads back to the same settings.
        let (again, _) = load(Some(&config.to_toml_summary()), &[]).expect("summary loads");
        assert_eq!(again.tls, config.tls);
    }

    #[test]
    fn environment_variables_override_the_file() {
        let text = "[tls]\ncert_file = \"a.crt\"\nkey_file = \"a.key\"\n";
        let env = [
            ("TIMBERDB_TLS_CERT_FILE", "/env/b.crt"),
            ("TIMBERDB_TLS_CLIENT_AUTH", "optional"),
            ("TIMBERDB_TLS_CLIENT_CA_FILE", "/env/ca.crt"),
            ("TIMBERDB_TLS_CLIENT_ROLES", "grafana=query"),
            ("TIMBERDB_TLS_HANDSHAKE_TIMEOUT", "30"),
        ];
        let (config, _) = load(Some(text), &env).expect("valid");
        assert_eq!(
            config.tls.cert_file.as_deref(),
            Some(Path::new("/env/b.crt"))
        );
        assert_eq!(config.tls.client_auth, ClientAuth::Optional);
        assert_eq!(config.tls.client_roles["grafana"], ClientRole::Query);
        assert_eq!(config.tls.handshake_timeout, Duration::from_secs(30));
        let (plain, _) = load(None, &[]).expect("defaults");
        assert!(!plain.tls.is_enabled());
    }

    fn refused(text: &str, env: &[(&str, &str)]) -> String {
        match load(Some(text), env) {
            Ok((config, _)) => panic!("accepted {text:?}: {:?}", config.tls),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn inconsistent_or_malformed_settings_are_refused_by_name() {
        let both = "[tls]\ncert_file = \"a.crt\"\nkey_file = \"a.key\"\n";
        let cases: Vec<(String, &str)> = vec![
            ("[tls]\ncert_file = \"a.crt\"\n".into(), "tls.key_file"),
            ("[tls]\nkey_file = \"a.key\"\n".into(), "tls.cert_file"),
            (format!("{both}client_auth = \"required\"\n"), "tls.client_ca_file"),
            (format!("{both}client_ca_file = \"ca.crt\"\n"), "tls.client_auth"),
            (format!("{both}[tls.client_roles]\nx = \"admin\"\n"), "tls.client_roles"),
            (format!("{both}client_auth = \"maybe\"\n"), "\"off\", \"optional\" or \"required\""),
            (format!("{both}handshake_timeout = 0\n"), "tls.handshake_timeout"),
            (format!("{both}client_auth = \"optional\"\nclient_ca_file = \"c\"\n[tls.client_roles]\nx = \"root\"\n"), "\"ingest\", \"query\" or \"admin\""),
            (format!("{both}client_auth = \"optional\"\nclient_ca_file = \"c\"\nclient_roles = \"x\"\n"), "expected a table"),
            ("tls = 1\n".into(), "expected a table [tls]"),
            ("[tls]\nclient_auth = \"required\"\nclient_ca_file = \"c\"\n".into(), "need TLS"),
        ];
        for (text, expected) in cases {
            let message = refused(&text, &[]);
            assert!(message.contains(expected), "{text:?}: {message}");
        }
        let message = refused(both, &[("TIMBERDB_TLS_CLIENT_AUTH", "sometimes")]);
        assert!(message.contains("TIMBERDB_TLS_CLIENT_AUTH"), "{message}");
    }

    #[test]
    fn handshake_timeout_is_bounded() {
        assert_eq!(handshake_timeout("5").unwrap(), Duration::from_secs(5));
        assert!(handshake_timeout("0").is_err());
        assert!(handshake_timeout("301").is_err());
        assert!(handshake_timeout("soon").is_err());
    }
}
