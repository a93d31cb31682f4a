//! TLS on both sides, against the real binary: the public listener (TLS 1.3 only by
//! default, HSTS, certificates swapped by a reload), and upstream certificate verification
//! against a configured CA bundle, with a CA the tests generate.

mod support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use support::pki::{Ca, Leaf};
use support::{request, Gateway, Options, Response};

const V: &str = "/fscmRestApi/resources/11.13.18.05";

/// What a TLS client saw: the negotiated version, the server's leaf certificate, the answer.
struct Seen {
    version: Option<rustls::ProtocolVersion>,
    leaf: Vec<u8>,
    response: Response,
}

/// One HTTPS request over a fresh connection with `config`; `Err` when the handshake fails.
fn https(
    gw: &Gateway,
    config: Arc<rustls::ClientConfig>,
    raw: &[u8],
) -> Result<Seen, std::io::Error> {
    https_on(TcpStream::connect(gw.addr)?, config, raw)
}

/// One HTTPS request over `tcp`, an open connection on which nothing was sent yet.
fn https_on(
    tcp: TcpStream,
    config: Arc<rustls::ClientConfig>,
    raw: &[u8],
) -> Result<Seen, std::io::Error> {
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(raw)?;
    tls.flush()?;
    let version = tls.conn.protocol_version();
    let leaf = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default();
    let response = support::http::read_response(&mut BufReader::new(tls))?;
    Ok(Seen {
        version,
        leaf,
        response,
    })
}

fn pem_der(path: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .expect("pem")
        .next()
        .expect("one cert")
        .expect("cert")
        .as_ref()
        .to_vec()
}

fn tls_section(leaf: &Leaf, extra: &str) -> String {
    format!(
        "\n[gateway.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{extra}\n",
        leaf.cert_file.display(),
        leaf.key_file.display()
    )
}

fn hup(gw: &Gateway) {
    let pid = gw.pid().expect("running").to_string();
    let ok = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(ok.success());
}

