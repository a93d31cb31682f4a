use std::path::Path;

use crate::snapshot::Snapshot;

const GATEWAY: &str = "[gateway]\nlisten = \"127.0.0.1:8080\"\ndatabase = \"x.db\"\n";
const TENANT: &str = "[tenants.acme]\nupstream = \"https://acme.fa.us2.oraclecloud.com\"\n[tenants.acme.upstream_auth]\nmode = \"basic\"\nusername = \"U\"\nsecret = \"pw\"\n";
const ENDPOINTS: &str = "[[endpoint]]\nname = \"invoices.collection\"\npath = \"/fscmRestApi/resources/{version}/invoices\"\nmethods = [\"GET\", \"POST\"]\n[[endpoint]]\nname = \"invoices.item\"\npath = \"/fscmRestApi/resources/{version}/invoices/{id}\"\nmethods = [\"GET\"]\n";
const POLICY: &str = "[[policy]]\nname = \"p\"\nsubjects = [\"account:a\"]\n  [[policy.rule]]\n  endpoints = [\"invoices.*\"]\n  methods = [\"GET\"]\n";

fn load(main: &str, extra: &[(&str, &str)]) -> Result<Snapshot, String> {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("main.toml"), main).expect("write");
    for (name, text) in extra {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    Snapshot::load(&dir.path().join("main.toml"), 1).map_err(|e| e.to_string())
}

fn err(main: &str) -> String {
    match load(main, &[]) {
        Ok(_) => panic!("accepted:\n{main}"),
        Err(e) => e,
    }
}

fn base() -> String {
    format!("{GATEWAY}{TENANT}{ENDPOINTS}{POLICY}")
}

#[test]
fn the_shipped_example_is_valid() {
    let s = Snapshot::load(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/erpgate.toml")),
        1,
    )
    .unwrap_or_else(|e| panic!("conf/erpgate.toml: {e}"));
    assert!(s.catalog.len() >= 20);
    assert_eq!(s.sources.len(), 4);
    assert!(s.schedule.describe().contains("Asia/Karachi"));
    assert_eq!(s.hash.len(), 64);
}

#[test]
fn a_minimal_config_compiles_with_defaults() {
    let s = load(&base(), &[]).expect("valid");
    assert_eq!(s.gateway.threads, 2);
    assert!(s.schedule.describe().starts_with("mon 11:00-20:00"));
    assert!(s
        .gateway
        .database
        .sqlite_path()
        .is_some_and(|p| p.ends_with("x.db") && p.is_absolute()));
    let (_, t) = s.tenant("acme").expect("tenant");
    assert!(t.upstream.tls && t.upstream.port == 443);
}

#[test]
fn includes_merge_and_duplicates_name_both_files() {
    let main = format!("include = [\"t.toml\", \"e.toml\"]\n{GATEWAY}{POLICY}");
    let s = load(&main, &[("t.toml", TENANT), ("e.toml", ENDPOINTS)]).expect("valid");
    assert_eq!(s.sources.len(), 3);
    let e = load(
        &format!("{main}{TENANT}"),
        &[("t.toml", TENANT), ("e.toml", ENDPOINTS)],
    )
    .expect_err("dup");
    assert!(
        e.contains("tenants.acme") && e.contains("already defined in main.toml"),
        "{e}"
    );
    let e = load(
        &main,
        &[
            ("t.toml", &format!("{GATEWAY}{TENANT}")),
            ("e.toml", ENDPOINTS),
        ],
    )
    .expect_err("gw");
    assert!(
        e.contains("t.toml: [gateway] is only allowed in main.toml"),
        "{e}"
    );
    let e = load(&main, &[("e.toml", ENDPOINTS)]).expect_err("missing");
    assert!(e.contains("t.toml: cannot read"), "{e}");
}

