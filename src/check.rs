//! `timberdb check`: can this machine run TimberDB, and if not, what to change.
//!
//! TimberDB runs one glommio executor per shard, and glommio needs io_uring, enough locked
//! memory for its rings, and O_DIRECT on the data directory's filesystem. When any of these is
//! missing the failure deep inside executor start-up is cryptic ("Operation not permitted"),
//! so this module probes each requirement directly with the same syscalls and turns the
//! result into a status plus a concrete fix. [`io_uring_preflight`] runs the two probes that
//! stop the server outright, so `serve` fails with one sentence instead of a panic.
//!
//! Probes have no lasting side effects: a missing directory is not created (its nearest
//! existing ancestor is probed instead), probe files are removed, and the one check of data
//! rather than machine ([`layout`]: does `layout.json` record the configured shard count, as
//! start-up demands?) only reads. Statuses:
//! Ok (fine), Warn (works, but durability or performance suffers), Fail (will not start or
//! will lose data).

use std::ffi::{CStr, CString};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::Config;

mod layout;
mod lock;

/// Oldest kernel whose io_uring has everything glommio uses (messages say "5.8").
pub const KERNEL_VERSION_MIN: (u32, u32) = (5, 8);
/// Kernels before this have known io_uring bugs (messages say "5.10").
pub const KERNEL_VERSION_RECOMMENDED: (u32, u32) = (5, 10);
/// glommio refuses to start an executor with less locked memory than this.
pub const MEMLOCK_BYTES_PER_SHARD: u64 = 512 * 1024;
/// Below this much free space a data or WAL directory gets a warning.
pub const FREE_SPACE_BYTES_WARN: u64 = 1 << 30;
/// Entries of the probe ring: the smallest useful ring, so the probe needs little memory.
const IO_URING_PROBE_ENTRIES: u32 = 4;
/// Size and alignment of the O_DIRECT probe write (the WAL's alignment).
const DIRECT_IO_PROBE_BYTES: usize = 4096;
const IO_URING_DISABLED_PATH: &str = "/proc/sys/kernel/io_uring_disabled";

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

/// One check: what was probed, what was found, and what to change when not Ok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    pub status: CheckStatus,
    pub found: String,
    pub fix: Option<String>,
}

impl CheckResult {
    fn ok(name: impl Into<String>, found: impl Into<String>) -> Self {
        Self::with(CheckStatus::Ok, name.into(), found.into(), None)
    }

    fn warn(name: impl Into<String>, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::with(
            CheckStatus::Warn,
            name.into(),
            found.into(),
            Some(fix.into()),
        )
    }

    fn fail(name: impl Into<String>, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::with(
            CheckStatus::Fail,
            name.into(),
            found.into(),
            Some(fix.into()),
        )
    }

    fn with(status: CheckStatus, name: String, found: String, fix: Option<String>) -> Self {
        CheckResult {
            name,
            status,
            found,
            fix,
        }
    }
}

/// All checks, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    /// Writes the report for a terminal. Write errors are ignored: the report is the last
    /// thing `check` does, and a closed stdout leaves nobody to tell.
    pub fn print(&self, out: &mut impl Write) {
        let _ = write!(out, "{self}");
        let _ = out.flush();
    }

    /// Whether any check failed (`timberdb check` then exits with status 1).
    pub fn has_failures(&self) -> bool {
        self.results
            .iter()
            .any(|result| result.status == CheckStatus::Fail)
    }

    fn push(&mut self, result: CheckResult) {
        self.results.push(result);
    }

    /// The result named `name`, if that check ran.
    pub fn get(&self, name: &str) -> Option<&CheckResult> {
        self.results.iter().find(|result| result.name == name)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counts = [0usize; 3];
        for result in &self.results {
            let (tag, index) = match result.status {
                CheckStatus::Ok => ("[ ok ]", 0),
                CheckStatus::Warn => ("[warn]", 1),
                CheckStatus::Fail => ("[FAIL]", 2),
            };
            counts[index] += 1;
            writeln!(f, "{tag} {}: {}", result.name, result.found)?;
            if let Some(fix) = &result.fix {
                writeln!(f, "       fix: {fix}")?;
            }
        }
        let [ok, warned, failed] = counts;
        writeln!(f, "{ok} ok, {warned} warnings, {failed} failed")
    }
}

