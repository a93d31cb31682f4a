//! The operator portal over HTTP, as a browser's forms speak to it: the login with its second
//! factor (enrolment, replay refused, recovery codes), the session cookie's flags and its
//! rotation, CSRF (form token and origin), the kill switch with its confirmation and reason,
//! roles, a disabled user losing access at once, the lockout, and an audit trail without a
//! password or a code in it.

mod support;

use support::portal::{self, csrf, totp_at, totp_now, Client};

fn location(r: &support::Response) -> &str {
    r.header("location").unwrap_or("")
}

fn records(p: &portal::Portal) -> Vec<serde_json::Value> {
    p.admin.gw.audit(&[])
}

/// The rows of the overview's table `id` are exactly `rows` (in any order).
fn table_rows(page: &str, id: &str, rows: &[String]) {
    let table = portal::between(page, &format!("<table id=\"{id}\">"), "</table>");
    assert_eq!(table.matches("<tr><td>").count(), rows.len(), "{table}");
    assert!(
        rows.iter().all(|r| table.contains(r.as_str())),
        "{table} {rows:?}"
    );
}

fn find<'a>(
    recs: &'a [serde_json::Value],
    method: &str,
    decision: &str,
) -> Vec<&'a serde_json::Value> {
    recs.iter()
        .filter(|r| r["method"] == method && r["decision"] == decision)
        .collect()
}