#[test]
fn every_mistake_has_a_precise_message() {
    let b = base();
    let cases: Vec<(String, &str)> = vec![
        (format!("{b}\n[gateway2]\nx = 1\n"), "main.toml: gateway2: unknown key (did you mean `gateway`?)"),
        (b.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:80800\""), "gateway.listen: \"127.0.0.1:80800\" is not a socket address"),
        (b.replace("database = \"x.db\"", "database = \"x.db\"\nthreadz = 2"), "main.toml: gateway.threadz: unknown key (did you mean `threads`?)"),
        (b.replace("https://acme.fa.us2.oraclecloud.com", "http://acme.fa.us2.oraclecloud.com"), "tenants.acme.upstream: \"http://acme.fa.us2.oraclecloud.com\" must be https://"),
        (b.replace("https://acme.fa.us2.oraclecloud.com", "https://10.1.2.3"), "private or reserved"),
        (b.replace("https://acme.fa.us2.oraclecloud.com", "https://0x7f.1"), "encoded IP"),
        (b.replace("mode = \"basic\"", "mode = \"kerberos\""), "kerberos"),
        (format!("{b}[schedule]\ntimezone = \"Asia/Atlantis\"\n[[schedule.window]]\ndays = [\"mon\"]\nstart = \"11:00\"\nend = \"20:00\"\n"), "unknown timezone \"Asia/Atlantis\""),
        (format!("{b}[schedule]\ntimezone = \"UTC\"\n[[schedule.window]]\ndays = [\"funday\"]\nstart = \"11:00\"\nend = \"25:00\"\n"), "\"funday\" is not mon..sun"),
        (format!("{b}[schedule]\ntimezone = \"UTC\"\n[[schedule.window]]\ndays = [\"mon\"]\nstart = \"20:00\"\nend = \"11:00\"\n"), "is not after start"),
        (b.replace("endpoints = [\"invoices.*\"]", "endpoints = [\"invoicez\"]"), "policy \"p\" rule 1 (rule-1): endpoint \"invoicez\" is not in the catalog"),
        (b.replace("endpoints = [\"invoices.*\"]", "endpoints = [\"nothing.*\"]"), "glob \"nothing.*\" matches no endpoint"),
        (format!("{GATEWAY}{TENANT}{ENDPOINTS}{}", POLICY.replace("endpoints = [\"invoices.*\"]", "endpoints = [\"invoices.item\"]").replace("methods = [\"GET\"]", "methods = [\"DELETE\"]")), "method DELETE is not served by endpoint \"invoices.item\""),
        (b.replace("subjects = [\"account:a\"]", "subjects = [\"account:a\"]\ntenant = \"nope\""), "tenant \"nope\" is not defined"),
        (b.replace("subjects = [\"account:a\"]", "subjects = [\"everyone\"]"), "\"everyone\" is not account:NAME"),
        (b.replace("subjects = [\"account:a\"]", "subjects = []"), "must list at least one subject"),
        (b.replace("methods = [\"GET\", \"POST\"]", "methods = [\"FETCH\"]"), "unknown method \"FETCH\""),
        (b.replace("/fscmRestApi/resources/{version}/invoices/{id}", "/fscmRestApi/resources/{v}/invoices"), "overlaps endpoint"),
        (b.replace("/fscmRestApi/resources/{version}/invoices/{id}", "/fscmRestApi//invoices"), "is not a literal"),
        (b.replace("/fscmRestApi/resources/{version}/invoices/{id}", "/fscmRestApi/x{id}"), "is not a literal"),
        (format!("{b}[[policy]]\nname = \"p\"\nsubjects = [\"account:b\"]\n  [[policy.rule]]\n  endpoints = [\"invoices.item\"]\n  methods = [\"GET\"]\n"), "policy \"p\": already defined"),
        (format!("{GATEWAY}{ENDPOINTS}{POLICY}"), "no [tenants.*]"),
        (format!("{TENANT}{ENDPOINTS}{POLICY}"), "[gateway] section is missing"),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "wanted {want:?} in:\n{e}");
        assert!(e.contains("main.toml"), "error names the file:\n{e}");
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = base()
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"nope\"")
        .replace("https://acme.fa.us2.oraclecloud.com", "ftp://x");
    let e = err(&text);
    assert!(
        e.contains("gateway.listen") && e.contains("tenants.acme.upstream"),
        "{e}"
    );
}