/// Runs every check against `config` (whose `shard_count` is already resolved).
pub fn run_checks(config: &Config) -> CheckReport {
    let mut report = CheckReport::default();
    report.push(check_kernel());
    report.push(check_io_uring());
    report.push(check_memlock(config.shard_count));
    let storage = &config.storage;
    let data_device = check_directory(&mut report, "data_dir", &storage.data_dir, None);
    // What is inside data_dir is worth reading only once data_dir itself is usable.
    let data_dir_usable = report
        .get("data_dir writable")
        .is_some_and(|access| access.status != CheckStatus::Fail);
    if data_dir_usable {
        report.push(layout::check_layout(&storage.data_dir, config.shard_count));
        report.push(lock::check_lock("data_dir", &storage.data_dir));
    }
    if storage.wal_dir != storage.data_dir {
        check_directory(&mut report, "wal_dir", &storage.wal_dir, data_device);
        if storage.wal_dir.is_dir() {
            report.push(lock::check_lock("wal_dir", &storage.wal_dir));
        }
    }
    report
}

/// The checks without which no executor can start (io_uring, memlock), for `serve` to run
/// before starting executors. `Err` is one sentence: what is wrong and what to change.
pub fn io_uring_preflight(shard_count: usize) -> Result<(), String> {
    let uring = check_io_uring();
    if let (CheckStatus::Fail, Some(fix)) = (uring.status, &uring.fix) {
        let found = &uring.found;
        return Err(format!("TimberDB needs io_uring, but {found}; {fix}."));
    }
    let memlock = check_memlock(shard_count);
    if let (CheckStatus::Fail, Some(fix)) = (memlock.status, &memlock.fix) {
        let found = &memlock.found;
        return Err(format!(
            "TimberDB cannot start its executors: {found}; {fix}."
        ));
    }
    Ok(())
}

fn check_kernel() -> CheckResult {
    let upgrade = "upgrade to Linux 5.10 or newer";
    let Some(release) = kernel_release() else {
        return CheckResult::warn("kernel", "uname failed", upgrade);
    };
    let found = format!("Linux {release}");
    let (min, recommended) = (KERNEL_VERSION_MIN, KERNEL_VERSION_RECOMMENDED);
    match parse_kernel_version(&release) {
        Some(version) if version < min => {
            let found = format!("{found} is older than 5.8, the oldest io_uring glommio runs on");
            CheckResult::fail("kernel", found, upgrade)
        }
        Some(version) if version < recommended => {
            let found = format!("{found} has io_uring, but kernels before 5.10 have io_uring bugs");
            CheckResult::warn("kernel", found, upgrade)
        }
        Some(_) => CheckResult::ok("kernel", format!("{found} (io_uring needs >= 5.8)")),
        None => CheckResult::warn("kernel", format!("cannot parse {found}"), upgrade),
    }
}

