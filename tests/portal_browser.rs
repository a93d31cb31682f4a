//! The operator portal in a real browser (the distribution's headless Chromium through
//! chromedriver): an owner logs in, sets up the second factor from the page, sees the
//! recovery codes once, turns the kill switch on with a reason while the relay refuses and the
//! portal keeps working; a cross-site form posted with the browser's cookie changes nothing;
//! the cookie's flags are what the browser holds. Screenshots of each page are written to
//! `target/screenshots/` (the README's come from here).

mod support;

use std::path::PathBuf;

use support::portal;
use support::webdriver::Browser;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

#[test]
fn an_owner_runs_the_kill_switch_from_the_browser() {
    let p = portal::start();
    let base = format!("http://{}", p.admin.addr);
    let b = Browser::start();

    // The portal sends a stranger to the login page.
    b.goto(&format!("{base}/portal/overview"));
    b.wait_url(&format!("{base}/portal/login"));
    b.screenshot(&shots().join("portal-login.png"));

    // A wrong password: told so, no session.
    b.type_into("#username", &p.owner);
    b.type_into("#password", "certainly not the password");
    b.click("button[type=submit]");
    let notice = b.text(".notice.error");
    assert!(notice.contains("Wrong user name or password"), "{notice}");
    assert!(b.cookies().is_empty());

    // The password, then the enrolment of the second factor from the page's key.
    b.type_into("#username", &p.owner);
    b.type_into("#password", &p.owner_password);
    b.click("button[type=submit]");
    b.wait_url(&format!("{base}/portal/mfa"));
    assert!(b.find(".qr svg").is_some(), "the QR code is on the page");
    b.screenshot(&shots().join("portal-enrol.png"));
    let secret = portal::base32_decode(&b.text("#totp-key"));
    b.type_into("#code", &portal::totp_now(&secret));
    b.click("button[type=submit]");
    let codes = b.text("#recovery-codes");
    assert_eq!(codes.lines().count(), 10, "{codes}");
    b.screenshot(&shots().join("portal-recovery-codes.png"));

    // The session cookie, as the browser holds it.
    let cookies = b.cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = &cookies[0];
    assert_eq!(c["name"], "__Host-erpgate-portal");
    assert_eq!(c["httpOnly"], true);
    assert_eq!(c["secure"], true);
    assert_eq!(c["sameSite"], "Strict");
    assert_eq!(c["path"], "/");

    // The overview; the kill switch on, with the confirmation and a reason.
    b.goto(&format!("{base}/portal/overview"));
    assert_eq!(b.text("#killswitch-state"), "OFF");
    b.screenshot(&shots().join("portal-overview.png"));
    b.type_into("#reason", "incident 7: a credential may have leaked");
    b.click("input[name=confirm]");
    b.click("form[action='/portal/killswitch'] button[type=submit]");
    b.wait_url(&format!("{base}/portal/overview?m=on"));
    assert_eq!(b.text("#killswitch-state"), "ON");
    b.screenshot(&shots().join("portal-killswitch-on.png"));
    let cred = p.admin.gw.issue("ap-sync");
    let relayed = p
        .admin
        .gw
        .get_as(&cred, "/fscmRestApi/resources/11.13.18.05/invoices");
    assert_eq!(relayed.error_code(), "killswitch.on");

    // Another site's form, posted with this browser's cookie, changes nothing.
    let attack = format!(
        "data:text/html,<form id=f method=post action='{base}/portal/killswitch'><input name=state value=off><input name=confirm value=yes><input name=reason value=x></form><script>document.getElementById('f').submit()</script>"
    );
    b.goto(&attack);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !b.url().starts_with(&base) {
        assert!(
            std::time::Instant::now() < deadline,
            "the forged form was not posted"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let page = b.source();
    assert!(
        !page.contains("killswitch-state"),
        "a forged form reached no page: {page}"
    );
    b.goto(&format!("{base}/portal/overview"));
    assert_eq!(
        b.text("#killswitch-state"),
        "ON",
        "the forged form turned nothing off"
    );

    // An account's page, Explain and the audit trail, as the browser shows them.
    b.goto(&format!("{base}/portal/accounts/ap-sync"));
    assert!(b.text("h1").contains("ap-sync"));
    b.click("form[action='/portal/accounts/ap-sync/issue'] button");
    assert!(b.text(".banner").contains("Shown once"));
    b.screenshot(&shots().join("portal-credential-issued.png"));
    b.goto(&format!(
        "{base}/portal/policies?who=ap-sync&method=GET&target=%2FfscmRestApi%2Fresources%2F11.13.18.05%2Finvoices"
    ));
    assert_eq!(b.text("#decision"), "refused: 503 killswitch.on");
    b.screenshot(&shots().join("portal-explain.png"));
    b.goto(&format!("{base}/portal/audit?actor=portal%3Aroot-owner"));
    assert!(b.text("#records").contains("killswitch.on"));
    b.screenshot(&shots().join("portal-audit.png"));

    // Portal users, for the owner.
    b.goto(&format!("{base}/portal/users"));
    assert!(b.text("#users").contains("root-owner"));
    b.screenshot(&shots().join("portal-users.png"));

    // Logging out ends the session in the browser too.
    b.click("form.who button[type=submit]");
    b.wait_url(&format!("{base}/portal/login?m=out"));
    b.goto(&format!("{base}/portal/overview"));
    b.wait_url(&format!("{base}/portal/login"));
}

#[test]
fn single_sign_on_credentials_roles_and_every_page_in_the_browser() {
    use support::oidc::{Next, Provider};
    // The provider on another site than the portal, as in life: the way back is a
    // cross-site navigation, and the session cookie is SameSite=Strict.
    let idp = Provider::start_on("localhost");
    let secrets = tempfile::tempdir().expect("dir");
    let secret_file = secrets.path().join("oidc.secret");
    std::fs::write(&secret_file, &idp.client_secret).expect("secret");
    let port = support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let extra = format!(
        "portal_oidc_issuer = \"{}\"\nportal_oidc_client_id = \"{}\"\nportal_oidc_client_secret_file = \"{}\"\nportal_oidc_redirect_uri = \"{base}/portal/oidc/callback\"\nportal_oidc_label = \"Sign in with Example ID\"",
        idp.issuer,
        idp.client_id,
        secret_file.display()
    );
    let p = portal::start_at(
        port,
        support::Options {
            gateway_extra: extra,
            ..support::Options::default()
        },
    );
    let gw = &p.admin.gw;
    gw.ok(&[
        "portal-user",
        "create",
        "--name",
        "sso.admin",
        "--role",
        "admin",
    ]);
    gw.ok(&["portal-user", "sso", "sso.admin", "admin-sub"]);
    let b = Browser::start();

    // Single sign-on through the provider, then the second factor an admin needs.
    idp.next(Next::as_subject("admin-sub", &idp.client_id));
    b.goto(&format!("{base}/portal/login"));
    b.click("a.sso");
    b.wait_url(&format!("{base}/portal/mfa"));
    let secret = portal::base32_decode(&b.text("#totp-key"));
    b.type_into("#code", &portal::totp_now(&secret));
    b.click("button[type=submit]");
    assert_eq!(b.text("#recovery-codes").lines().count(), 10);

    // A credential set issued here works on the relay; revoked here, refused within 1 s.
    b.goto(&format!("{base}/portal/accounts/ap-sync"));
    b.click("form[action='/portal/accounts/ap-sync/issue'] button");
    let id = b.text(".banner p code");
    let basic = support::basic(&b.text("#cred-user"), &b.text("#cred-password"));
    const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices";
    assert_eq!(gw.get(INVOICES, &[("Authorization", &basic)]).status, 200);
    // Reloaded, the page shows no secret.
    b.goto(&format!("{base}/portal/accounts/ap-sync"));
    assert!(b.find(".banner").is_none());
    b.click(&format!(
        "form[action='/portal/credentials/{id}/revoke'] button"
    ));
    let revoked = std::time::Instant::now();
    while gw.get(INVOICES, &[("Authorization", &basic)]).status != 401 {
        assert!(
            revoked.elapsed() < std::time::Duration::from_secs(1),
            "revocation took over 1 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    // With the kill switch on, every page still works; a screenshot of each.
    let live = gw.issue("ap-sync");
    gw.ok(&["killswitch", "on"]);
    gw.eventually("the relay refuses", || {
        gw.get_as(&live, INVOICES).status == 503
    });
    for (path, title, shot) in [
        ("/portal/overview", "Overview", "portal-page-overview.png"),
        ("/portal/accounts", "Accounts", "portal-page-accounts.png"),
        (
            "/portal/accounts/ap-sync",
            "Account ap-sync",
            "portal-page-account.png",
        ),
        ("/portal/policies", "Policies", "portal-page-policies.png"),
        ("/portal/audit", "Audit trail", "portal-page-audit.png"),
        (
            "/portal/audit/verify",
            "Audit chain",
            "portal-page-audit-verify.png",
        ),
        ("/portal/tokens", "Tokens", "portal-page-tokens.png"),
        ("/portal/settings", "Settings", "portal-page-settings.png"),
        (
            "/portal/password",
            "Change your password",
            "portal-page-password.png",
        ),
    ] {
        b.goto(&format!("{base}{path}"));
        assert_eq!(b.text("h1"), title, "{path}");
        b.screenshot(&shots().join(shot));
    }
    gw.ok(&["killswitch", "off"]);

    // An auditor: no mutation controls, and a same-origin POST with the page's form token
    // is still refused for the role; disabled, their open session ends at once.
    let out = gw.ok(&[
        "portal-user",
        "create",
        "--name",
        "audit.kim",
        "--role",
        "auditor",
        "--json",
    ]);
    let pw: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    b.click("form.who button[type=submit]");
    b.type_into("#username", "audit.kim");
    b.type_into("#password", pw["password"].as_str().expect("pw"));
    b.click("button[type=submit]");
    b.wait_url(&format!("{base}/portal/overview"));
    assert!(b.find("form[action='/portal/killswitch']").is_none());
    b.goto(&format!("{base}/portal/accounts/ap-sync"));
    assert!(b
        .find("form[action='/portal/accounts/ap-sync/issue']")
        .is_none());
    // The page's own form token, in a form the auditor's browser posts to the switch.
    b.run(
        "const f = document.createElement('form');
         f.method = 'post'; f.action = '/portal/killswitch';
         for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value],
                               ['state', 'on'], ['confirm', 'yes'], ['reason', 'forged']]) {
           const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
         }
         document.body.appendChild(f); f.submit();",
    );
    b.wait_text("h1", "Not allowed");
    assert!(
        gw.ok(&["killswitch", "status"])
            .contains("kill switch is off"),
        "nothing changed"
    );
    gw.ok(&["portal-user", "disable", "audit.kim"]);
    b.goto(&format!("{base}/portal/overview"));
    b.wait_url(&format!("{base}/portal/login"));

    // Forged, expired and mis-addressed sign-ins: a page saying so, and no session.
    for (next, shot) in [
        (
            Next {
                rogue_key: true,
                ..Next::as_subject("admin-sub", &idp.client_id)
            },
            "portal-sso-refused.png",
        ),
        (
            Next {
                exp_in: -600,
                ..Next::as_subject("admin-sub", &idp.client_id)
            },
            "portal-sso-expired.png",
        ),
        (
            Next {
                aud: serde_json::json!("someone-else"),
                ..Next::as_subject("admin-sub", &idp.client_id)
            },
            "portal-sso-audience.png",
        ),
    ] {
        idp.next(next);
        b.goto(&format!("{base}/portal/login"));
        b.click("a.sso");
        b.wait_text("h1", "Sign-in refused");
        b.screenshot(&shots().join(shot));
        b.goto(&format!("{base}/portal/overview"));
        b.wait_url(&format!("{base}/portal/login"));
    }

    // Guessing: backoff, then a lock the right password does not pass. Each answer is
    // awaited: navigating on at once could cancel a submission before it was sent.
    for i in 0..5 {
        b.goto(&format!("{base}/portal/login"));
        b.type_into("#username", &p.owner);
        b.type_into("#password", &format!("guess number {i}"));
        b.click("button[type=submit]");
        if i < 4 {
            b.wait_text(".notice.error", "Wrong user name or password.");
        }
    }
    assert!(b.text(".notice.error").contains("Too many failed attempts"));
    b.screenshot(&shots().join("portal-locked.png"));
    b.type_into("#username", &p.owner);
    b.type_into("#password", &p.owner_password);
    b.click("button[type=submit]");
    assert!(b.text(".notice.error").contains("Too many failed attempts"));
}
