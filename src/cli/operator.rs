//! Who runs the CLI, for the audit trail: the process's *real* uid and the login name the
//! system's password file gives it — never `$USER` or `$LOGNAME`, which the caller sets. The
//! uid is read from `/proc/self/status` (the kernel's word, no `unsafe` libc call); the name
//! from `/etc/passwd`. `$SUDO_USER` is kept only as a hint beside the real identity: sudo
//! sets it, but so can anyone.

/// Longest `$SUDO_USER` hint recorded (the rest is cut off).
const HINT_MAX: usize = 64;

/// The real uid of this process, from the `Uid:` line of `/proc/self/status` (real,
/// effective, saved, filesystem — the first is the real one). `None` off Linux or if the
/// file cannot be read.
pub fn real_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_real_uid(&status)
}

fn parse_real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The login name of `uid` in `passwd` (the text of `/etc/passwd`): the first entry whose
/// third field is `uid`.
fn name_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let _password = f.next()?;
            let id: u32 = f.next()?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
}

/// The operator's identity: the login name of the real uid (`/etc/passwd`), or `uid:N` when
/// the uid has no entry there (e.g. a directory-service user), or `unknown` when the uid
/// cannot be read at all.
pub fn whoami() -> String {
    let Some(uid) = real_uid() else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| name_in_passwd(&p, uid))
        .unwrap_or_else(|| format!("uid:{uid}"))
}

/// `$SUDO_USER`, as a hint only (unverified: the environment is the caller's): printable
/// ASCII, at most 64 characters; `None` when unset or empty.
pub fn sudo_hint() -> Option<String> {
    let v = std::env::var_os("SUDO_USER")?;
    let v = v.to_string_lossy();
    let clean: String = v
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(HINT_MAX)
        .collect();
    (!clean.is_empty()).then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_uid_is_the_first_of_four() {
        let status = "Name:\terpgate\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(parse_real_uid(status), Some(1000));
        assert_eq!(parse_real_uid("Name:\tx\n"), None);
        // The running process: the same uid the kernel reports for files it creates.
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("probe");
        std::fs::write(&f, b"").expect("write");
        let owner = std::fs::metadata(&f).expect("meta").uid();
        // Files are owned by the effective uid; tests do not run setuid, so it is the real one.
        assert_eq!(real_uid(), Some(owner));
    }

    #[test]
    fn names_come_from_the_password_file() {
        let passwd = "# comment\nroot:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n";
        assert_eq!(name_in_passwd(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(name_in_passwd(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in_passwd(passwd, 4242), None);
        assert_eq!(name_in_passwd("broken line\n:x:7:7\n", 7), None);
    }
}