fn kernel_release() -> Option<String> {
    // SAFETY: utsname is plain bytes; all-zero is a valid value.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is a valid, writable utsname.
    if unsafe { libc::uname(&mut name) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates each field within its array.
    let release = unsafe { CStr::from_ptr(name.release.as_ptr()) };
    Some(release.to_string_lossy().into_owned())
}

/// `"6.8.0-1010-aws"` → `(6, 8)`.
fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// `struct io_uring_params` from `<linux/io_uring.h>`: 120 bytes, filled in by the kernel.
#[repr(C, align(8))]
#[derive(Default)]
struct IoUringParams {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: [u32; 10],
    cq_off: [u32; 10],
}

const _: () = assert!(std::mem::size_of::<IoUringParams>() == 120);

/// Sets up and closes a tiny ring. `Ok(features)` or `Err(errno)`.
fn probe_io_uring() -> Result<u32, i32> {
    let mut params = IoUringParams::default();
    // SAFETY: io_uring_setup reads and writes exactly one io_uring_params, which `params` is.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            libc::c_long::from(IO_URING_PROBE_ENTRIES),
            &mut params as *mut IoUringParams,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `fd` is a ring descriptor this function just created and nothing else owns.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(params.features)
}

/// `kernel.io_uring_disabled`: 0 enabled, 1 restricted to privileged users, 2 disabled.
fn io_uring_disabled() -> Option<u32> {
    fs::read_to_string(IO_URING_DISABLED_PATH)
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn check_io_uring() -> CheckResult {
    let disabled = io_uring_disabled();
    let sysctl = disabled.map_or(String::new(), |v| {
        format!(", kernel.io_uring_disabled = {v}")
    });
    match probe_io_uring() {
        Ok(features) => CheckResult::ok(
            "io_uring",
            format!("io_uring_setup works (features 0x{features:x}{sysctl})"),
        ),
        Err(errno) => {
            let (cause, fix) = io_uring_refusal(errno, disabled);
            let found = format!(
                "this kernel refused io_uring_setup ({}): {cause}",
                errno_name(errno)
            );
            CheckResult::fail("io_uring", found, fix)
        }
    }
}

/// Why io_uring_setup failed with `errno`, and what to change.
fn io_uring_refusal(errno: i32, disabled: Option<u32>) -> (&'static str, &'static str) {
    match (errno, disabled) {
        (libc::ENOSYS, _) => (
            "the kernel has no io_uring",
            "run on Linux 5.10 or newer built with CONFIG_IO_URING=y (gVisor and some \
             sandboxes do not provide io_uring)",
        ),
        (libc::EPERM, Some(2)) => (
            "io_uring is disabled by kernel.io_uring_disabled=2",
            "run `sysctl kernel.io_uring_disabled=0` or start TimberDB outside the seccomp \
             sandbox",
        ),
        (libc::EPERM, Some(1)) => (
            "kernel.io_uring_disabled=1 allows io_uring only to privileged processes and the \
             group in kernel.io_uring_group",
            "run `sysctl kernel.io_uring_disabled=0`, or add the TimberDB user to the group \
             named by kernel.io_uring_group",
        ),
        (libc::EPERM, _) => (
            "a seccomp profile (e.g. Docker's default) or a security module blocks io_uring",
            "set kernel.io_uring_disabled=0 and run with a seccomp profile that allows \
             io_uring_setup, io_uring_enter and io_uring_register (docker: --security-opt \
             seccomp=<profile>)",
        ),
        (libc::ENOMEM, _) => (
            "not enough locked memory for the ring (RLIMIT_MEMLOCK)",
            "raise the locked-memory limit (`ulimit -l unlimited`, systemd \
             `LimitMEMLOCK=infinity`, `docker run --ulimit memlock=-1:-1`)",
        ),
        _ => (
            "unexpected error",
            "check `dmesg` and the kernel's io_uring configuration",
        ),
    }
}

fn errno_name(errno: i32) -> String {
    let known = [
        (libc::ENOSYS, "ENOSYS"),
        (libc::EPERM, "EPERM"),
        (libc::EACCES, "EACCES"),
        (libc::ENOMEM, "ENOMEM"),
        (libc::EINVAL, "EINVAL"),
    ];
    let name = known.iter().find(|(number, _)| *number == errno);
    name.map_or_else(|| format!("errno {errno}"), |(_, name)| (*name).to_string())
}

/// Soft RLIMIT_MEMLOCK in bytes; `None` when unlimited.
fn memlock_limit() -> io::Result<Option<u64>> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur))
}

