//! How big is the filesystem under a directory, how much of it is free, and
//! how much may a shard preallocate on it?
//!
//! Preallocation is an optimisation (an fdatasync that commits no file-size
//! change), never a requirement: sizes here are fractions of the
//! filesystem, with a floor, so a small disk (a 96 MiB volume, a container's
//! scratch space) still starts with every shard's WAL segment on it. The
//! fractions are chosen so that at the start every shard's first WAL
//! segment together takes at most an eighth of the filesystem, leaving the
//! rest to blocks, the manifest and the WAL's growth. The sizing functions
//! are pure, so they are tested without a filesystem.

use std::path::Path;

/// Smallest WAL segment the sizing picks: the least `storage.wal_segment_size`
/// accepts (a smaller one holds too little of a request).
pub const WAL_SEGMENT_BYTES_FLOOR: u64 = 1 << 20;
/// The WAL segments of all shards, one each, take at most
/// `1 / WAL_SEGMENT_FRACTION_DIVISOR` of the filesystem.
pub const WAL_SEGMENT_FRACTION_DIVISOR: u64 = 8;
/// The WAL of all shards (closed segments before quiet slices are sealed
/// early) takes at most `1 / WAL_SIZE_FRACTION_DIVISOR` of the filesystem.
pub const WAL_SIZE_FRACTION_DIVISOR: u64 = 4;
/// One preallocation step of a segment file or manifest takes at most
/// `1 / PREALLOCATION_STEP_FRACTION_DIVISOR` of the filesystem.
pub const PREALLOCATION_STEP_FRACTION_DIVISOR: u64 = 32;
/// Free bytes below which a filesystem counts as full for readiness: less
/// than one page per shard is left for the WAL to grow into.
pub const FREE_BYTES_LOW: u64 = 1 << 20;

const PAGE_BYTES: u64 = 4096;

/// Size and free space of one filesystem, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilesystemSpace {
    /// Bytes of the filesystem's data area (`f_blocks * f_frsize`).
    pub total_bytes: u64,
    /// Bytes an unprivileged writer may still allocate (`f_bavail *
    /// f_frsize`). Root may also use ext4's reserved blocks, so this errs on
    /// the low side for it; `f_bfree` would err high, counting clusters ext4
    /// keeps for itself that nobody can fill (2 MiB of a full 96 MiB disk).
    pub free_bytes: u64,
}

/// `statvfs(2)` of the filesystem holding `path`.
// The casts are no-ops on 64-bit Linux, not on every target libc supports.
#[allow(clippy::unnecessary_cast)]
pub fn filesystem_space(path: &Path) -> std::io::Result<FilesystemSpace> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a valid NUL-terminated string and `stat` points to
    // writable memory of the right type, which statvfs fills on success.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised the struct.
    let stat = unsafe { stat.assume_init() };
    let fragment = stat.f_frsize as u64;
    Ok(FilesystemSpace {
        total_bytes: (stat.f_blocks as u64).saturating_mul(fragment),
        free_bytes: (stat.f_bavail as u64).saturating_mul(fragment),
    })
}

/// The WAL segment size to use: the configured one, or less on a
/// filesystem too small for every shard's segment (see the module docs),
/// never below `WAL_SEGMENT_BYTES_FLOOR` nor above the configured size.
pub fn wal_segment_bytes_for(configured_bytes: u64, fs_total_bytes: u64, shards: u64) -> u64 {
    let share = fs_total_bytes / (WAL_SEGMENT_FRACTION_DIVISOR * shards.max(1));
    fit(configured_bytes, share, WAL_SEGMENT_BYTES_FLOOR)
}

/// The WAL size bound to use: the configured one, or less on a small
/// filesystem, but always at least two segments (one written, one retired).
pub fn wal_size_max_bytes_for(
    configured_bytes: u64,
    segment_bytes: u64,
    fs_total_bytes: u64,
    shards: u64,
) -> u64 {
    let share = fs_total_bytes / (WAL_SIZE_FRACTION_DIVISOR * shards.max(1));
    fit(configured_bytes, share, 2 * segment_bytes)
}

/// The largest preallocation step for a file on a filesystem of
/// `fs_total_bytes`: `step_max`, or less on a small filesystem, never
/// below `step_min`.
pub fn preallocation_step_max_for(step_min: u64, step_max: u64, fs_total_bytes: u64) -> u64 {
    fit(
        step_max,
        fs_total_bytes / PREALLOCATION_STEP_FRACTION_DIVISOR,
        step_min,
    )
}

/// `wanted`, capped at `share` rounded down to a page, but at least `floor`
/// (itself capped at `wanted`).
fn fit(wanted: u64, share: u64, floor: u64) -> u64 {
    let share = share / PAGE_BYTES * PAGE_BYTES;
    wanted.min(share).max(floor.min(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_large_disk_keeps_the_configured_sizes() {
        let tib = 1 << 40;
        assert_eq!(wal_segment_bytes_for(64 * MIB, tib, 16), 64 * MIB);
        assert_eq!(
            wal_size_max_bytes_for(1024 * MIB, 64 * MIB, tib, 16),
            1024 * MIB
        );
        assert_eq!(preallocation_step_max_for(MIB, 64 * MIB, tib), 64 * MIB);
    }

    #[test]
    fn a_96_mib_disk_gets_segments_that_fit_every_shard() {
        // What ext4 reports for a 96 MiB image.
        let total = 88_566_784;
        let segment = wal_segment_bytes_for(64 * MIB, total, 2);
        assert!(segment * 2 <= total / 8, "{segment}");
        assert!(segment >= WAL_SEGMENT_BYTES_FLOOR);
        assert_eq!(segment % PAGE_BYTES, 0);
        let wal_max = wal_size_max_bytes_for(1024 * MIB, segment, total, 2);
        assert!(wal_max >= 2 * segment && wal_max * 2 <= total / 2);
        let step = preallocation_step_max_for(MIB, 64 * MIB, total);
        assert!((MIB..=4 * MIB).contains(&step), "{step}");
    }

    #[test]
    fn a_tiny_disk_stops_at_the_floor() {
        assert_eq!(wal_segment_bytes_for(64 * MIB, 8 * MIB, 4), MIB);
        assert_eq!(
            wal_size_max_bytes_for(GIB_FOR_TEST, MIB, 8 * MIB, 4),
            2 * MIB
        );
        assert_eq!(preallocation_step_max_for(MIB, 64 * MIB, 8 * MIB), MIB);
    }

    const GIB_FOR_TEST: u64 = 1 << 30;

    #[test]
    fn a_configured_size_below_the_floor_is_kept() {
        // Never raised: the floor only bounds the shrinking.
        assert_eq!(
            preallocation_step_max_for(64 << 10, 256 << 10, 1 << 20),
            64 << 10
        );
        assert_eq!(wal_segment_bytes_for(MIB, 1 << 40, 1), MIB);
    }

    #[test]
    fn the_space_of_a_real_directory_is_read() {
        let space = filesystem_space(Path::new("/")).expect("statvfs /");
        assert!(space.total_bytes > 0);
        assert!(space.free_bytes <= space.total_bytes);
    }
}