#[test]
fn the_public_listener_speaks_tls13_only_with_hsts_and_swaps_certificates_on_reload() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(pki.path(), "gateway");
    let first = ca.leaf("first", &["localhost", "127.0.0.1"], 30);
    let gw = Gateway::start(Options {
        gateway_extra: tls_section(&first, ""),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let get = request(
        "GET",
        &format!("{V}/invoices?limit=1"),
        &[("Authorization", &cred.basic())],
        None,
    );
    let tls13 = ca.client(&[&rustls::version::TLS13]);
    let tls12 = ca.client(&[&rustls::version::TLS12]);

    let seen = https(&gw, tls13.clone(), &get).expect("TLS 1.3 handshake");
    assert_eq!(seen.response.status, 200, "{}", seen.response.text());
    assert_eq!(seen.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(seen.leaf, pem_der(&first.cert_file));
    assert_eq!(
        seen.response.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    assert!(
        seen.response.json()["items"].is_array(),
        "relayed from the simulated Oracle"
    );
    // Denials carry HSTS too.
    let denied = https(
        &gw,
        tls13.clone(),
        &request("GET", &format!("{V}/invoices"), &[], None),
    )
    .expect("handshake");
    assert_eq!(denied.response.status, 401);
    assert!(denied
        .response
        .header("strict-transport-security")
        .is_some());
    // A client that offers no TLS 1.3 cipher suite gets no handshake at all.
    assert!(
        https(&gw, ca.client_tls12_suites_only(), &get).is_err(),
        "a TLS 1.2-only hello must be refused"
    );
    // One that lists TLS 1.3 suites but negotiates 1.2 is refused before anything it sent
    // is used, and its connection is closed.
    let seen = https(&gw, tls12.clone(), &get).expect("handshake");
    assert_eq!(seen.version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(seen.response.status, 426);
    assert_eq!(seen.response.error_code(), "tls.version");
    assert_eq!(seen.response.header("upgrade"), Some("TLS/1.3"));
    assert_eq!(seen.response.header("connection"), Some("close"));
    let rid = seen
        .response
        .header("x-request-id")
        .expect("rid")
        .to_string();
    gw.eventually("the refusal audited", || {
        gw.audit(&["--request-id", &rid])
            .first()
            .is_some_and(|r| r["reason"] == "tls.version")
    });
    // Plain HTTP on the TLS port is not served.
    let plain = support::http::raw(gw.addr, &get);
    assert!(
        plain.map(|r| r.status != 200).unwrap_or(true),
        "plain HTTP is never relayed on a TLS listener"
    );

    // Reload: a new certificate, TLS 1.2 allowed, a shorter HSTS: all at the next handshake.
    let second = ca.leaf("second", &["localhost", "127.0.0.1"], 30);
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let old = tls_section(&first, "");
    assert!(text.contains(&old));
    let new = tls_section(&second, "min_version = \"1.2\"\nhsts_max_age_seconds = 600");
    std::fs::write(&gw.config, text.replace(&old, &new)).expect("write");
    hup(&gw);
    let mut last = None;
    gw.eventually("the new certificate served", || {
        // A fresh client each time: a resumed session would report the old certificate.
        last = https(&gw, ca.client(&[&rustls::version::TLS13]), &get).ok();
        last.as_ref()
            .is_some_and(|s| s.leaf == pem_der(&second.cert_file))
    });
    let seen = last.expect("seen");
    assert_eq!(seen.response.status, 200);
    assert_eq!(
        seen.response.header("strict-transport-security"),
        Some("max-age=600; includeSubDomains")
    );
    let seen = https(&gw, tls12, &get).expect("TLS 1.2 now allowed");
    assert_eq!(seen.version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(seen.response.status, 200);
    // The private keys never reach the log. Every 32-character window of the PEM body is
    // searched (its first ~48 characters are the same ASN.1 prefix for every P-256 key; the
    // private scalar comes after).
    let log = gw.log_text();
    for key in [&first.key_file, &second.key_file] {
        let pem = std::fs::read_to_string(key).expect("key");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(body.len() > 100, "a PEM key body");
        for at in (0..body.len() - 32).step_by(8) {
            assert!(!log.contains(&body[at..at + 32]), "a key is in the log");
        }
    }
}

#[test]
fn bad_tls_settings_are_refused_with_what_is_wrong() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(pki.path(), "gateway");
    let good = ca.leaf("good", &["localhost"], 30);
    let expired = ca.leaf("expired", &["localhost"], -1);
    let other = ca.leaf("other", &["localhost"], 30);
    let gw = Gateway::start(Options::default());
    let base = std::fs::read_to_string(&gw.config).expect("config");
    let check = |section: String| {
        // The TLS table goes right after the [gateway] keys.
        let at = base.find("\n[schedule]").expect("schedule");
        let text = format!("{}{section}{}", &base[..at], &base[at..]);
        std::fs::write(&gw.config, text).expect("write");
        let out = gw.cli(&["check"]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        )
    };
    let (code, _) = check(tls_section(&good, ""));
    assert_eq!(code, Some(0), "a good certificate passes");
    let (code, text) = check(tls_section(&expired, ""));
    assert_eq!(code, Some(2));
    assert!(
        text.contains("gateway.tls") && text.contains("expired"),
        "{text}"
    );
    let mismatched = Leaf {
        cert_file: good.cert_file.clone(),
        key_file: other.key_file.clone(),
    };
    let (code, text) = check(tls_section(&mismatched, ""));
    assert_eq!(code, Some(2));
    assert!(text.contains("does not fit the certificate"), "{text}");
    let missing = Leaf {
        cert_file: pki.path().join("nope.pem"),
        key_file: good.key_file.clone(),
    };
    let (code, text) = check(tls_section(&missing, ""));
    assert_eq!(code, Some(2));
    assert!(text.contains("nope.pem"), "{text}");
    let (code, text) = check(tls_section(&good, "min_version = \"1.1\""));
    assert_eq!(code, Some(2));
    assert!(text.contains("gateway.tls.min_version"), "{text}");
    let (code, text) = check(tls_section(&good, "hsts_max_age_seconds = 5"));
    assert_eq!(code, Some(2));
    assert!(text.contains("hsts_max_age_seconds"), "{text}");
    let (code, text) = check(tls_section(&good, "ciphers = \"RC4\""));
    assert_eq!(code, Some(2), "unknown keys are errors: {text}");
    // Turning TLS on is a restart: a reload refuses it and plain HTTP keeps serving.
    let (code, _) = check(tls_section(&good, ""));
    assert_eq!(code, Some(0));
    hup(&gw);
    gw.eventually("the refusal logged", || {
        gw.log_text().contains("configuration reload refused")
    });
    assert!(gw.log_text().contains("tls"), "{}", gw.log_text());
    let cred = gw.issue("ap-sync");
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
}

/// A gateway whose acme tenant is an HTTPS simulated Oracle serving `leaf`.
fn behind_https(leaf: &Leaf, gateway_extra: String) -> Gateway {
    Gateway::start(Options {
        sim_tls: Some(leaf.server()),
        gateway_extra,
        ..Options::default()
    })
}

#[test]
fn upstream_certificates_are_verified_against_the_configured_ca() {
    let pki = tempfile::tempdir().expect("tempdir");
    let oracle_ca = Ca::new(pki.path(), "oracle");
    let oracle = oracle_ca.leaf("oracle", &["localhost"], 30);
    let ca_line = format!("upstream_ca_file = \"{}\"", oracle_ca.file.display());

    // Trusted CA: relayed, and the simulated Oracle verified the injected credential.
    let gw = behind_https(&oracle, ca_line.clone());
    assert!(gw.sim.base_url().starts_with("https://"));
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, &format!("{V}/invoices?limit=2"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["count"], 2);
    assert!(gw.sim.request_count() >= 1);
    drop(gw);

    // The system roots do not know the test CA: refused before any byte is sent upstream.
    let gw = behind_https(&oracle, String::new());
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, &format!("{V}/invoices"));
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.error_code(), "upstream.tls");
    assert_eq!(gw.sim.request_count(), 0, "nothing reached the upstream");
    let rid = r.header("x-request-id").expect("rid").to_string();
    gw.eventually("the audit record", || {
        gw.audit(&["--request-id", &rid])
            .first()
            .is_some_and(|rec| rec["reason"] == "upstream.tls")
    });
    drop(gw);

    // A certificate from the right CA for another host name is refused too.
    let wrong = oracle_ca.leaf("wrong-name", &["oracle.example.com"], 30);
    let gw = behind_https(&wrong, ca_line);
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, &format!("{V}/invoices"));
    assert_eq!(r.error_code(), "upstream.tls", "{}", r.text());
    assert_eq!(gw.sim.request_count(), 0);
    // And a CA bundle that is not one is a configuration error.
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let bogus = pki.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").expect("write");
    let line = format!("upstream_ca_file = \"{}\"", oracle_ca.file.display());
    assert!(text.contains(&line));
    std::fs::write(
        &gw.config,
        text.replace(
            &line,
            &format!("upstream_ca_file = \"{}\"", bogus.display()),
        ),
    )
    .expect("write");
    let out = gw.cli(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gateway.upstream_ca_file"), "{err}");
}

/// A TLS client that connected before a graceful stop but had not finished its handshake when
/// the stop began is still answered: Pingora hands the connection to the gateway only after the
/// handshake, so the accept itself is what keeps the process waiting (`HandshakeStamp`).
#[test]
fn a_tls_connection_accepted_before_the_shutdown_is_answered_after_its_handshake() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(pki.path(), "gateway");
    let leaf = ca.leaf("gw", &["localhost", "127.0.0.1"], 30);
    let mut gw = Gateway::start(Options {
        gateway_extra: tls_section(&leaf, ""),
        shutdown_grace_seconds: 10,
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let tls13 = ca.client(&[&rustls::version::TLS13]);
    let get = request(
        "GET",
        &format!("{V}/invoices?limit=1"),
        &[("Authorization", &cred.basic()), ("Connection", "close")],
        None,
    );
    assert_eq!(
        https(&gw, tls13.clone(), &get)
            .expect("handshake")
            .response
            .status,
        200
    );
    // Connected, accepted, but no ClientHello yet.
    let tcp = TcpStream::connect(gw.addr).expect("connect");
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    gw.signal("-TERM");
    // Well past the 60 ms after which an idle gateway ends its grace.
    std::thread::sleep(Duration::from_millis(500));
    let r = https_on(tcp, tls13, &get)
        .expect("the late TLS request was answered")
        .response;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(gw.wait_exit("-TERM", Duration::from_secs(15)), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "waited for the grace period: {:?}",
        started.elapsed()
    );
}