#[test]
fn redaction_settings_are_validated_with_precise_messages() {
    let b = base();
    let gw_key = |k: &str| {
        b.replace(
            "database = \"x.db\"\n",
            &format!("database = \"x.db\"\n{k}\n"),
        )
    };
    let tenant_rule = |path: &str, action: &str| {
        format!("{b}[[tenants.acme.redact]]\npath = \"{path}\"\naction = \"{action}\"\n")
    };
    let cases: Vec<(String, &str)> = vec![
        (
            tenant_rule("**.IBAN", "hide"),
            "main.toml: tenants.acme.redact[1].action: \"hide\" is not remove, mask or last4",
        ),
        (
            tenant_rule("items[0].IBAN", "mask"),
            "main.toml: tenants.acme.redact[1].path: keys may not contain",
        ),
        (
            tenant_rule("items[]", "mask"),
            "must end with a key",
        ),
        (
            b.replace(
                "subjects = [\"account:a\"]\n",
                "subjects = [\"account:a\"]\nredact = [{ path = \"a..b\", action = \"mask\" }]\n",
            ),
            "main.toml: policy \"p\".redact[1].path: has an empty key",
        ),
        (
            gw_key("public_base_url = \"https://gw.example.com/api\""),
            "main.toml: gateway.public_base_url: \"https://gw.example.com/api\" must be scheme://host[:port] only",
        ),
        (
            gw_key("public_base_url = \"ftp://gw.example.com\""),
            "main.toml: gateway.public_base_url:",
        ),
        (
            gw_key("redaction_mask = \"\""),
            "main.toml: gateway.redaction_mask: must be 1 to 64 printable characters",
        ),
        (
            b.replace(
                "subjects = [\"account:a\"]\n",
                "subjects = [\"account:a\"]\nredact = [{ path = \"x\", action = \"mask\", extra = 1 }]\n",
            ),
            "policy[1].redact[1].extra: unknown key",
        ),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "expected {want:?} in:\n{e}");
    }
}

#[test]
fn redaction_compiles_into_the_snapshot() {
    let text = base()
        .replace(
            "database = \"x.db\"\n",
            "database = \"x.db\"\npublic_base_url = \"https://gw.example.com/\"\nredaction_mask = \"XX\"\n",
        )
        .replace(
            "subjects = [\"account:a\"]\n",
            "subjects = [\"account:a\"]\nredact = [{ path = \"items[].Salary\", action = \"remove\" }]\n",
        )
        + "[[tenants.acme.redact]]\npath = \"**.IBAN\"\naction = \"last4\"\n";
    let s = load(&text, &[]).expect("valid");
    assert_eq!(
        s.gateway.public_base_url.as_deref(),
        Some("https://gw.example.com")
    );
    assert_eq!(s.gateway.redaction_mask, "XX");
    let (t, _) = s.tenant("acme").expect("tenant");
    let only_tenant = s.redaction.for_request(t, 0).expect("tenant rules");
    assert_eq!(only_tenant.rules().len(), 1);
    assert_eq!(only_tenant.mask_text(), "XX");
    let links = only_tenant.links().expect("links");
    assert_eq!(links.to(), b"https://gw.example.com");
    assert_eq!(
        links.matched(b"https://acme.fa.us2.oraclecloud.com:443/x", b'"'),
        Some("https://acme.fa.us2.oraclecloud.com:443".len())
    );
    assert_eq!(
        links.matched(b"https://acme.fa.us2.oraclecloud.com/x", b'"'),
        Some("https://acme.fa.us2.oraclecloud.com".len())
    );
    let with_policy = s.redaction.for_request(t, 1).expect("policy slot 0");
    let sources: Vec<&str> = with_policy
        .rules()
        .iter()
        .map(|r| r.source.as_str())
        .collect();
    assert_eq!(sources, ["**.IBAN", "items[].Salary"]);
}

