//! The CLI as an operator meets it: `check`, `keygen`, `migrate`, and `serve` refusing to start
//! with a clear message when the key, the schema or the port is wrong.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn erpgate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_erpgate"));
    c.args(args)
        .stdin(Stdio::null())
        .env_remove("ERPGATE_APP_KEY")
        .env_remove("ERPGATE_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run erpgate")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_config(dir: &Path, port: u16) -> String {
    let text = format!(
        "[gateway]\nlisten = \"127.0.0.1:{port}\"\ndatabase = \"erpgate.db\"\n\
         [tenants.acme]\nupstream = \"https://acme.fa.us2.oraclecloud.com\"\n[tenants.acme.upstream_auth]\nmode = \"basic\"\nusername = \"U\"\nsecret = \"pw\"\n\
         [[endpoint]]\nname = \"invoices.collection\"\npath = \"/fscmRestApi/resources/{{version}}/invoices\"\nmethods = [\"GET\"]\n\
         [[policy]]\nname = \"p\"\nsubjects = [\"account:a\"]\n  [[policy.rule]]\n  endpoints = [\"invoices.collection\"]\n  methods = [\"GET\"]\n"
    );
    let path = dir.join("erpgate.toml");
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[test]
fn check_accepts_the_shipped_example_and_refuses_mistakes() {
    let ok = erpgate(
        &[
            "check",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/conf/erpgate.toml"),
        ],
        &[],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("is valid"));

    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), 8080);
    let text = std::fs::read_to_string(&cfg).expect("read");
    std::fs::write(
        &cfg,
        text.replace("https://acme", "http://acme")
            .replace("account:a", "acct:a"),
    )
    .expect("write");
    let bad = erpgate(&["check", "--config", &cfg], &[]);
    assert_eq!(bad.status.code(), Some(2));
    let e = stderr(&bad);
    assert!(
        e.contains("erpgate.toml: tenants.acme.upstream") && e.contains("must be https://"),
        "{e}"
    );
    assert!(
        e.contains("\"acct:a\" is not account:NAME"),
        "all problems at once: {e}"
    );

    let missing = erpgate(&["check", "--config", "/nonexistent/erpgate.toml"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read"));
}

#[test]
fn check_reports_every_problem_in_one_run_with_key_paths_and_suggestions() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), 8080);
    let text = std::fs::read_to_string(&cfg).expect("read");
    // Two type errors, a misspelt key, a misspelt section, a misspelt enum value in an
    // included file, and mistakes only validation finds (a policy subject, an upstream).
    let text = text
        .replace(
            "database = \"erpgate.db\"",
            "database = \"erpgate.db\"\nthreads = \"two\"\naccess_log = \"yes\"\ntoken_ttl_secnods = 60\ninclude = [\"more.toml\"]",
        )
        .replace("https://acme", "http://acme")
        .replace("account:a", "acct:a")
        .replace("[tenants.acme]", "[shcedule]\ntimezone = \"UTC\"\n[tenants.acme]");
    // `include` is a top-level key: put it first.
    let text = format!(
        "include = [\"more.toml\"]\n{}",
        text.replace("\ninclude = [\"more.toml\"]", "")
    );
    std::fs::write(&cfg, text).expect("write");
    std::fs::write(
        dir.path().join("more.toml"),
        "[[endpoint]]\nname = \"payments\"\npath = \"/fscmRestApi/resources/{version}/payments\"\nmethods = [\"GET\"]\nrequest_headres = []\n",
    )
    .expect("include");
    let out = erpgate(&["check", "--config", &cfg], &[]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    for want in [
        "erpgate.toml: gateway.threads: expected an integer, found \"two\"",
        "erpgate.toml: gateway.access_log: expected true or false, found \"yes\"",
        "erpgate.toml: gateway.token_ttl_secnods: unknown key (did you mean `token_ttl_seconds`?)",
        "erpgate.toml: shcedule: unknown key (did you mean `schedule`?)",
        "more.toml: endpoint[1].request_headres: unknown key (did you mean `request_headers`?)",
        "erpgate.toml: tenants.acme.upstream: \"http://acme.fa.us2.oraclecloud.com\" must be https://",
        "\"acct:a\" is not account:NAME",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert_eq!(e.matches("\n  - ").count(), 7, "exactly these seven:\n{e}");

    // A table that lacks a required key is reported, and the other files still are read.
    std::fs::write(dir.path().join("more.toml"), "[[endpoint]]\nname = \"x\"\n").expect("w");
    let out = erpgate(&["check", "--config", &cfg], &[]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        e.contains("more.toml: endpoint[1].path: required key is missing"),
        "{e}"
    );
    assert!(e.contains("gateway.threads: expected an integer"), "{e}");
}

#[test]
fn keygen_prints_distinct_valid_keys() {
    let a = erpgate(&["keygen"], &[]);
    let b = erpgate(&["keygen"], &[]);
    let (a, b) = (
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout),
    );
    assert_ne!(a, b);
    assert!(erpgate::crypto::MasterKey::from_base64(a.trim()).is_ok());
}

