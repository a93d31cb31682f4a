//! The README's first command: `erpgate demo` works on its own and its curl lines do what the
//! banner says.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_serves_the_calls_it_advertises() {
    let dir = tempfile::tempdir().expect("dir");
    let port = support::free_port();
    let admin_port = support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args([
            "demo",
            "--port",
            &port.to_string(),
            "--admin-port",
            &admin_port.to_string(),
            "--dir",
        ])
        .arg(dir.path())
        .env_remove("ERPGATE_APP_KEY")
        .env_remove("ERPGATE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut user, mut pass, mut key, mut killswitch_on) = (None, None, None, None);
    let (mut admin_token, mut auditor, mut oracle_link) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("username ") {
            user = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("password ") {
            pass = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("x-api-key ") {
            key = Some(v.trim().to_string());
        } else if let Some(v) = t.strip_prefix("admin-token ") {
            admin_token = Some(v.trim().to_string());
        } else if t.contains("killswitch on") {
            killswitch_on = Some(t.to_string());
        } else if let Some(v) = t.strip_prefix("demo-auditor (auditor): ") {
            auditor = Some(v.trim().to_string());
        } else if t.contains("/__sim/page-integration?user=") {
            oracle_link = Some(t.to_string());
            break;
        }
    }
    let (user, pass, key) = (
        user.expect("username"),
        pass.expect("password"),
        key.expect("api key"),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let auth = support::basic(&user, &pass);
    let get = |target: &str, headers: &[(&str, &str)]| {
        support::http::raw(addr, &support::request("GET", target, headers, None)).expect("request")
    };
    let r = get(
        "/fscmRestApi/resources/11.13.18.05/invoices?limit=2&onlyData=true",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(2));
    let r = get(
        "/fscmRestApi/resources/latest/suppliers/1001",
        &[("x-api-key", &key)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The demo's redaction: tax ids masked, links through the gateway.
    let supplier = r.json();
    let tax = supplier["TaxpayerId"].as_str().expect("TaxpayerId");
    assert!(tax.starts_with("****") && tax.len() == 8, "{tax}");
    assert_eq!(supplier["TaxRegistrationNumber"], "****");
    let href = supplier["links"][0]["href"].as_str().expect("href");
    assert!(href.starts_with(&format!("http://{addr}/")), "{href}");
    let r = get(
        "/fscmRestApi/resources/latest/suppliers?q=TaxRegistrationNumber%3D%27GB200000000%27&totalResults=true",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.error_code(), "query.masked_field", "{}", r.text());
    let r = get(
        "/fscmRestApi/resources/latest/externalBankAccounts",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.error_code(), "policy.denied");
    assert_eq!(
        get("/fscmRestApi/resources/latest/invoices", &[]).error_code(),
        "auth.missing"
    );
    assert_eq!(
        get(
            "/fscmRestApi/resources/latest/secretStuff",
            &[("Authorization", &auth)]
        )
        .error_code(),
        "endpoint.unknown"
    );

    // The advertised admin API answers with the printed owner token, and only with it.
    let admin: std::net::SocketAddr = format!("127.0.0.1:{admin_port}").parse().expect("addr");
    let bearer = format!("Bearer {}", admin_token.expect("admin token line"));
    let status = |auth: &[(&str, &str)]| {
        support::http::raw(admin, &support::request("GET", "/status", auth, None))
            .expect("admin status")
    };
    let r = status(&[("Authorization", &bearer)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["killswitch"], false);
    assert_eq!(status(&[]).status, 401);

    // The advertised portal lets the printed auditor in (no second factor for an auditor).
    let mut portal = support::portal::Client {
        addr: admin,
        cookie: None,
        last_set_cookie: None,
    };
    let password = auditor.expect("the demo's portal auditor line");
    assert!(portal.login_and_enroll("demo-auditor", &password).is_none());
    let r = portal.get("/portal/overview");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("killswitch-state"));

    // The advertised Page Integration link: Fusion sends the browser to the gateway with a
    // signed token; the launch starts a session for casey.brown, whose reads are masked.
    let link = oracle_link.expect("the demo's Oracle user link");
    let link = link.strip_prefix("http://").expect("http link");
    let (host, target) = link.split_at(link.find('/').expect("path"));
    let fusion: std::net::SocketAddr = host.parse().expect("fusion addr");
    let r =
        support::http::raw(fusion, &support::request("GET", target, &[], None)).expect("fusion");
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").expect("location").to_string();
    let launch = location
        .strip_prefix(&format!("http://{addr}"))
        .expect("sent to the gateway");
    let r = get(launch, &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/launch/demo"));
    let set = r.header("set-cookie").expect("session cookie");
    let cookie = set.split(';').next().expect("cookie").to_string();
    let r = get("/launch/demo/session", &[("Cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["user"], "casey.brown");
    let r = get(
        "/fscmRestApi/resources/latest/suppliers?limit=2&onlyData=true",
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["items"][0]["TaxRegistrationNumber"], "****");
    assert_eq!(get("/launch/demo", &[]).status, 200, "the viewer page");

    // The advertised token endpoint issues a token the relay accepts.
    let r = support::http::raw(
        addr,
        &support::request(
            "POST",
            "/gateway/token",
            &[("Authorization", &auth)],
            Some(b""),
        ),
    )
    .expect("token");
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let r = get(
        "/fscmRestApi/resources/11.13.18.05/invoices?limit=1",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // The printed kill-switch line works as printed.
    let line = killswitch_on.expect("kill switch line");
    let mut words = line.split_whitespace();
    let exe = words.next().expect("exe");
    let out = Command::new(exe)
        .args(words)
        .env_remove("ERPGATE_APP_KEY")
        .output()
        .expect("killswitch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut code = String::new();
    while Instant::now() < deadline {
        let r = get(
            "/fscmRestApi/resources/latest/invoices",
            &[("Authorization", &auth)],
        );
        if r.status == 503 {
            code = r.error_code();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(code, "killswitch.on");
    let _ = child.kill();
    let _ = child.wait();
}
