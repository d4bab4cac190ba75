//! The audit log: one NDJSON line per administrative action and per
//! authentication failure, in `<data_dir>/audit/audit.log` (or
//! `audit.path`), rotated by size.
//!
//! A line: `{"time","event","key_id","remote","method","route","status"}`
//! plus `target` (the key, partition or snapshot acted on) when there is
//! one. Never the key: only its public id, and for a failure with a
//! well-formed key the id it claimed (`claimed_key_id`).
//!
//! Why a thread: the shards must never wait on a file. They hand events to
//! one `audit` thread over a bounded channel with `try_send`, which never
//! blocks; the thread writes each batch with one `write` and, when the batch
//! holds an administrative action, one `fdatasync` (admin rates are a few
//! per second at most). Floods are bounded twice:
//! - authentication failures may use only half of the channel
//!   (`AUDIT_QUEUE_MAX / 2`), so a flood cannot crowd out admin actions;
//!   past that they are dropped and counted (`timberdb_audit_events_dropped_total`);
//! - the thread writes at most `audit.auth_failures_per_second` failure
//!   lines a second; the rest are counted and summarised once a second in
//!   one `auth_failures_suppressed` line, so a flood cannot rotate the
//!   admin history away or fill the disk (which rotation bounds anyway at
//!   `(max_files + 1) x max_file_size`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// The audit log's directory in the data directory, and its file name.
pub const AUDIT_DIR_NAME: &str = "audit";
pub const AUDIT_FILE_NAME: &str = "audit.log";

/// Events queued for the audit thread at most (about 300 bytes each).
pub const AUDIT_QUEUE_MAX: usize = 8192;
/// Events the thread takes per write.
const BATCH_MAX: usize = 256;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// An administrative action (the route says which), whatever its status.
    Admin,
    /// A request refused with 401 or 403.
    AuthFailure,
}

/// One audit event, as a shard reports it.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub kind: EventKind,
    pub time_ns: i64,
    /// `key.create`, `partition.delete`, `auth.failure`...
    pub event: &'static str,
    /// The id of the key that made the request (never the key).
    pub key_id: Option<String>,
    /// For a refused well-formed key: the id it claims (unverified).
    pub claimed_key_id: Option<String>,
    pub remote: Option<std::net::SocketAddr>,
    pub method: String,
    /// The request's path (no query string: it may hold secrets).
    pub route: String,
    pub status: u16,
    /// The key, partition or snapshot acted on, when there is one.
    pub target: Option<String>,
    /// Why a request was refused (`no_key`, `malformed_key`, `invalid_key`,
    /// `forbidden`).
    pub reason: Option<&'static str>,
}

impl AuditEvent {
    fn to_line(&self) -> String {
        let mut time = String::new();
        crate::time::format_rfc3339_nanos(self.time_ns, &mut time);
        let mut object = Map::new();
        object.insert("time".into(), json!(time));
        object.insert("event".into(), json!(self.event));
        object.insert("key_id".into(), json!(self.key_id));
        if let Some(claimed) = &self.claimed_key_id {
            object.insert("claimed_key_id".into(), json!(claimed));
        }
        object.insert(
            "remote".into(),
            json!(self.remote.map(|addr| addr.to_string())),
        );
        object.insert("method".into(), json!(self.method));
        object.insert("route".into(), json!(self.route));
        object.insert("status".into(), json!(self.status));
        if let Some(target) = &self.target {
            object.insert("target".into(), json!(target));
        }
        if let Some(reason) = self.reason {
            object.insert("reason".into(), json!(reason));
        }
        let mut line = Value::Object(object).to_string();
        line.push('\n');
        line
    }
}

/// Where and how much to keep.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    pub path: PathBuf,
    pub max_file_bytes: u64,
    /// Rotated files kept besides the current one (`audit.log.1` ...).
    pub max_files: u32,
    pub auth_failures_per_second: u32,
}

/// The shards' handle on the audit thread; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: flume::Sender<AuditEvent>,
    dropped: Arc<AtomicU64>,
}