#[test]
fn serve_refuses_without_key_without_schema_and_on_a_busy_port() {
    let dir = tempfile::tempdir().expect("dir");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let cfg = write_config(dir.path(), port);

    let no_key = erpgate(&["serve", "--config", &cfg], &[]);
    assert_eq!(no_key.status.code(), Some(1));
    assert!(
        stderr(&no_key).contains("ERPGATE_APP_KEY is not set"),
        "{}",
        stderr(&no_key)
    );
    assert!(stderr(&no_key).contains("erpgate keygen"));

    let bad_key = erpgate(
        &["serve", "--config", &cfg],
        &[("ERPGATE_APP_KEY", "c2hvcnQ=")],
    );
    assert!(
        stderr(&bad_key).contains("decodes to 5 bytes, expected 32"),
        "{}",
        stderr(&bad_key)
    );

    let key = String::from_utf8_lossy(&erpgate(&["keygen"], &[]).stdout)
        .trim()
        .to_string();
    let env = [("ERPGATE_APP_KEY", key.as_str())];
    drop(busy);
    let unmigrated = erpgate(&["serve", "--config", &cfg], &env);
    assert_eq!(unmigrated.status.code(), Some(1));
    assert!(
        stderr(&unmigrated).contains("run `erpgate migrate"),
        "{}",
        stderr(&unmigrated)
    );

    let m = erpgate(&["migrate", "--config", &cfg], &env);
    assert!(m.status.success(), "{}", stderr(&m));
    assert!(String::from_utf8_lossy(&m.stdout).contains("applied migration(s) 1, 2"));
    let again = erpgate(&["migrate", "--config", &cfg], &env);
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));

    let _busy = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind");
    let taken = erpgate(&["serve", "--config", &cfg], &env);
    assert_eq!(taken.status.code(), Some(1));
    assert!(
        stderr(&taken).contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        stderr(&taken)
    );
}

