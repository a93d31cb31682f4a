//! glibc's allocator, set for a proxy's pattern of allocation.
//!
//! A relayed request makes ~130 short-lived allocations on one thread, several of a size at
//! once (header maps, `Bytes`, the audit line), and frees them within microseconds. glibc's
//! per-thread cache keeps only 7 free chunks of a size; the rest go to the fast bins, and the
//! next large allocation (Pingora's per-request future, ~16 KiB) consolidates the fast bins
//! again. With a 64-chunk cache and no fast bins the relay's CPU per request measured 4–5 %
//! lower (`BENCHMARKS.md`, "glibc's allocator settings").
//!
//! glibc reads these settings (`GLIBC_TUNABLES`) only when a process starts, so `serve` and
//! `demo` start themselves once more with them ([`reexec_tuned`]) when the environment
//! names none. An operator's own `GLIBC_TUNABLES` (any value, empty included) is kept as it
//! is: that is also how to run with glibc's defaults (`GLIBC_TUNABLES=`). A privileged start
//! (file capabilities or setuid: glibc then ignores `GLIBC_TUNABLES`) is not started again.

/// The environment variable glibc reads its settings from.
pub const ENV: &str = "GLIBC_TUNABLES";

/// Set (to `1`) for the second start only: a process that has it never starts again, even
/// if `GLIBC_TUNABLES` did not reach it.
pub const MARK: &str = "ERPGATE_ALLOCATOR_REEXEC";

/// The settings the gateway runs with: a 64-chunk per-thread cache for each size up to
/// 1 KiB (glibc's default: 7); no fast bins (their chunks would be merged again on every
/// request's larger allocation); and allocations of 4 MiB and more mapped on their own every
/// time, so the argon2 work area (19 MiB) the gateway frees when idle goes back to the system
/// (glibc's threshold otherwise rises to the size of the first such area freed; the systemd
/// unit and the image also set it as `MALLOC_MMAP_THRESHOLD_`, which holds when an operator
/// sets `GLIBC_TUNABLES` of their own); and up to 8 MiB of free heap kept before it is given
/// back, twice the mmap threshold, as glibc sets it when it moves that threshold itself (with
/// the threshold fixed it would stay at 128 KiB, and a 62 KB answer's buffers were given back
/// and faulted in again on every request: one `madvise` a request, `BENCHMARKS.md`, "The heap
/// kept between larger answers"; the unit and the image set `MALLOC_TRIM_THRESHOLD_` too).
pub const TUNABLES: &str = "glibc.malloc.tcache_count=64:glibc.malloc.mxfast=0:\
glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=8388608";

/// What the process runs with, for the start-up log.
pub fn in_force() -> String {
    if secure_start() {
        return "glibc's defaults (a privileged start: glibc ignores GLIBC_TUNABLES)".to_string();
    }
    match std::env::var_os(ENV) {
        Some(v) if v == TUNABLES => format!("the gateway's ({TUNABLES})"),
        Some(v) if v.is_empty() => "glibc's defaults (GLIBC_TUNABLES is empty)".to_string(),
        // Escaped: the value is the environment's, and goes into a log line.
        Some(v) => format!("the operator's (GLIBC_TUNABLES={:?})", v.to_string_lossy()),
        None => "glibc's defaults".to_string(),
    }
}

/// Whether to start again with [`TUNABLES`]: only when the environment names no settings
/// (`named`: the operator's, or ours already), this is not the second start (`marked`) and
/// glibc would read them (`secure`: a privileged start, where it does not).
pub fn start_again(named: bool, marked: bool, secure: bool) -> bool {
    !named && !marked && !secure
}

/// Why the gateway did not start again with its settings.
#[derive(Debug)]
pub enum NotTuned {
    /// This binary's file could not be named: nothing was changed, the process goes on with
    /// glibc's defaults.
    Locate(std::io::Error),
    /// Starting again failed after the process had been prepared for it (Rust resets the
    /// `SIGPIPE` disposition before `exec`, and does not restore it): the process must not
    /// go on serving.
    Exec(std::io::Error),
}

impl std::fmt::Display for NotTuned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotTuned::Locate(e) => write!(f, "cannot name this binary's file: {e}"),
            NotTuned::Exec(e) => write!(f, "cannot start this binary again: {e}"),
        }
    }
}

/// Replaces this process (same id, arguments, environment and open files) with this binary
/// started with [`TUNABLES`], unless [`start_again`] says not to. Call it before any thread
/// starts. Returns `Ok(())` without starting again.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn reexec_tuned() -> Result<(), NotTuned> {
    use std::os::unix::process::CommandExt;

    let named = std::env::var_os(ENV).is_some();
    let marked = std::env::var_os(MARK).is_some();
    if !start_again(named, marked, secure_start()) {
        return Ok(());
    }
    // The file this process was started from (named by `/proc/self/exe`; opened by its path,
    // which tools that run the binary under themselves, such as valgrind, resolve to the
    // binary and not to themselves).
    let exe = std::env::current_exe().map_err(NotTuned::Locate)?;
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    // `exec` returns only when it failed.
    Err(NotTuned::Exec(
        command.args(args).env(ENV, TUNABLES).env(MARK, "1").exec(),
    ))
}

/// Elsewhere than glibc on Linux there is nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn reexec_tuned() -> Result<(), NotTuned> {
    Ok(())
}

/// The auxiliary vector's `AT_SECURE` entry: set by the kernel for a setuid, setgid or
/// file-capability start.
const AT_SECURE: u64 = 23;

/// Whether this process started privileged (`AT_SECURE` in `/proc/self/auxv`); `false` when
/// that cannot be read.
fn secure_start() -> bool {
    std::fs::read("/proc/self/auxv").is_ok_and(|auxv| auxv_secure(&auxv))
}

/// Whether the auxiliary vector `auxv` (pairs of native-endian 64-bit words) has a non-zero
/// `AT_SECURE`.
fn auxv_secure(auxv: &[u8]) -> bool {
    let word = |b: &[u8]| b.try_into().map(u64::from_ne_bytes).unwrap_or(0);
    auxv.chunks_exact(16)
        .map(|pair| (word(&pair[..8]), word(&pair[8..])))
        .take_while(|(key, _)| *key != 0)
        .any(|(key, value)| key == AT_SECURE && value != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unset_environment_on_a_first_unprivileged_start_is_started_again() {
        assert!(start_again(false, false, false));
        // Any GLIBC_TUNABLES, empty or ours included, is kept as it is.
        assert!(!start_again(true, false, false));
        // The second start never starts again, even without the variable.
        assert!(!start_again(false, true, false));
        // glibc ignores tunables in a privileged start: nothing to gain.
        assert!(!start_again(false, false, true));
    }

    #[test]
    fn at_secure_is_read_from_the_auxiliary_vector() {
        let vector = |pairs: &[(u64, u64)]| -> Vec<u8> {
            pairs
                .iter()
                .flat_map(|(k, v)| k.to_ne_bytes().into_iter().chain(v.to_ne_bytes()))
                .collect()
        };
        assert!(auxv_secure(&vector(&[(6, 4096), (23, 1), (0, 0)])));
        assert!(!auxv_secure(&vector(&[(6, 4096), (23, 0), (0, 0)])));
        // After the terminating entry, nothing counts; a truncated pair neither.
        assert!(!auxv_secure(&vector(&[(6, 4096), (0, 0), (23, 1)])));
        assert!(!auxv_secure(&vector(&[(6, 4096)])[..12]));
        assert!(!auxv_secure(&[]));
        // This test's own process is not privileged.
        assert!(!secure_start());
    }
}