impl AuditLog {
    /// Opens the log (creating its directory) and starts the thread.
    pub fn start(settings: AuditSettings) -> Result<AuditLog, String> {
        let writer = RotatingFile::open(&settings)?;
        let (tx, rx) = flume::bounded(AUDIT_QUEUE_MAX);
        let dropped = Arc::new(AtomicU64::new(0));
        let limit = settings.auth_failures_per_second;
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || run(writer, rx, limit))
            .map_err(|error| format!("cannot start the audit thread: {error}"))?;
        Ok(AuditLog { tx, dropped })
    }

    /// Queues `event` without ever waiting; counts it when it cannot.
    pub fn record(&self, event: AuditEvent) {
        let room = match event.kind {
            EventKind::Admin => AUDIT_QUEUE_MAX,
            EventKind::AuthFailure => AUDIT_QUEUE_MAX / 2,
        };
        if self.tx.len() >= room || self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn run(mut file: RotatingFile, rx: flume::Receiver<AuditEvent>, failures_per_second: u32) {
    let mut limiter = FailureLimiter::new(failures_per_second);
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(event) => Some(event),
            Err(flume::RecvTimeoutError::Timeout) => None,
            Err(flume::RecvTimeoutError::Disconnected) => return,
        };
        let mut text = String::new();
        let mut has_admin = false;
        for event in first.into_iter().chain(rx.try_iter().take(BATCH_MAX)) {
            if event.kind == EventKind::AuthFailure && !limiter.admit() {
                continue;
            }
            has_admin |= event.kind == EventKind::Admin;
            text.push_str(&event.to_line());
        }
        if let Some(summary) = limiter.summary_due() {
            text.push_str(&summary);
        }
        if text.is_empty() {
            continue;
        }
        if let Err(error) = file.append(text.as_bytes(), has_admin) {
            tracing::error!(%error, path = %file.path.display(), "cannot write the audit log; audit lines are being lost");
        }
    }
}

/// At most `per_second` failure lines a second; counts the rest.
struct FailureLimiter {
    per_second: u32,
    window_start: Instant,
    admitted: u32,
    suppressed: u64,
}

impl FailureLimiter {
    fn new(per_second: u32) -> Self {
        FailureLimiter {
            per_second,
            window_start: Instant::now(),
            admitted: 0,
            suppressed: 0,
        }
    }

    fn roll(&mut self) {
        if self.window_start.elapsed() >= Duration::from_secs(1) {
            self.window_start = Instant::now();
            self.admitted = 0;
        }
    }

    fn admit(&mut self) -> bool {
        self.roll();
        if self.admitted < self.per_second {
            self.admitted += 1;
            return true;
        }
        self.suppressed += 1;
        false
    }

    /// Once a second, the line that counts what was not written.
    fn summary_due(&mut self) -> Option<String> {
        if self.suppressed == 0 || self.window_start.elapsed() < Duration::from_secs(1) {
            return None;
        }
        let mut time = String::new();
        crate::time::format_rfc3339_nanos(crate::shard::partitions::now_ns(), &mut time);
        let line = json!({
            "time": time,
            "event": "auth.failures_suppressed",
            "count": self.suppressed,
            "reason": "more authentication failures than audit.auth_failures_per_second",
        });
        self.suppressed = 0;
        self.roll();
        Some(format!("{line}\n"))
    }
}

/// `audit.log` and its rotated predecessors `audit.log.1` (newest) to
/// `audit.log.<max_files>` (oldest).
struct RotatingFile {
    path: PathBuf,
    file: File,
    bytes: u64,
    max_file_bytes: u64,
    max_files: u32,
}

impl RotatingFile {
    fn open(settings: &AuditSettings) -> Result<RotatingFile, String> {
        let path = settings.path.clone();
        let dir = path.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create audit directory {}: {error}", dir.display()))?;
        let mut file = open_append(&path)?;
        let mut bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        if ends_mid_line(&path, bytes) {
            // A crash cut the last line short: end it, so the next line
            // starts on a line of its own and stays whole.
            file.write_all(b"\n")
                .map_err(|error| format!("write: {error}"))?;
            bytes += 1;
        }
        Ok(RotatingFile {
            path,
            file,
            bytes,
            max_file_bytes: settings.max_file_bytes,
            max_files: settings.max_files,
        })
    }

    /// Appends whole lines. A batch is split at line ends and the file
    /// rotated before any piece that would take it past `max_file_bytes`,
    /// so no file outgrows the limit unless one line alone is larger (that
    /// line then gets a file of its own).
    fn append(&mut self, text: &[u8], sync: bool) -> Result<(), String> {
        let mut rest = text;
        while !rest.is_empty() {
            let room = self.max_file_bytes.saturating_sub(self.bytes) as usize;
            let mut piece = whole_lines_within(rest, room);
            if piece == 0 {
                if self.bytes > 0 {
                    self.rotate()?;
                    continue;
                }
                piece = rest
                    .iter()
                    .position(|&byte| byte == b'\n')
                    .map_or(rest.len(), |end| end + 1);
            }
            self.file
                .write_all(&rest[..piece])
                .map_err(|error| format!("write: {error}"))?;
            self.bytes += piece as u64;
            rest = &rest[piece..];
        }
        if sync {
            self.file
                .sync_data()
                .map_err(|error| format!("fdatasync: {error}"))?;
        }
        Ok(())
    }