#[test]
fn accounts_credentials_and_secrets_via_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), 8080);
    let key = String::from_utf8_lossy(&erpgate(&["keygen"], &[]).stdout)
        .trim()
        .to_string();
    let env = [
        ("ERPGATE_APP_KEY", key.as_str()),
        ("ERPGATE_CONFIG", cfg.as_str()),
    ];
    assert!(erpgate(&["migrate"], &env).status.success());
    let c = erpgate(
        &["account", "create", "--name", "a", "--tenant", "nope"],
        &env,
    );
    assert!(
        stderr(&c).contains("tenant \"nope\" is not in the configuration"),
        "{}",
        stderr(&c)
    );
    assert!(erpgate(
        &["account", "create", "--name", "a", "--tenant", "acme"],
        &env
    )
    .status
    .success());
    let dup = erpgate(
        &["account", "create", "--name", "a", "--tenant", "acme"],
        &env,
    );
    assert!(stderr(&dup).contains("account \"a\" already exists"));
    let issued = erpgate(&["credential", "issue", "--account", "a", "--json"], &env);
    assert!(issued.status.success(), "{}", stderr(&issued));
    let v: serde_json::Value = serde_json::from_slice(&issued.stdout).expect("json");
    let password = v["password"].as_str().expect("password").to_string();
    let api_key = v["api_key"].as_str().expect("api_key").to_string();
    assert!(api_key.starts_with("egk_") && password.len() >= 32);
    let listed = erpgate(&["credential", "list"], &env);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains(v["id"].as_str().expect("id")));
    assert!(
        !text.contains(&password) && !text.contains(&api_key[20..]),
        "list never shows secrets"
    );
    let none = erpgate(&["credential", "revoke", "cred_nope"], &env);
    assert!(stderr(&none).contains("credential \"cred_nope\" does not exist"));
    let no_key = erpgate(
        &["credential", "issue", "--account", "a"],
        &[("ERPGATE_CONFIG", cfg.as_str())],
    );
    assert_eq!(
        no_key.status.code(),
        Some(1),
        "issuing needs the master key"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["secret", "set", "--tenant", "acme", "--name", "pw"])
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"canary-upstream-secret-9f8e\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = erpgate(&["secret", "list"], &env);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("acme"));
    let db = std::fs::read(dir.path().join("erpgate.db")).expect("db");
    let wal = std::fs::read(dir.path().join("erpgate.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        let s = String::from_utf8_lossy(bytes);
        assert!(
            !s.contains("canary-upstream-secret-9f8e"),
            "secret stored in clear"
        );
        assert!(
            !s.contains(&password) && !s.contains(&api_key),
            "issued secret stored in clear"
        );
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_itself() {
    let run = |args: &[&str]| {
        let out = erpgate(args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let bash = run(&["completions", "bash"]);
    assert!(
        bash.contains("migrate") && bash.contains("--grant-to"),
        "every subcommand and option"
    );
    let dir = tempfile::tempdir().expect("dir");
    let script = dir.path().join("erpgate.bash");
    std::fs::write(&script, &bash).expect("write");
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    assert!(run(&["completions", "zsh"]).starts_with("#compdef erpgate"));
    assert!(run(&["completions", "fish"]).contains("complete -c erpgate"));
    let bad = erpgate(&["completions", "powershell"], &[]);
    assert_eq!(bad.status.code(), Some(2));

    let man = run(&["man"]);
    assert!(
        man.contains(".TH erpgate 1"),
        "{}",
        &man[..man.len().min(300)]
    );
    for sub in ["erpgate-migrate", "erpgate-audit", "erpgate-serve"] {
        assert!(man.contains(&format!(".TH {sub}")), "{sub} has its page");
    }
    // When groff is installed, the page renders without a warning.
    if std::process::Command::new("groff")
        .arg("-v")
        .output()
        .is_ok()
    {
        let page = dir.path().join("erpgate.1");
        std::fs::write(&page, &man).expect("write");
        let out = std::process::Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("groff");
        assert!(out.status.success());
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn check_says_which_schedule_is_in_force_and_when_it_next_opens() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let with = root.join("deploy/docker/erpgate.toml");
    let out = erpgate(&["check", "--config", with.to_str().expect("path")], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("access schedule: open now"), "{text}");
    assert!(!text.contains("no [schedule]"), "{text}");

    // Without a [schedule] section: said loudly, with when it next opens.
    let full = std::fs::read_to_string(&with).expect("config");
    let start = full.find("[schedule]").expect("schedule");
    let end = full.find("[tenants.demo]").expect("tenants");
    let dir = tempfile::tempdir().expect("dir");
    let without = dir.path().join("erpgate.toml");
    std::fs::write(&without, format!("{}{}", &full[..start], &full[end..])).expect("write");
    let out = erpgate(&["check", "--config", without.to_str().expect("path")], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: no [schedule]: the default applies, mon 11:00-20:00")
            && text.contains("(Asia/Karachi)")
            && text.contains("schedule.closed"),
        "{text}"
    );
    assert!(
        text.contains("access schedule: open now")
            || text.contains("access schedule: closed now; opens "),
        "{text}"
    );
}