fn check_memlock(shard_count: usize) -> CheckResult {
    let shards = shard_count.max(1) as u64;
    let required = shards.saturating_mul(MEMLOCK_BYTES_PER_SHARD);
    let need = format!(
        "{shards} shards need {} KiB ({} KiB per glommio executor)",
        required / 1024,
        MEMLOCK_BYTES_PER_SHARD / 1024
    );
    let limit = match memlock_limit() {
        Ok(Some(limit)) => limit,
        Ok(None) => return CheckResult::ok("memlock", format!("unlimited; {need}")),
        Err(err) => return CheckResult::warn("memlock", err.to_string(), "check `ulimit -l`"),
    };
    let found = format!("RLIMIT_MEMLOCK is {} KiB; {need}", limit / 1024);
    if limit >= required {
        return CheckResult::ok("memlock", found);
    }
    let kib = required.div_ceil(1024);
    CheckResult::fail(
        "memlock",
        format!("the locked-memory limit is too low: {found}"),
        format!(
            "raise it to at least {kib} KiB: `ulimit -l {kib}` in the shell that starts \
             TimberDB, `LimitMEMLOCK={required}` (or infinity) in its systemd unit, \
             `timberdb - memlock {kib}` in /etc/security/limits.conf, or `docker run --ulimit \
             memlock=-1:-1`; or use fewer shards"
        ),
    )
}

/// Checks one directory; pushes its results and returns the device it lives on. When the
/// device equals `same_device_as`, the filesystem checks already ran and are not repeated.
fn check_directory(
    report: &mut CheckReport,
    label: &str,
    dir: &Path,
    same_device_as: Option<u64>,
) -> Option<u64> {
    let (probe_dir, access) = directory_access(label, dir);
    let usable = access.status != CheckStatus::Fail;
    report.push(access);
    if !usable {
        return None;
    }
    let device = fs::metadata(&probe_dir).ok().map(|meta| meta.dev());
    if device.is_some() && device == same_device_as {
        let found = "on the same filesystem as data_dir (checked above)";
        report.push(CheckResult::ok(format!("{label} filesystem"), found));
        return device;
    }
    let filesystem = filesystem_type(&probe_dir);
    report.push(check_filesystem(label, filesystem));
    report.push(check_free_space(label, &probe_dir));
    report.push(check_direct_io(label, &probe_dir, filesystem));
    device
}