#[test]
fn rate_limits_are_validated_and_slotted() {
    let b = base();
    let with = |rl: &str| {
        b.replace(
            "subjects = [\"account:a\"]\n",
            &format!("subjects = [\"account:a\"]\nrate_limit = {rl}\n"),
        )
    };
    for (rl, want) in [
        (
            "{ per = \"tenant\", requests_per_second = 1 }",
            "main.toml: policy \"p\".rate_limit.per: \"tenant\" is not credential or account",
        ),
        (
            "{ per = \"account\", requests_per_second = 0 }",
            "rate_limit.requests_per_second: 0 must be above 0",
        ),
        (
            "{ per = \"account\", requests_per_second = 5, burst = 0 }",
            "rate_limit.burst: must be at least 1",
        ),
        (
            "{ per = \"account\" }",
            "policy[1].rate_limit.requests_per_second: required key is missing",
        ),
    ] {
        let e = err(&with(rl));
        assert!(e.contains(want), "expected {want:?} in:\n{e}");
    }
    let s = load(
        &with("{ per = \"credential\", requests_per_second = 2.5 }"),
        &[],
    )
    .expect("valid");
    assert_eq!(s.rate_limits.len(), 1);
    assert_eq!(
        s.rate_limits[0].burst, 3.0,
        "default burst: one second's worth"
    );
}

const JWT_TENANT: &str = "[tenants.initech]\nupstream = \"https://initech.fa.us2.oraclecloud.com\"\n[tenants.initech.upstream_auth]\nmode = \"jwt\"\nissuer = \"erpgate\"\n";

#[test]
fn jwt_mode_and_inbound_trust_compile() {
    let (_, cert) = crate::jwt::cert::generate("fusion", 1).expect("cert");
    let inbound = "[tenants.initech.inbound_jwt]\nissuers = [\"https://initech.fa.oraclecloud.com\"]\ncertificates = [\"fusion.pem\"]\naudience = \"erpgate\"\nclock_skew_seconds = 30\nroles_claim = \"roles\"\n";
    let main = format!("{}{JWT_TENANT}{inbound}", base());
    let s = load(&main, &[("fusion.pem", &cert.to_pem())]).expect("valid");
    let (_, t) = s.tenant("initech").expect("tenant");
    match &t.auth {
        crate::snapshot::UpstreamAuth::Jwt {
            issuer, lifetime, ..
        } => assert_eq!((issuer.as_str(), *lifetime), ("erpgate", 1800)),
        other => panic!("{other:?}"),
    }
    let trust = t.inbound.as_ref().expect("inbound");
    assert_eq!(trust.skew, 30);
    assert_eq!(trust.audience.as_deref(), Some("erpgate"));
    assert_eq!(trust.certs[0].alias, "fusion");
    assert_eq!(trust.certs[0].cert.x5t(), cert.x5t());
}

