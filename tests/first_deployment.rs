//! The README's first-deployment steps, run as written: the shell block between the
//! `first-deployment` markers, top to bottom, with only `/etc/erpgate` and its three loopback
//! ports changed (to a temporary directory and free ports), `erpgate` on the `PATH`.

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The shell block of the README between the markers.
fn steps() -> String {
    let readme = include_str!("../README.md");
    let begin = readme
        .find("<!-- first-deployment:begin -->")
        .expect("begin marker");
    let end = readme
        .find("<!-- first-deployment:end -->")
        .expect("end marker");
    let block = &readme[begin..end];
    let code = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(code, _)| code)
        .expect("a sh block between the markers");
    code.to_string()
}

#[test]
fn the_readme_first_deployment_steps_work_as_written() {
    let script = steps();
    for step in [
        "keygen",
        "check",
        "migrate",
        "sim",
        "secret set",
        "credential issue",
        "serve",
        "curl",
    ] {
        assert!(script.contains(step), "the steps include {step}");
    }
    let dir = tempfile::tempdir().expect("dir");
    let home = dir.path().join("etc-erpgate");
    let (relay, sim, admin) = (
        support::free_port(),
        support::free_port(),
        support::free_port(),
    );
    let script = script
        .replace("/etc/erpgate", home.to_str().expect("path"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{relay}"))
        .replace("127.0.0.1:9090", &format!("127.0.0.1:{sim}"))
        .replace("127.0.0.1:9443", &format!("127.0.0.1:{admin}"));
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_erpgate"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out_file = dir.path().join("out.txt");
    let err_file = dir.path().join("err.txt");
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("ERPGATE_APP_KEY")
        .env_remove("ERPGATE_CONFIG")
        .env_remove("ERPGATE_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).expect("out"))
        .stderr(std::fs::File::create(&err_file).expect("err"))
        .process_group(0)
        .spawn()
        .expect("bash");
    let pgid = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The background simulator (and a gateway still stopping) go with the script: asked
    // first, then killed, and gone before the directory is removed.
    let alive = || unsafe { libc::kill(-pgid, 0) } == 0;
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let _ = child.wait();
    let gone_by = Instant::now() + Duration::from_secs(10);
    while alive() && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive() {
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        while alive() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let out = std::fs::read_to_string(&out_file).unwrap_or_default();
    let err = std::fs::read_to_string(&err_file).unwrap_or_default();
    let status =
        status.unwrap_or_else(|| panic!("the steps did not finish in 120 s\n{out}\n{err}"));
    assert!(
        status.success(),
        "the steps failed: {status}\nstdout:\n{out}\nstderr:\n{err}"
    );

    assert!(
        out.contains("is valid: 1 tenant(s), 1 endpoint(s), 1 policy(ies)"),
        "{out}"
    );
    assert!(out.contains("access schedule: open now"), "{out}");
    assert!(!out.contains("warning: no [schedule]"), "{out}");
    assert!(
        out.contains("credential set") && out.contains("shown once"),
        "{out}"
    );
    // The simulated Oracle's collection came back through the gateway.
    let body_start = out
        .find("{\"count\"")
        .unwrap_or_else(|| panic!("no invoices collection in:\n{out}\n{err}"));
    let body: serde_json::Value = serde_json::Deserializer::from_str(&out[body_start..])
        .into_iter()
        .next()
        .expect("json")
        .expect("json body");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(5), "{body}");
    assert!(
        out.contains("relayed"),
        "the audit query shows the relayed call: {out}"
    );

    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&home.join("app.key")), 0o600);
    let key = std::fs::read_to_string(home.join("app.key")).expect("key");
    assert!(
        !out.contains(key.trim()) && !err.contains(key.trim()),
        "the key is never printed"
    );
}