#[test]
fn owner_logs_in_with_a_second_factor_and_flips_the_kill_switch() {
    let p = portal::start();
    let mut c = p.client();

    // Nothing without a session; the portal is not on the public listener.
    let r = c.get("/portal/overview");
    assert_eq!((r.status, location(&r)), (303, "/portal/login"));
    let public = p.admin.gw.get("/portal/login", &[]);
    assert_ne!(
        public.status, 200,
        "the public listener must not serve the portal"
    );
    assert!(!public.text().contains("Log in"));

    // The login page: no inline script, no framing.
    let r = c.get("/portal/login");
    assert_eq!(r.status, 200);
    let csp = r
        .header("content-security-policy")
        .expect("csp")
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!r.text().contains("<script>"), "no inline script");
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // Another host name (a DNS-rebinding page) gets nothing.
    let raw = format!(
        "GET /portal/login HTTP/1.1\r\nHost: rebound.example:{}\r\nConnection: close\r\n\r\n",
        c.addr.port()
    );
    let r = support::http::raw(c.addr, raw.as_bytes()).expect("answer");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("does not answer to that host name"));

    // A login form from another origin, or without one, is refused before any check.
    let form = [
        ("username", "root-owner"),
        ("password", p.owner_password.as_str()),
    ];
    let r = c.send(
        "POST",
        "/portal/login",
        Some(&form),
        Some("http://evil.example"),
    );
    assert_eq!(r.status, 403);
    let r = c.send("POST", "/portal/login", Some(&form), None);
    assert_eq!(r.status, 403);
    assert!(c.cookie.is_none());

    // A wrong password: no session.
    let r = c.post(
        "/portal/login",
        &[
            ("username", "root-owner"),
            ("password", "not the password at all"),
        ],
    );
    assert_eq!(r.status, 401);
    assert!(r.text().contains("Wrong user name or password."));
    assert!(c.cookie.is_none());

    // The right one: a half session (second factor due) in a __Host- cookie.
    let r = c.post("/portal/login", &form);
    assert_eq!((r.status, location(&r)), (303, "/portal/mfa"));
    let set = c.last_set_cookie.clone().expect("cookie");
    for flag in [
        "__Host-erpgate-portal=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=43200",
    ] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let half = c.cookie.clone().expect("session");
    // The half session reaches no page.
    let r = c.get("/portal/overview");
    assert_eq!((r.status, location(&r)), (303, "/portal/mfa"));

    // Enrolment: a wrong code gives a fresh secret; the right one the recovery codes, once.
    let page = c.get("/portal/mfa").text();
    assert!(page.contains("<svg"), "a QR code rendered here");
    let key = portal::between(&page, "<code id=\"totp-key\">", "</code>");
    let secret = portal::base32_decode(&key);
    let wrong = c.post(
        "/portal/mfa/enroll",
        &[
            ("csrf", &csrf(&page)),
            ("pending", &portal::field(&page, "pending")),
            ("code", &totp_at(&secret, 5)),
        ],
    );
    assert_eq!(wrong.status, 200);
    assert!(wrong.text().contains("That code is not right"));
    let page = wrong.text();
    let key = portal::between(&page, "<code id=\"totp-key\">", "</code>");
    let secret = portal::base32_decode(&key);
    let code = totp_now(&secret);
    let done = c.post(
        "/portal/mfa/enroll",
        &[
            ("csrf", &csrf(&page)),
            ("pending", &portal::field(&page, "pending")),
            ("code", &code),
        ],
    );
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(done.text().contains("shown once"));
    let list = portal::between(&done.text(), "<ol id=\"recovery-codes\">", "</ol>");
    let recovery: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap_or("").to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    // The session id changed at the step up; the old one is worth nothing.
    let full = c.cookie.clone().expect("session");
    assert_ne!(full, half);
    let mut stale = p.client();
    stale.cookie = Some(half);
    let r = stale.get("/portal/overview");
    assert_eq!((r.status, location(&r)), (303, "/portal/login"));

    // The overview.
    let r = c.get("/portal/overview");
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains(r#"id="killswitch-state">OFF<"#), "{page}");
    assert!(page.contains("open now"), "{page}");
    let tenants = portal::between(&page, "<table id=\"tenants\">", "</table>");
    assert!(
        tenants.contains("<td>acme</td>") && tenants.contains("<td>Basic</td>"),
        "{tenants}"
    );
    assert!(
        tenants.contains("<td>globex</td>") && tenants.contains("<td>API key</td>"),
        "{tenants}"
    );
    let token = csrf(&page);

    // The kill switch: the form token, the origin, the confirmation and a reason are all needed.
    let on = [
        ("csrf", token.as_str()),
        ("state", "on"),
        ("confirm", "yes"),
        ("reason", "incident 42: suspected leak"),
    ];
    let r = c.post(
        "/portal/killswitch",
        &[("state", "on"), ("confirm", "yes"), ("reason", "x")],
    );
    assert_eq!(r.status, 403);
    let r = c.send(
        "POST",
        "/portal/killswitch",
        Some(&on),
        Some("http://evil.example"),
    );
    assert_eq!(r.status, 403);
    let r = c.post(
        "/portal/killswitch",
        &[("csrf", &token), ("state", "on"), ("reason", "x")],
    );
    assert_eq!(r.status, 400);
    let r = c.post(
        "/portal/killswitch",
        &[
            ("csrf", &token),
            ("state", "on"),
            ("confirm", "yes"),
            ("reason", " "),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        p.admin
            .gw
            .get_as(
                &p.admin.gw.issue("ap-sync"),
                "/fscmRestApi/resources/11.13.18.05/invoices"
            )
            .status,
        200
    );
    let r = c.post("/portal/killswitch", &on);
    assert_eq!((r.status, location(&r)), (303, "/portal/overview?m=on"));
    // The relay refuses at once; the portal keeps working.
    let cred = p.admin.gw.issue("ap-sync");
    let relayed = p
        .admin
        .gw
        .get_as(&cred, "/fscmRestApi/resources/11.13.18.05/invoices");
    assert_eq!(relayed.error_code(), "killswitch.on");
    let page = c.get("/portal/overview").text();
    assert!(page.contains(r#"id="killswitch-state">ON<"#));
    let off = [
        ("csrf", token.as_str()),
        ("state", "off"),
        ("confirm", "yes"),
        ("reason", "contained"),
    ];
    assert_eq!(c.post("/portal/killswitch", &off).status, 303);
    let relayed = p
        .admin
        .gw
        .get_as(&cred, "/fscmRestApi/resources/11.13.18.05/invoices");
    assert_eq!(relayed.status, 200);

    // The last hour: the overview counts the trail's request records by decision, and the
    // refusals by reason, as the trail itself holds them (once the last one is written).
    p.admin
        .gw
        .audit_record(relayed.header("x-request-id").expect("request id"));
    let (decisions, reasons) = support::summary::counted(&records(&p), "");
    assert!(
        decisions.iter().any(|(d, n)| d == "relayed" && *n >= 2)
            && reasons.iter().any(|(r, n)| r == "killswitch.on" && *n == 1),
        "{decisions:?} {reasons:?}"
    );
    let page = c.get("/portal/overview").text();
    let rows: Vec<String> = decisions
        .iter()
        .map(|(d, n)| format!("<tr><td>{d}</td><td>{n}</td></tr>"))
        .collect();
    table_rows(&page, "decisions", &rows);
    let rows: Vec<String> = reasons
        .iter()
        .take(5)
        .map(|(r, n)| format!("<tr><td><code>{r}</code></td><td>{n}</td></tr>"))
        .collect();
    table_rows(&page, "reasons", &rows);

    // Log out: the cookie is cleared and the session gone.
    let page = c.get("/portal/overview").text();
    let r = c.post("/portal/logout", &[("csrf", &csrf(&page))]);
    assert_eq!((r.status, location(&r)), (303, "/portal/login?m=out"));
    assert!(c
        .last_set_cookie
        .as_deref()
        .is_some_and(|s| s.contains("Max-Age=0")));
    let mut old = p.client();
    old.cookie = Some(full);
    assert_eq!(location(&old.get("/portal/overview")), "/portal/login");

    // Again: the code used at the enrolment is refused (replay); a recovery code works once.
    let r = c.post("/portal/login", &form);
    assert_eq!(location(&r), "/portal/mfa");
    let page = c.get("/portal/mfa").text();
    assert!(page.contains("six-digit code"), "{page}");
    let r = c.post("/portal/mfa", &[("csrf", &csrf(&page)), ("code", &code)]);
    assert_eq!(r.status, 401, "a code is good once");
    let r = c.post(
        "/portal/mfa",
        &[("csrf", &csrf(&page)), ("recovery", &recovery[0])],
    );
    assert_eq!((r.status, location(&r)), (303, "/portal/overview"));
    let mut other = p.client();
    assert_eq!(location(&other.post("/portal/login", &form)), "/portal/mfa");
    let page = other.get("/portal/mfa").text();
    let r = other.post(
        "/portal/mfa",
        &[("csrf", &csrf(&page)), ("recovery", &recovery[0])],
    );
    assert_eq!(r.status, 401, "a recovery code is used up");
    let r = other.post(
        "/portal/mfa",
        &[("csrf", &csrf(&page)), ("code", &totp_at(&secret, 1))],
    );
    assert_eq!(
        (r.status, location(&r)),
        (303, "/portal/overview"),
        "the next step's code is fresh"
    );

    // The trail: the logins, the failures with the address, the enrolment, the kill switch
    // with its reason; never the password, a code or a recovery code.
    p.admin.gw.eventually("the portal's records", || {
        find(&records(&p), "killswitch.off", "ok").len() == 1
    });
    let recs = records(&p);
    let on = find(&recs, "killswitch.on", "ok");
    assert_eq!(on.len(), 1);
    assert_eq!(on[0]["actor"], "portal:root-owner");
    assert_eq!(on[0]["note"]["reason"], "incident 42: suspected leak");
    assert!(find(&recs, "portal.login", "ok").len() >= 3);
    let refused = find(&recs, "portal.login", "refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["note"]["address"], "127.0.0.1");
    assert_eq!(refused[0]["note"]["reason"], "wrong_password");
    assert_eq!(find(&recs, "portal.mfa_enroll", "ok").len(), 1);
    assert_eq!(find(&recs, "portal.mfa_enroll", "refused").len(), 1);
    assert_eq!(find(&recs, "portal.mfa", "refused").len(), 2);
    let all = serde_json::to_string(&recs).expect("json") + &p.admin.gw.log_text();
    for secret_text in [
        p.owner_password.as_str(),
        code.as_str(),
        recovery[0].as_str(),
        recovery[1].as_str(),
        key.as_str(),
    ] {
        assert!(
            !all.contains(secret_text),
            "{secret_text} leaked into the trail or the log"
        );
    }
}

fn reset_self(owner: &mut Client) {
    let page = owner.get("/portal/users").text();
    let r = owner.post("/portal/users/root-owner/reset", &[("csrf", &csrf(&page))]);
    assert_eq!(r.status, 200, "{}", r.text());
    let fresh = portal::between(&r.text(), "<code id=\"one-time\">", "</code>");
    assert!(r.text().contains("Your new password"));
    assert_eq!(
        location(&owner.get("/portal/overview")),
        "/portal/login",
        "the session ended"
    );
    let (secret, _) = owner
        .login_and_enroll("root-owner", &fresh)
        .expect("the second factor is set up again");
    assert!(!secret.is_empty());
    assert_eq!(owner.get("/portal/overview").status, 200);
}

fn login_owner(p: &portal::Portal) -> (Client, Vec<u8>) {
    let mut c = p.client();
    let (secret, _) = c
        .login_and_enroll(&p.owner, &p.owner_password)
        .expect("an owner enrols");
    (c, secret)
}

#[test]
fn roles_bound_what_a_user_sees_and_a_disabled_user_is_out_at_once() {
    let p = portal::start();
    let (mut owner, _) = login_owner(&p);

    // The owner creates an auditor: the password is shown once, never on a reload.
    let page = owner.get("/portal/users").text();
    let r = owner.post(
        "/portal/users",
        &[
            ("csrf", &csrf(&page)),
            ("name", "audit.kim"),
            ("role", "auditor"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let password = portal::between(&r.text(), "<code id=\"one-time\">", "</code>");
    assert!(password.len() >= 20);
    let again = owner.get("/portal/users").text();
    assert!(again.contains("audit.kim") && !again.contains(&password));
    // A name or role that is no good is refused with the reason.
    let r = owner.post(
        "/portal/users",
        &[
            ("csrf", &csrf(&page)),
            ("name", "Bad Name"),
            ("role", "auditor"),
        ],
    );
    assert_eq!(r.status, 400);
    let r = owner.post(
        "/portal/users",
        &[
            ("csrf", &csrf(&page)),
            ("name", "audit.kim"),
            ("role", "auditor"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("already exists"), "{}", r.text());

    // The auditor needs no second factor, sees the overview without the switch, and is
    // refused the switch and the users page.
    let mut kim = p.client();
    assert!(kim.login_and_enroll("audit.kim", &password).is_none());
    let page = kim.get("/portal/overview").text();
    assert!(page.contains("killswitch-state") && !page.contains("action=\"/portal/killswitch\""));
    let r = kim.post(
        "/portal/killswitch",
        &[
            ("csrf", &csrf(&page)),
            ("state", "on"),
            ("confirm", "yes"),
            ("reason", "x"),
        ],
    );
    assert_eq!(r.status, 403);
    assert_eq!(kim.get("/portal/users").status, 403);
    // An auditor may set up a second factor of their own accord; then it is asked for.
    let out = p.admin.gw.ok(&[
        "portal-user",
        "create",
        "--name",
        "audit.lee",
        "--role",
        "auditor",
        "--json",
    ]);
    let lee_pw: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let lee_pw = lee_pw["password"].as_str().expect("password").to_string();
    let mut lee = p.client();
    assert!(lee.login_and_enroll("audit.lee", &lee_pw).is_none());
    let page = lee.get("/portal/mfa/setup").text();
    let secret =
        portal::base32_decode(&portal::between(&page, "<code id=\"totp-key\">", "</code>"));
    let r = lee.post(
        "/portal/mfa/enroll",
        &[
            ("csrf", &csrf(&page)),
            ("pending", &portal::field(&page, "pending")),
            ("code", &totp_now(&secret)),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("recovery-codes"));
    let mut again = p.client();
    let r = again.post(
        "/portal/login",
        &[("username", "audit.lee"), ("password", &lee_pw)],
    );
    assert_eq!(
        location(&r),
        "/portal/mfa",
        "enrolled: the second factor is due"
    );

    // Disabled by the owner: the auditor's very next request finds no session.
    let page = owner.get("/portal/users").text();
    let r = owner.post("/portal/users/audit.kim/disable", &[("csrf", &csrf(&page))]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = kim.get("/portal/overview");
    assert_eq!((r.status, location(&r)), (303, "/portal/login"));
    let r = kim.post(
        "/portal/login",
        &[("username", "audit.kim"), ("password", &password)],
    );
    assert_eq!(r.status, 401, "a disabled user cannot log in");

    // Enabled and promoted by the CLI: a role change ends the session too.
    p.admin.gw.ok(&["portal-user", "enable", "audit.kim"]);
    assert!(kim.login_and_enroll("audit.kim", &password).is_none());
    assert_eq!(kim.get("/portal/overview").status, 200);
    p.admin
        .gw
        .ok(&["portal-user", "role", "audit.kim", "admin"]);
    assert_eq!(location(&kim.get("/portal/overview")), "/portal/login");
    // Now an admin, the second factor is due at the next login.
    assert!(kim.login_and_enroll("audit.kim", &password).is_some());
    assert_eq!(kim.get("/portal/overview").status, 200);

    // An owner resetting themselves sees the new password once and logs in again with it.
    reset_self(&mut owner);

    // The last owner cannot be disabled or demoted, here or by the CLI.
    let page = owner.get("/portal/users").text();
    let r = owner.post(
        "/portal/users/root-owner/disable",
        &[("csrf", &csrf(&page))],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("last active owner"), "{}", r.text());
    let out = p
        .admin
        .gw
        .cli(&["portal-user", "role", "root-owner", "auditor"]);
    assert!(!out.status.success());
    let list = p.admin.gw.ok(&["portal-user", "list"]);
    assert!(
        list.contains("root-owner") && list.contains("audit.kim") && list.contains("set up"),
        "{list}"
    );
    assert!(!list.contains(&password));
}

#[test]
fn guessing_locks_the_user_and_is_audited() {
    let p = portal::start();
    let mut c = p.client();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = c.post(
            "/portal/login",
            &[
                ("username", "root-owner"),
                ("password", &format!("wrong-guess-number-{i}")),
            ],
        );
        statuses.push(r.status);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 429, 429],
        "locked at the fifth failure"
    );
    // Locked: the right password too, and the page says for how long.
    let r = c.post(
        "/portal/login",
        &[("username", "root-owner"), ("password", &p.owner_password)],
    );
    assert_eq!(r.status, 429);
    assert!(r.text().contains("Try again in"));
    assert!(c.cookie.is_none());
    p.admin.gw.eventually("the lockout record", || {
        !find(&records(&p), "portal.lockout", "refused").is_empty()
    });
    // An unknown user's name is not written down (it may be a password in the wrong box).
    let r = c.post(
        "/portal/login",
        &[
            ("username", "Tr0ub4dor&3-typed-here"),
            ("password", "whatever-it-is"),
        ],
    );
    assert_eq!(r.status, 429, "the address is locked too");
    let recs = records(&p);
    let text = serde_json::to_string(&recs).expect("json");
    assert!(!text.contains("Tr0ub4dor"), "{text}");
    assert!(!text.contains("wrong-guess-number"), "{text}");
}

#[test]
fn accounts_credentials_explain_audit_and_settings_from_the_portal() {
    let p = portal::start();
    let (mut owner, _) = login_owner(&p);
    let gw = &p.admin.gw;
    const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices";

    // Accounts: the list, the search, and one created here (nothing granted to it).
    let page = owner.get("/portal/accounts").text();
    assert!(
        page.contains(">ap-sync<") && page.contains(">hr-reader<"),
        "{page}"
    );
    let found = owner.get("/portal/accounts?q=hr").text();
    assert!(found.contains(">hr-reader<") && !found.contains(">ap-sync<"));
    let r = owner.post(
        "/portal/accounts",
        &[
            ("csrf", &csrf(&page)),
            ("name", "portal-made"),
            ("tenant", "acme"),
        ],
    );
    assert_eq!(
        (r.status, location(&r)),
        (303, "/portal/accounts/portal-made?m=created")
    );
    let made = owner.get("/portal/accounts/portal-made").text();
    assert!(made.contains("no policy names this account"), "{made}");
    let r = owner.post(
        "/portal/accounts",
        &[
            ("csrf", &csrf(&page)),
            ("name", "x-tenant"),
            ("tenant", "nowhere"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("nowhere"), "the unknown tenant is named");

    // An account's page: what the policies grant it; a credential set issued, shown once.
    let page = owner.get("/portal/accounts/ap-sync").text();
    assert!(
        page.contains("ap-automation") && page.contains("invoices.collection"),
        "{page}"
    );
    let r = owner.post("/portal/accounts/ap-sync/issue", &[("csrf", &csrf(&page))]);
    assert_eq!(r.status, 200, "{}", r.text());
    let banner = r.text();
    let user = portal::between(&banner, "<code id=\"cred-user\">", "</code>");
    let pass = portal::between(&banner, "<code id=\"cred-password\">", "</code>");
    let key = portal::between(&banner, "<code id=\"cred-key\">", "</code>");
    let basic = support::basic(&user, &pass);
    assert_eq!(gw.get(INVOICES, &[("Authorization", &basic)]).status, 200);
    assert_eq!(gw.get(INVOICES, &[("x-api-key", &key)]).status, 200);
    let again = owner.get("/portal/accounts/ap-sync").text();
    assert!(again.contains(&user) && !again.contains(&pass) && !again.contains(&key));
    // Suspended and resumed from the page: the relay follows at once.
    let r = owner.post(
        "/portal/accounts/ap-sync/suspend",
        &[("csrf", &csrf(&again))],
    );
    assert_eq!(location(&r), "/portal/accounts/ap-sync?m=suspend");
    assert_eq!(
        gw.get(INVOICES, &[("x-api-key", &key)]).error_code(),
        "account.suspended"
    );
    let r = owner.post(
        "/portal/accounts/ap-sync/resume",
        &[("csrf", &csrf(&again))],
    );
    assert_eq!(location(&r), "/portal/accounts/ap-sync?m=resume");
    assert_eq!(gw.get(INVOICES, &[("x-api-key", &key)]).status, 200);
    // Revoked: refused from the next request on.
    let id = portal::between(&banner, "credential set <code>", "</code>");
    let r = owner.post(
        &format!("/portal/credentials/{id}/revoke"),
        &[("csrf", &csrf(&again))],
    );
    assert_eq!(location(&r), "/portal/accounts/ap-sync?m=revoke");
    assert_eq!(
        gw.get(INVOICES, &[("x-api-key", &key)]).error_code(),
        "credential.revoked"
    );

    // Explain: the relay's own answer for an account and a request, right now.
    let explain = |who: &str, target: &str| {
        let q = format!(
            "/portal/policies?who={who}&method=GET&target={}",
            percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC)
        );
        let page = p.client_with(&owner).get(&q).text();
        portal::between(&page, "<strong id=\"decision\">", "</strong>")
    };
    assert_eq!(
        explain("ap-sync", &format!("{INVOICES}?limit=5")),
        "relayed"
    );
    assert!(explain("hr-reader", INVOICES).starts_with("refused: 403 policy.denied"));
    assert!(
        explain("portal-made", "/fscmRestApi/resources/11.13.18.05/nothing")
            .starts_with("refused: 404")
    );
    let policies = owner.get("/portal/policies").text();
    assert!(policies.contains("hr-read") && policies.contains("exempt from the schedule"));

    // The audit trail: filtered, one request in full, the chain verified, an export.
    // The last change's record is written once the writer's linger passes.
    gw.eventually("the portal's revocation record", || {
        owner
            .get("/portal/audit?actor=portal%3Aroot-owner&decision=ok")
            .text()
            .contains("credential.revoke")
    });
    // The account's page says when each credential set was last used (from the trail).
    let unused = gw.issue("ap-sync");
    let page = owner.get("/portal/accounts/ap-sync").text();
    let row = portal::between(&page, &format!("<code>{id}</code>"), "</tr>");
    assert!(row.contains("class=\"last-use\">20"), "{row}");
    let row = portal::between(&page, &format!("<code>{}</code>", unused.id), "</tr>");
    assert!(row.contains("not in the last 10000 requests"), "{row}");
    let trail = owner.get("/portal/audit?actor=portal%3Aroot-owner").text();
    assert!(
        trail.contains("account.create") && trail.contains("credential.revoke"),
        "{trail}"
    );
    let rid = portal::between(&trail, "/portal/audit/record?request_id=", "\"");
    let one = owner.get(&format!("/portal/audit/record?request_id={rid}"));
    assert_eq!(one.status, 200);
    assert!(one.text().contains("portal:root-owner"));
    let bad = owner.get("/portal/audit?since=yesterday");
    assert_eq!(bad.status, 400);
    let verified = owner.get("/portal/audit/verify").text();
    assert!(verified.contains("Intact:"), "{verified}");
    assert!(!verified.contains("id=\"untallied\""), "{verified}");
    // A batch whose tally was removed: still intact, and the page says how many there are.
    p.admin
        .gw
        .trail_unguarded()
        .execute_batch(
            "UPDATE audit_batch SET tally = NULL WHERE id = (SELECT min(id) FROM audit_batch)",
        )
        .expect("null a tally");
    let verified = owner.get("/portal/audit/verify").text();
    assert!(
        verified.contains("Intact:")
            && verified.contains("<p id=\"untallied\">1 batch(es) carry no tally"),
        "{verified}"
    );
    let export = owner.get("/portal/audit/export?actor=portal%3Aroot-owner");
    assert_eq!(export.status, 200);
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    assert!(export
        .header("content-disposition")
        .is_some_and(|d| d.contains("attachment")));
    let lines: Vec<serde_json::Value> = export
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    assert!(lines.len() >= 5 && lines.iter().all(|r| r["actor"] == "portal:root-owner"));
    let text = export.text();
    assert!(!text.contains(&pass) && !text.contains(&key));

    // Settings: the snapshot the admin API reports, and a reload.
    let settings = owner.get("/portal/settings").text();
    let status = p
        .admin
        .call("GET", "/status", Some(&p.admin.owner), None)
        .json();
    let hash = status["snapshot_hash"].as_str().expect("hash");
    assert!(settings.contains(&format!("<code id=\"snapshot-hash\">{hash}</code>")));
    let r = owner.post("/portal/settings/reload", &[("csrf", &csrf(&settings))]);
    assert_eq!(location(&r), "/portal/settings?m=reloaded");
    gw.eventually("the reload record", || {
        records(&p)
            .iter()
            .any(|r| r["method"] == "config.reload" && r["actor"] == "portal:root-owner")
    });

    // An auditor reads all of it and changes none of it.
    let pw = gw.ok(&[
        "portal-user",
        "create",
        "--name",
        "read.only",
        "--role",
        "auditor",
        "--json",
    ]);
    let pw: serde_json::Value = serde_json::from_str(pw.trim()).expect("json");
    let mut aud = p.client();
    assert!(aud
        .login_and_enroll("read.only", pw["password"].as_str().expect("pw"))
        .is_none());
    let page = aud.get("/portal/accounts/ap-sync").text();
    assert!(
        !page.contains("/issue") && !page.contains("/revoke") && !page.contains("Portal users")
    );
    let r = aud.post("/portal/accounts/ap-sync/issue", &[("csrf", &csrf(&page))]);
    assert_eq!(r.status, 403);
    assert!(!aud
        .get("/portal/settings")
        .text()
        .contains("/portal/settings/reload"));
    assert_eq!(aud.get("/portal/audit/verify").status, 200);
}

#[test]
fn tokens_and_a_password_change_from_the_portal() {
    let p = portal::start();
    let (mut owner, secret) = login_owner(&p);
    let gw = &p.admin.gw;
    const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices";

    // A gateway token in force is listed by id and revoked from the page.
    let cred = gw.issue("ap-sync");
    let issued = gw.send(&support::request(
        "POST",
        "/gateway/token",
        &[("Authorization", &cred.basic())],
        Some(b""),
    ));
    assert_eq!(issued.status, 200, "{}", issued.text());
    let token = issued.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let bearer = format!("Bearer {token}");
    assert_eq!(gw.get(INVOICES, &[("Authorization", &bearer)]).status, 200);
    let page = owner.get("/portal/tokens").text();
    let id = portal::between(&page, "<td><code>egt_", "</code>");
    assert!(
        token.contains(&id) && !page.contains(&token),
        "the id, never the token"
    );
    let r = owner.post(
        &format!("/portal/tokens/gateway/egt_{id}/revoke"),
        &[("csrf", &csrf(&page))],
    );
    assert_eq!((r.status, location(&r)), (303, "/portal/tokens?m=revoked"));
    assert_eq!(gw.get(INVOICES, &[("Authorization", &bearer)]).status, 401);

    // An admin token made here works on the admin API until it is revoked here.
    let r = owner.post(
        "/portal/tokens/admin",
        &[
            ("csrf", &csrf(&page)),
            ("name", "ci-bot"),
            ("role", "admin"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let admin_token = portal::between(&r.text(), "<code id=\"one-time\">", "</code>");
    assert!(admin_token.starts_with("eat_"));
    assert_eq!(
        p.admin
            .call("GET", "/status", Some(&admin_token), None)
            .status,
        200
    );
    let page = owner.get("/portal/tokens").text();
    assert!(page.contains("ci-bot") && !page.contains(&admin_token));
    let bare = admin_token
        .trim_start_matches("eat_")
        .split('_')
        .next()
        .expect("id")
        .to_string();
    let r = owner.post(
        &format!("/portal/tokens/admin/{bare}/revoke"),
        &[("csrf", &csrf(&page))],
    );
    assert_eq!(location(&r), "/portal/tokens?m=revoked");
    assert_eq!(
        p.admin
            .call("GET", "/status", Some(&admin_token), None)
            .status,
        401
    );

    // A token made by a portal user goes when that user does.
    let out = gw.ok(&[
        "portal-user",
        "create",
        "--name",
        "second.owner",
        "--role",
        "owner",
        "--json",
    ]);
    let pw: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let mut second_owner = p.client();
    second_owner.login_and_enroll("second.owner", pw["password"].as_str().expect("pw"));
    let page = second_owner.get("/portal/tokens").text();
    let r = second_owner.post(
        "/portal/tokens/admin",
        &[
            ("csrf", &csrf(&page)),
            ("name", "their-bot"),
            ("role", "auditor"),
        ],
    );
    let theirs = portal::between(&r.text(), "<code id=\"one-time\">", "</code>");
    assert_eq!(
        p.admin.call("GET", "/status", Some(&theirs), None).status,
        200
    );
    gw.ok(&["portal-user", "disable", "second.owner"]);
    assert_eq!(
        p.admin.call("GET", "/status", Some(&theirs), None).status,
        401,
        "revoked with its maker"
    );

    // A password change: the current one is checked, the new one twice and by the rules;
    // every other session of the user ends, this tab keeps a fresh one.
    let mut second = p.client();
    assert_eq!(
        location(&second.post(
            "/portal/login",
            &[("username", "root-owner"), ("password", &p.owner_password)]
        )),
        "/portal/mfa"
    );
    let page = second.get("/portal/mfa").text();
    let r = second.post(
        "/portal/mfa",
        &[("csrf", &csrf(&page)), ("code", &totp_at(&secret, 1))],
    );
    assert_eq!(location(&r), "/portal/overview");
    let page = owner.get("/portal/password").text();
    let t = csrf(&page);
    let change = |c: &mut Client, cur: &str, new: &str, rep: &str| {
        c.post(
            "/portal/password",
            &[
                ("csrf", &t),
                ("current", cur),
                ("new", new),
                ("repeat", rep),
            ],
        )
    };
    assert_eq!(
        change(
            &mut owner,
            "wrong current password",
            "a brand new passphrase",
            "a brand new passphrase"
        )
        .status,
        401
    );
    assert_eq!(
        change(
            &mut owner,
            &p.owner_password,
            "a brand new passphrase",
            "another one entirely"
        )
        .status,
        400
    );
    assert_eq!(
        change(&mut owner, &p.owner_password, "short", "short").status,
        400
    );
    let r = change(
        &mut owner,
        &p.owner_password,
        "root-owner-is-me-2026",
        "root-owner-is-me-2026",
    );
    assert_eq!(r.status, 400, "a password containing the name");
    let before = owner.cookie.clone();
    let r = change(
        &mut owner,
        &p.owner_password,
        "a brand new passphrase",
        "a brand new passphrase",
    );
    assert_eq!(
        (r.status, location(&r)),
        (303, "/portal/password?m=changed")
    );
    assert_ne!(owner.cookie, before, "a fresh session for this tab");
    assert_eq!(owner.get("/portal/overview").status, 200);
    assert_eq!(
        location(&second.get("/portal/overview")),
        "/portal/login",
        "the other session ended"
    );
    let mut third = p.client();
    let r = third.post(
        "/portal/login",
        &[("username", "root-owner"), ("password", &p.owner_password)],
    );
    assert_eq!(r.status, 401, "the old password is gone");
    let r = third.post(
        "/portal/login",
        &[
            ("username", "root-owner"),
            ("password", "a brand new passphrase"),
        ],
    );
    assert_eq!(location(&r), "/portal/mfa");
    gw.eventually("the password record", || {
        !find(&records(&p), "portal_user.password", "ok").is_empty()
    });
    let all = serde_json::to_string(&records(&p)).expect("json");
    assert!(
        !all.contains("a brand new passphrase")
            && !all.contains(&admin_token)
            && !all.contains(&token)
    );
}