#[test]
fn identity_settings_are_checked() {
    let (_, cert) = crate::jwt::cert::generate("fusion", 1).expect("cert");
    let pem = cert.to_pem();
    // Inbound users need jwt mode: never relayed as the integration user.
    let basic_inbound = format!(
        "{}[tenants.acme.inbound_jwt]\nissuers = [\"i\"]\ncertificates = [\"c.pem\"]\n",
        base()
    );
    let e = load(&basic_inbound, &[("c.pem", &pem)]).expect_err("refused");
    assert!(
        e.contains("tenants.acme.inbound_jwt: needs upstream_auth mode = \"jwt\""),
        "{e}"
    );
    // Missing and non-certificate files, empty lists, bad sizes.
    let inbound = |body: &str| {
        format!(
            "{}{JWT_TENANT}[tenants.initech.inbound_jwt]\n{body}",
            base()
        )
    };
    let e = err(&inbound(
        "issuers = [\"i\"]\ncertificates = [\"missing.pem\"]\n",
    ));
    assert!(
        e.contains("tenants.initech.inbound_jwt.certificates: cannot read"),
        "{e}"
    );
    let e = load(
        &inbound("issuers = [\"i\"]\ncertificates = [\"k.pem\"]\n"),
        &[(
            "k.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )],
    )
    .expect_err("refused");
    assert!(e.contains("where a CERTIFICATE was expected"), "{e}");
    let e = err(&inbound(
        "issuers = []\ncertificates = []\nmax_token_bytes = 100\nclock_skew_seconds = 9999\n",
    ));
    for key in [
        "issuers: list at least one",
        "certificates: list at least one",
        "max_token_bytes: 100",
        "clock_skew_seconds: 9999",
    ] {
        assert!(e.contains(key), "{key}: {e}");
    }
    // Outbound settings.
    let e = err(&format!(
        "{}[tenants.initech]\nupstream = \"https://i.example.com\"\n[tenants.initech.upstream_auth]\nmode = \"jwt\"\nissuer = \"\"\nlifetime_seconds = 5\n",
        base()
    ));
    assert!(e.contains("upstream_auth.issuer: must be"), "{e}");
    assert!(e.contains("lifetime_seconds: 5 is outside"), "{e}");
    // One issuer selects one tenant.
    let two = format!(
        "{}{JWT_TENANT}[tenants.initech.inbound_jwt]\nissuers = [\"i\"]\ncertificates = [\"c.pem\"]\naudience = \"a\"\n[tenants.other]\nupstream = \"https://o.example.com\"\n[tenants.other.upstream_auth]\nmode = \"jwt\"\nissuer = \"x\"\n[tenants.other.inbound_jwt]\nissuers = [\"i\"]\ncertificates = [\"c.pem\"]\naudience = \"a\"\n",
        base()
    );
    let e = load(&two, &[("c.pem", &pem)]).expect_err("refused");
    assert!(e.contains("\"i\" is already trusted by tenant"), "{e}");
}

#[test]
fn inbound_tokens_need_an_audience_or_an_explicit_opt_out() {
    let (_, cert) = crate::jwt::cert::generate("fusion", 1).expect("cert");
    let pem = cert.to_pem();
    let inbound = |extra: &str| {
        format!(
            "{}{JWT_TENANT}[tenants.initech.inbound_jwt]\nissuers = [\"i\"]\ncertificates = [\"c.pem\"]\n{extra}",
            base()
        )
    };
    // No audience: any token Fusion issued for any destination would do. Refused, named.
    let e = load(&inbound(""), &[("c.pem", &pem)]).expect_err("refused");
    assert!(
        e.contains("tenants.initech.inbound_jwt.audience: required"),
        "{e}"
    );
    let e = load(&inbound("audience_check = true\n"), &[("c.pem", &pem)]).expect_err("refused");
    assert!(e.contains("inbound_jwt.audience: required"), "{e}");
    // Both an audience and the opt-out: a contradiction, not a silent choice.
    let e = load(
        &inbound("audience = \"erpgate\"\naudience_check = false\n"),
        &[("c.pem", &pem)],
    )
    .expect_err("refused");
    assert!(
        e.contains("inbound_jwt.audience_check: false contradicts"),
        "{e}"
    );
    // The explicit opt-out compiles, with no audience to check.
    let s = load(&inbound("audience_check = false\n"), &[("c.pem", &pem)]).expect("valid");
    let trust = s
        .tenant("initech")
        .expect("tenant")
        .1
        .inbound
        .as_ref()
        .expect("trust");
    assert_eq!(trust.audience, None);
    let s = load(&inbound("audience = \"erpgate\"\n"), &[("c.pem", &pem)]).expect("valid");
    let trust = s
        .tenant("initech")
        .expect("tenant")
        .1
        .inbound
        .as_ref()
        .expect("trust");
    assert_eq!(trust.audience.as_deref(), Some("erpgate"));
}

#[test]
fn token_mode_is_checked() {
    let tenant = |extra: &str| {
        format!(
            "{}[tenants.umbrella]\nupstream = \"https://u.example.com\"\n[tenants.umbrella.upstream_auth]\nmode = \"token\"\nusername = \"FIN\"\nsecret = \"pw\"\n{extra}",
            base()
        )
    };
    let s = load(&tenant(""), &[]).expect("valid");
    match &s.tenant("umbrella").expect("tenant").1.auth {
        crate::snapshot::UpstreamAuth::Token { token_path, .. } => {
            assert_eq!(token_path, "/fscmRestApi/tokenrelay")
        }
        other => panic!("{other:?}"),
    }
    let e = err(&tenant("token_path = \"relay here\"\n"));
    assert!(
        e.contains("upstream_auth.token_path: \"relay here\" must be an absolute path"),
        "{e}"
    );
}

#[test]
fn audit_retention_cannot_go_below_the_configured_minimum() {
    let main = base().replacen("[gateway]\n", "[gateway]\naudit_retention_days = 7\n", 1);
    let e = err(&main);
    assert!(
        e.contains(
            "gateway.audit_retention_days: 7 is below gateway.audit_min_retention_days (30)"
        ),
        "{e}"
    );
    let main = base().replacen(
        "[gateway]\n",
        "[gateway]\naudit_retention_days = 7\naudit_min_retention_days = 7\n",
        1,
    );
    let s = load(&main, &[]).expect("a deliberately lowered minimum is accepted");
    assert_eq!(s.gateway.audit_min_retention_days, 7);
    assert_eq!(
        load(&base(), &[])
            .expect("default")
            .gateway
            .audit_min_retention_days,
        30
    );
    let main = base().replacen(
        "[gateway]\n",
        "[gateway]\naudit_min_retention_days = 0\n",
        1,
    );
    assert!(err(&main).contains("gateway.audit_min_retention_days: 0 is out of range 1..=36500"));
}

#[test]
fn page_integration_compiles_and_its_mistakes_are_named() {
    let (_, cert) = crate::jwt::cert::generate("fusion", 1).expect("cert");
    let pem = cert.to_pem();
    let inbound = "[tenants.initech.inbound_jwt]\nissuers = [\"https://initech.fa.oraclecloud.com\"]\ncertificates = [\"fusion.pem\"]\naudience = \"erpgate\"\n";
    let with = |page: &str, inbound: &str| {
        format!(
            "{}{JWT_TENANT}{inbound}[tenants.initech.page_integration]\n{page}",
            base()
        )
    };
    let ok = with(
        "launch_path = \"/launch/initech\"\norigin = \"https://erpgate.initech.example\"\n",
        inbound,
    );
    let s = load(&ok, &[("fusion.pem", &pem)]).expect("valid");
    let pi = s
        .tenant("initech")
        .and_then(|(_, t)| t.page_integration.clone())
        .expect("page integration");
    assert_eq!(pi.launch_path, "/launch/initech");
    assert_eq!(pi.token_parameter, "jwt");
    assert_eq!(pi.origin, "https://erpgate.initech.example");
    assert_eq!(pi.session_max, 3600);
    assert_eq!(pi.audience, None);
    assert_eq!(
        s.tenant("initech")
            .and_then(|(_, t)| t.inbound.as_ref())
            .and_then(|i| i.refused_audience.clone()),
        None
    );
    // A launch audience of its own: the Bearer path refuses it.
    let own = with(
        "launch_path = \"/launch/initech\"\norigin = \"https://erpgate.initech.example\"\naudience = \"erpgate-launch\"\n",
        inbound,
    );
    let s = load(&own, &[("fusion.pem", &pem)]).expect("valid");
    let (_, t) = s.tenant("initech").expect("tenant");
    assert_eq!(
        t.page_integration
            .as_ref()
            .and_then(|p| p.audience.as_deref()),
        Some("erpgate-launch")
    );
    assert_eq!(
        t.inbound
            .as_ref()
            .and_then(|i| i.refused_audience.as_deref()),
        Some("erpgate-launch")
    );
    // A second tenant's launch path may not be the first's, nor one of its sub-routes.
    let second = |path: &str| {
        format!(
            "{}{}{inbound}[tenants.initech.page_integration]\nlaunch_path = \"/l\"\norigin = \"https://g.example\"\n{}{}[tenants.globex.page_integration]\nlaunch_path = \"{path}\"\norigin = \"https://g.example\"\n",
            base(),
            JWT_TENANT,
            JWT_TENANT.replace("initech", "globex"),
            inbound.replace("initech", "globex"),
        )
    };
    assert!(load(&second("/l2"), &[("fusion.pem", &pem)]).is_ok());
    for path in ["/l", "/l/end", "/l/session"] {
        let e = load(&second(path), &[("fusion.pem", &pem)]).expect_err(path);
        let (a, b) = (
            format!(
                "tenants.globex.page_integration.launch_path: \"{path}\" is also tenant initech's"
            ),
            format!(
                "tenants.initech.page_integration.launch_path: \"{path}\" is also tenant globex's"
            ),
        );
        assert!(e.contains(&a) || e.contains(&b), "{path}: {e}");
    }
    for (page, inbound, want) in [
        (
            "launch_path = \"/l\"\norigin = \"https://g.example\"\naudience = \"erpgate\"\n",
            inbound,
            "page_integration.audience: \"erpgate\" is also inbound_jwt.audience",
        ),
        (
            "launch_path = \"/l\"\norigin = \"https://g.example\"\naudience = \"\"\n",
            inbound,
            "page_integration.audience: \"\" must be 1-256 characters",
        ),
        (
            "launch_path = \"/l\"\norigin = \"https://g.example\"\n",
            "",
            "page_integration: needs [tenants.initech.inbound_jwt]",
        ),
        (
            "launch_path = \"launch\"\norigin = \"https://g.example\"\n",
            inbound,
            "page_integration.launch_path: \"launch\" must be an absolute path",
        ),
        (
            "launch_path = \"/a/../b\"\norigin = \"https://g.example\"\n",
            inbound,
            "page_integration.launch_path: \"/a/../b\"",
        ),
        (
            "launch_path = \"/portal/x\"\norigin = \"https://g.example\"\n",
            inbound,
            "is under /portal",
        ),
        (
            "launch_path = \"/fscmRestApi/resources/v1/invoices\"\norigin = \"https://g.example\"\n",
            inbound,
            "is a catalog endpoint's path",
        ),
        (
            "launch_path = \"/l\"\norigin = \"http://g.example\"\n",
            inbound,
            "browser sessions need https",
        ),
        (
            "launch_path = \"/l\"\norigin = \"https://g.example/app\"\n",
            inbound,
            "must be scheme://host[:port] only",
        ),
        (
            "launch_path = \"/l\"\norigin = \"https://g.example\"\ntoken_parameter = \"a b\"\n",
            inbound,
            "token_parameter: \"a b\"",
        ),
        (
            "launch_path = \"/l\"\norigin = \"https://g.example\"\nsession_max_minutes = 0\n",
            inbound,
            "session_max_minutes: 0 is outside",
        ),
    ] {
        let e = load(&with(page, inbound), &[("fusion.pem", &pem)]).expect_err(want);
        assert!(e.contains(want), "{want}: {e}");
    }
}