    fn rotated(&self, index: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{index}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> Result<(), String> {
        let _ = self.file.sync_data();
        let _ = std::fs::remove_file(self.rotated(self.max_files));
        for index in (1..self.max_files).rev() {
            let _ = std::fs::rename(self.rotated(index), self.rotated(index + 1));
        }
        std::fs::rename(&self.path, self.rotated(1)).map_err(|error| format!("rotate: {error}"))?;
        self.file = open_append(&self.path)?;
        self.bytes = 0;
        if let Some(dir) = self.path.parent() {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }
}

/// Whether a log of `bytes` bytes ends without its final newline.
/// The length of the longest run of whole lines at the start of `text`
/// that fits in `room` bytes (0: not even the first line fits).
fn whole_lines_within(text: &[u8], room: usize) -> usize {
    if text.len() <= room {
        return text.len();
    }
    text[..room]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |end| end + 1)
}

fn ends_mid_line(path: &Path, bytes: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    if bytes == 0 {
        return false;
    }
    let mut last = [0u8; 1];
    File::open(path)
        .and_then(|mut file| {
            file.seek(SeekFrom::Start(bytes - 1))?;
            file.read_exact(&mut last)
        })
        .is_ok_and(|()| last[0] != b'\n')
}

fn open_append(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| format!("cannot open audit log {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> AuditEvent {
        AuditEvent {
            kind,
            time_ns: 0,
            event: "key.create",
            key_id: Some("0123456789ab".into()),
            claimed_key_id: None,
            remote: Some("127.0.0.1:9".parse().expect("addr")),
            method: "POST".into(),
            route: "/api/v1/admin/keys".into(),
            status: 201,
            target: Some("ba9876543210".into()),
            reason: None,
        }
    }

    #[test]
    fn a_line_is_one_json_object_with_the_fields() {
        let line = event(EventKind::Admin).to_line();
        assert!(line.ends_with('\n'));
        let value: Value = serde_json::from_str(line.trim_end()).expect("json");
        for field in [
            "time", "event", "key_id", "remote", "method", "route", "status",
        ] {
            assert!(value.get(field).is_some(), "{field} in {line}");
        }
    }

    #[test]
    fn files_rotate_by_size_and_keep_max_files() {
        let dir = tempfile::tempdir().expect("dir");
        let settings = AuditSettings {
            path: dir.path().join("audit.log"),
            max_file_bytes: 600,
            max_files: 2,
            auth_failures_per_second: 10,
        };
        let mut file = RotatingFile::open(&settings).expect("open");
        let line = event(EventKind::Admin).to_line();
        for _ in 0..20 {
            file.append(line.as_bytes(), false).expect("append");
        }
        for path in [settings.path.clone(), file.rotated(1), file.rotated(2)] {
            let size = std::fs::metadata(&path).expect("exists").len();
            assert!(size <= 600, "{} holds {size}", path.display());
        }
        assert!(!file.rotated(3).exists());
    }

    /// A line a crash cut short is ended at the next open, so the lines
    /// after it stay whole.
    #[test]
    fn a_batch_larger_than_a_file_is_split_at_line_ends() {
        let dir = tempfile::tempdir().expect("dir");
        let settings = AuditSettings {
            path: dir.path().join("audit.log"),
            max_file_bytes: 600,
            max_files: 3,
            auth_failures_per_second: 10,
        };
        let mut file = RotatingFile::open(&settings).expect("open");
        let line = event(EventKind::Admin).to_line();
        assert!(line.len() * 5 > 600 && line.len() < 600, "{line}");
        // One batch of five lines: more than two files' worth.
        file.append(line.repeat(5).as_bytes(), false)
            .expect("append");
        let mut lines = 0;
        for path in [settings.path.clone(), file.rotated(1), file.rotated(2)] {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(text.len() <= 600, "{} holds {}", path.display(), text.len());
            assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
            lines += text.lines().count();
        }
        assert_eq!(lines, 5, "no line lost or cut");
        // A line longer than a whole file still goes in, alone.
        let long = format!("{}\n", "x".repeat(700));
        file.append(long.as_bytes(), false).expect("append");
        assert_eq!(
            std::fs::read_to_string(&settings.path).expect("exists"),
            long
        );
    }

    #[test]
    fn a_torn_last_line_is_ended_before_new_lines() {
        let dir = tempfile::tempdir().expect("dir");
        let settings = AuditSettings {
            path: dir.path().join("audit.log"),
            max_file_bytes: 1 << 20,
            max_files: 2,
            auth_failures_per_second: 10,
        };
        let line = event(EventKind::Admin).to_line();
        std::fs::write(&settings.path, format!("{line}{}", &line[..20])).expect("torn log");
        let mut file = RotatingFile::open(&settings).expect("open");
        file.append(line.as_bytes(), false).expect("append");
        let text = std::fs::read_to_string(&settings.path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, [line.trim_end(), &line[..20], line.trim_end()]);
        // A whole log is left as it is.
        drop(file);
        let before = std::fs::read_to_string(&settings.path).expect("read");
        RotatingFile::open(&settings).expect("open again");
        assert_eq!(
            std::fs::read_to_string(&settings.path).expect("read"),
            before
        );
    }

    #[test]
    fn the_limiter_admits_its_rate_and_counts_the_rest() {
        let mut limiter = FailureLimiter::new(3);
        let admitted = (0..10).filter(|_| limiter.admit()).count();
        assert_eq!(admitted, 3);
        assert_eq!(limiter.suppressed, 7);
    }
}