/// Whether `dir` exists (or can be created) and is writable. Returns the directory to probe
/// further: `dir` itself, or its nearest existing ancestor when `dir` does not exist yet.
fn directory_access(label: &str, dir: &Path) -> (PathBuf, CheckResult) {
    let name = format!("{label} writable");
    let shown = dir.display();
    let probe_dir = nearest_existing(dir);
    if !probe_dir.is_dir() {
        let found = format!("{} exists but is not a directory", probe_dir.display());
        let fix = format!("point {label} at a directory, or remove the file");
        return (probe_dir, CheckResult::fail(name, found, fix));
    }
    let probe = probe_dir.join(format!(".timberdb-check-{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut file| file.write_all(b"timberdb check\n"));
    let _ = fs::remove_file(&probe);
    let found = match (&written, probe_dir == dir) {
        (Ok(()), true) => format!("{shown} exists and is writable"),
        (Ok(()), false) => format!(
            "{shown} does not exist yet; it will be created in {} (writable)",
            probe_dir.display()
        ),
        (Err(err), _) => {
            let found = format!("cannot create a file in {}: {err}", probe_dir.display());
            // SAFETY: geteuid has no preconditions and cannot fail.
            let uid = unsafe { libc::geteuid() };
            let fix = format!(
                "make {} writable by the user running TimberDB (uid {uid}), e.g. with chown, \
                 or set {label} to a writable directory",
                probe_dir.display()
            );
            return (probe_dir, CheckResult::fail(name, found, fix));
        }
    };
    (probe_dir, CheckResult::ok(name, found))
}

/// `dir` if it exists, else its closest existing ancestor (`.` for a relative path).
fn nearest_existing(dir: &Path) -> PathBuf {
    let existing = dir.ancestors().find(|path| path.exists());
    existing.map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Filesystems worth naming: (statfs f_type magic, name).
const FILESYSTEMS: [(u64, &str); 13] = [
    (0xEF53, "ext4"),
    (0x5846_5342, "xfs"),
    (0x9123_683E, "btrfs"),
    (0x2FC1_2FC1, "zfs"),
    (0xF2F5_2010, "f2fs"),
    (0x0102_1994, "tmpfs"),
    (0x8584_58F6, "ramfs"),
    (0x794C_7630, "overlayfs"),
    (0x6969, "nfs"),
    (0xFF53_4D42, "cifs"),
    (0xFE53_4D42, "smb2"),
    (0x0102_1997, "9p"),
    (0x6573_5546, "fuse"),
];

/// What the filesystem of a directory is, as far as durability is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Filesystem {
    magic: u64,
    name: Option<&'static str>,
}

impl Filesystem {
    fn describe(&self) -> String {
        match self.name {
            Some(name) => name.to_string(),
            None => format!("an unrecognised filesystem (magic 0x{:x})", self.magic),
        }
    }

    fn is_memory(&self) -> bool {
        matches!(self.name, Some("tmpfs" | "ramfs"))
    }
}

fn filesystem_type(dir: &Path) -> Option<Filesystem> {
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs is plain data; all-zero is a valid value.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stats` is writable.
    if unsafe { libc::statfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    // f_type is signed on some targets; magic numbers are 32-bit.
    let magic = (stats.f_type as u64) & 0xFFFF_FFFF;
    let name = FILESYSTEMS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name);
    Some(Filesystem { magic, name })
}

fn check_filesystem(label: &str, filesystem: Option<Filesystem>) -> CheckResult {
    let name = format!("{label} filesystem");
    let Some(filesystem) = filesystem else {
        let fix = "check that the directory is readable";
        return CheckResult::warn(name, "statfs failed", fix);
    };
    let found = filesystem.describe();
    let Some(caveat) = filesystem.name.and_then(filesystem_caveat) else {
        return CheckResult::ok(name, found);
    };
    let fix = if filesystem.name == Some("overlayfs") {
        format!("mount a volume for {label} (e.g. docker run -v /host/dir:/data)")
    } else {
        format!("put {label} on a local disk filesystem such as ext4 or xfs")
    };
    CheckResult::warn(name, format!("{found}: {caveat}"), fix)
}

/// Why a filesystem is a poor home for TimberDB's data, if it is.
fn filesystem_caveat(name: &str) -> Option<&'static str> {
    match name {
        "tmpfs" | "ramfs" => Some(
            "memory-backed, so data does not survive a reboot, and O_DIRECT falls back to \
             buffered I/O",
        ),
        "overlayfs" => Some("a container's writable layer: slow, and lost with the container"),
        "nfs" | "cifs" | "smb2" | "9p" | "fuse" => Some(
            "a network or user-space filesystem, whose fsync and O_DIRECT guarantees are \
             unreliable",
        ),
        _ => None,
    }
}

fn check_free_space(label: &str, dir: &Path) -> CheckResult {
    let name = format!("{label} free space");
    let Some(free) = free_bytes(dir) else {
        return CheckResult::warn(
            name,
            "statvfs failed",
            "check that the directory is readable",
        );
    };
    let found = format!("{} MiB available", free / (1 << 20));
    if free < FREE_SPACE_BYTES_WARN {
        let fix = format!("free space or move {label}; writes fail with ENOSPC when it runs out");
        return CheckResult::warn(name, format!("only {found} (under 1 GiB)"), fix);
    }
    CheckResult::ok(name, found)
}

/// Bytes available to unprivileged users on the filesystem of `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain data; all-zero is a valid value.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stats` is writable.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    // The field types differ between targets (u32 on some 32-bit ones), hence the casts.
    #[allow(clippy::unnecessary_cast)]
    let (blocks, block_bytes) = (stats.f_bavail as u64, stats.f_frsize as u64);
    Some(blocks.saturating_mul(block_bytes))
}

/// Which step of the O_DIRECT probe failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DirectIoStep {
    Open,
    Write,
    Sync,
}

/// Creates a file with O_DIRECT, writes one aligned block, fdatasyncs, removes it.
fn probe_direct_io(dir: &Path) -> Result<(), (DirectIoStep, io::Error)> {
    // An aligned block inside a buffer twice its size: O_DIRECT needs the memory aligned.
    let buffer = vec![0u8; 2 * DIRECT_IO_PROBE_BYTES];
    let offset = buffer.as_ptr().align_offset(DIRECT_IO_PROBE_BYTES);
    let block = buffer
        .get(offset..offset.saturating_add(DIRECT_IO_PROBE_BYTES))
        .ok_or_else(|| {
            (
                DirectIoStep::Write,
                io::Error::other("cannot align probe buffer"),
            )
        })?;
    let path = dir.join(format!(".timberdb-odirect-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .map_err(|err| (DirectIoStep::Open, err))?;
    let result = file
        .write_all(block)
        .map_err(|err| (DirectIoStep::Write, err))
        .and_then(|()| file.sync_data().map_err(|err| (DirectIoStep::Sync, err)));
    drop(file);
    let _ = fs::remove_file(&path);
    result
}

fn check_direct_io(label: &str, dir: &Path, filesystem: Option<Filesystem>) -> CheckResult {
    let name = format!("{label} O_DIRECT");
    let fs_name = filesystem.map_or("this filesystem".to_string(), |fs| fs.describe());
    let outcome = probe_direct_io(dir);
    let unsupported = matches!(
        &outcome,
        Err((DirectIoStep::Open, err)) if err.raw_os_error() == Some(libc::EINVAL)
    );
    if filesystem.is_some_and(|fs| fs.is_memory()) && (outcome.is_ok() || unsupported) {
        let verb = if unsupported { "rejects" } else { "accepts" };
        let found = format!(
            "{fs_name} {verb} O_DIRECT, but glommio uses buffered I/O on tmpfs and nothing \
             written survives a reboot"
        );
        let fix = format!("put {label} on ext4 or xfs for durable, direct I/O");
        return CheckResult::warn(name, found, fix);
    }
    match outcome {
        Ok(()) => {
            let found = format!("{DIRECT_IO_PROBE_BYTES}-byte write and fdatasync succeeded");
            CheckResult::ok(name, found)
        }
        Err(_) if unsupported => {
            let found = format!("{fs_name} does not support O_DIRECT (open returned EINVAL)");
            CheckResult::fail(name, found, format!("put {label} on ext4, xfs or btrfs"))
        }
        Err((step, err)) => {
            let found = format!("probe failed at {step:?} in {}: {err}", dir.display());
            let fix = format!("put {label} on a local ext4 or xfs filesystem; see `dmesg`");
            CheckResult::fail(name, found, fix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StorageConfig;

    fn config_with_data_dir(dir: &Path) -> Config {
        let defaults = Config::default();
        let (data_dir, wal_dir) = (dir.to_path_buf(), dir.join("wal"));
        let storage = StorageConfig {
            data_dir,
            wal_dir,
            ..defaults.storage.clone()
        };
        Config {
            shard_count: 2,
            storage,
            ..defaults
        }
    }

    fn status_of(report: &CheckReport, name: &str) -> CheckStatus {
        report
            .get(name)
            .map(|r| r.status)
            .unwrap_or_else(|| panic!("no {name}: {report}"))
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.8.0-1010-aws"), Some((6, 8)));
        assert_eq!(parse_kernel_version("5.10.226"), Some((5, 10)));
        assert!(parse_kernel_version("4.19").expect("parses") < KERNEL_VERSION_MIN);
        assert_eq!(parse_kernel_version("garbage"), None);
    }

    #[test]
    fn report_has_every_check_and_data_dir_is_writable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let report = run_checks(&config_with_data_dir(dir.path()));
        for name in ["kernel", "io_uring", "memlock", "data_dir filesystem"] {
            status_of(&report, name);
        }
        for name in [
            "data_dir free space",
            "data_dir O_DIRECT",
            "data_dir layout",
            "wal_dir filesystem",
        ] {
            status_of(&report, name);
        }
        assert_eq!(status_of(&report, "data_dir writable"), CheckStatus::Ok);
        // wal_dir does not exist yet: probed through data_dir, on the same filesystem.
        let wal = report.get("wal_dir writable").expect("wal_dir checked");
        assert!(wal.found.contains("does not exist yet"), "{}", wal.found);
        for result in &report.results {
            assert_eq!(
                result.fix.is_some(),
                result.status != CheckStatus::Ok,
                "{result:?}"
            );
        }
        assert_eq!(
            fs::read_dir(dir.path()).expect("read_dir").count(),
            0,
            "left files"
        );
        let mut printed = Vec::new();
        report.print(&mut printed);
        let printed = String::from_utf8(printed).expect("utf-8");
        assert!(printed.contains("data_dir writable: "), "{printed}");
        assert!(printed.trim_end().ends_with("failed"), "{printed}");
    }

    #[test]
    fn data_dir_that_is_a_file_fails_and_skips_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").expect("write");
        let report = run_checks(&config_with_data_dir(&file));
        let access = report.get("data_dir writable").expect("ran");
        assert_eq!(access.status, CheckStatus::Fail);
        assert!(access.found.contains("not a directory"), "{}", access.found);
        assert!(report.has_failures());
        for name in ["data_dir O_DIRECT", "data_dir layout"] {
            assert!(
                report.get(name).is_none(),
                "later checks are skipped: {name}"
            );
        }
    }

    #[test]
    fn direct_io_on_tmpfs_warns() {
        let shm = Path::new("/dev/shm");
        if filesystem_type(shm).and_then(|fs| fs.name) != Some("tmpfs") {
            eprintln!("skipping: /dev/shm is not tmpfs here");
            return;
        }
        let dir = tempfile::tempdir_in(shm).expect("tempdir in /dev/shm");
        let report = run_checks(&config_with_data_dir(dir.path()));
        assert_eq!(status_of(&report, "data_dir filesystem"), CheckStatus::Warn);
        let direct = report.get("data_dir O_DIRECT").expect("ran");
        assert_eq!(direct.status, CheckStatus::Warn, "{direct:?}");
        assert!(direct.found.contains("tmpfs"), "{}", direct.found);
    }

    #[test]
    fn filesystems_are_named_and_judged() {
        let judge = |magic| {
            let name = FILESYSTEMS
                .iter()
                .find(|(m, _)| *m == magic)
                .map(|(_, n)| *n);
            let result = check_filesystem("data_dir", Some(Filesystem { magic, name }));
            (name, result.status)
        };
        assert_eq!(judge(0xEF53), (Some("ext4"), CheckStatus::Ok));
        assert_eq!(judge(0x5846_5342), (Some("xfs"), CheckStatus::Ok));
        assert_eq!(judge(0x0102_1994), (Some("tmpfs"), CheckStatus::Warn));
        assert_eq!(judge(0x794C_7630), (Some("overlayfs"), CheckStatus::Warn));
        assert_eq!(judge(0x1234), (None, CheckStatus::Ok));
    }

    #[test]
    fn io_uring_refusals_explain_the_fix() {
        let (cause, fix) = io_uring_refusal(libc::EPERM, Some(2));
        assert!(cause.contains("io_uring_disabled=2") && fix.contains("sysctl"));
        let (cause, fix) = io_uring_refusal(libc::EPERM, Some(0));
        assert!(cause.contains("seccomp") && fix.contains("io_uring_setup"));
        assert!(io_uring_refusal(libc::ENOSYS, None)
            .0
            .contains("no io_uring"));
        assert!(io_uring_refusal(libc::ENOMEM, None).1.contains("ulimit -l"));
        assert_eq!(errno_name(libc::EPERM), "EPERM");
    }

    #[test]
    fn memlock_requirement_scales_with_shards() {
        let result = check_memlock(4);
        assert!(
            result.found.contains("4 shards need 2048 KiB"),
            "{}",
            result.found
        );
        if let Err(sentence) = io_uring_preflight(4) {
            assert!(
                sentence.starts_with("TimberDB") && sentence.ends_with('.'),
                "{sentence}"
            );
        }
    }
}
