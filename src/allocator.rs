//! glibc's allocator, set for a proxy's pattern of allocation.
//!
//! A relayed request makes ~130 short-lived allocations on one thread, several of a size at
//! once (header maps, `Bytes`, the audit line), and frees them within microseconds. glibc's
//! per-thread cache keeps only 7 free chunks of a size; the rest go to the fast bins, and the
//! next large allocation (Pingora's per-request future, ~16 KiB) consolidates the fast bins
//! again. With a 64-chunk cache and no fast bins the relay's CPU per request measured 5–8 %
//! lower (`BENCHMARKS.md`, "glibc's allocator settings").
//!
//! glibc reads these settings (`GLIBC_TUNABLES`) only when a process starts, so `serve` and
//! `demo` start themselves once more with them ([`reexec_tuned`]) when the environment
//! names none. An operator's own `GLIBC_TUNABLES` (any value, empty included) is kept as it
//! is: that is also how to run with glibc's defaults (`GLIBC_TUNABLES=`).

use std::ffi::OsStr;

/// The environment variable glibc reads its settings from.
pub const ENV: &str = "GLIBC_TUNABLES";

/// The settings the gateway runs with: a 64-chunk per-thread cache for each size up to
/// 1 KiB (glibc's default: 7); no fast bins (their chunks would be merged again on every
/// request's larger allocation); and allocations of 4 MiB and more mapped on their own every
/// time, so the argon2 work area (19 MiB) the gateway frees when idle goes back to the system
/// (glibc's threshold otherwise rises to the size of the first such area freed; the systemd
/// unit and the image also set it as `MALLOC_MMAP_THRESHOLD_`, which holds when an operator
/// sets `GLIBC_TUNABLES` of their own).
pub const TUNABLES: &str =
    "glibc.malloc.tcache_count=64:glibc.malloc.mxfast=0:glibc.malloc.mmap_threshold=4194304";

/// What the process runs with, for the start-up log.
pub fn in_force() -> String {
    match std::env::var_os(ENV) {
        Some(v) if v == TUNABLES => format!("the gateway's ({TUNABLES})"),
        Some(v) if v.is_empty() => "glibc's defaults (GLIBC_TUNABLES is empty)".to_string(),
        Some(v) => format!("the operator's (GLIBC_TUNABLES={})", v.to_string_lossy()),
        None => "glibc's defaults".to_string(),
    }
}

/// The settings to start again with, given the environment's `GLIBC_TUNABLES`: ours when it
/// names none, nothing when it does (the operator's choice, or ours after the restart).
pub fn to_set(current: Option<&OsStr>) -> Option<&'static str> {
    match current {
        Some(_) => None,
        None => Some(TUNABLES),
    }
}

/// Replaces this process (same id, arguments, environment and open files) with this binary
/// started with [`TUNABLES`], unless the environment already names settings. Call it before
/// any thread starts. Returns `Ok(())` without starting again; an `Err` says why starting
/// again failed (the caller goes on with glibc's defaults).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn reexec_tuned() -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;

    let Some(tunables) = to_set(std::env::var_os(ENV).as_deref()) else {
        return Ok(());
    };
    // The file this process was started from (named by `/proc/self/exe`; opened by its path,
    // which tools that run the binary under themselves, such as valgrind, resolve to the
    // binary and not to themselves).
    let exe = std::env::current_exe()?;
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    // `exec` returns only when it failed.
    Err(command.args(args).env(ENV, tunables).exec())
}

/// Elsewhere than glibc on Linux there is nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn reexec_tuned() -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_settings_are_kept_and_none_means_ours() {
        assert_eq!(to_set(None), Some(TUNABLES));
        assert_eq!(to_set(Some(OsStr::new(""))), None);
        assert_eq!(
            to_set(Some(OsStr::new("glibc.malloc.tcache_count=7"))),
            None
        );
        assert_eq!(to_set(Some(OsStr::new(TUNABLES))), None);
    }

    #[test]
    fn the_settings_are_glibcs_own_names() {
        for setting in TUNABLES.split(':') {
            let (name, value) = setting.split_once('=').expect("name=value");
            assert!(
                [
                    "glibc.malloc.tcache_count",
                    "glibc.malloc.mxfast",
                    "glibc.malloc.mmap_threshold"
                ]
                .contains(&name),
                "{name}"
            );
            assert!(value.parse::<u32>().is_ok(), "{setting}");
        }
    }
}
