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
    assert_eq!(b.url(), format!("{base}/portal/login"));
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
    assert_eq!(b.url(), format!("{base}/portal/mfa"));
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
    assert_eq!(b.url(), format!("{base}/portal/overview?m=on"));
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
    assert_eq!(b.url(), format!("{base}/portal/login?m=out"));
    b.goto(&format!("{base}/portal/overview"));
    assert_eq!(b.url(), format!("{base}/portal/login"));
}
