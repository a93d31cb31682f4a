//! Oracle users in a real browser (the distribution's headless Chromium through
//! chromedriver): the simulated Fusion's Page Integration link, on another site than the
//! gateway as in production, signs a user token and sends the browser to the launch URL; the
//! token leaves the address bar, the session cookie is what it should be, the viewer fills
//! its table through the relay with masked fields masked and pages with Oracle's
//! `hasMore`, the simulated Oracle sees an assertion naming that user, nothing lands in the
//! browser's storage; a cross-site form posted with the cookie reaches nothing; forged,
//! expired, replayed and other-tenant launch tokens show the refusal page and start no
//! session; no launch token reaches the trail or the log. Screenshots go to
//! `target/screenshots/` (the README's come from here).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::page::{self, keys, FUSION, LAUNCH, OTHER_FUSION, USER};
use support::webdriver::Browser;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

/// Waits up to 10 s for `f`.
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_oracle_user_opens_the_viewer_from_fusion() {
    let gw = page::start("");
    let origin = format!("http://127.0.0.1:{}", gw.addr.port());
    // Fusion on `localhost`, the gateway on `127.0.0.1`: two sites, as in production.
    let fusion = format!("http://localhost:{}", gw.sim.addr.port());
    let b = Browser::start();
    let mut launch_tokens = Vec::new();

    b.goto(&format!("{fusion}/__sim/page-integration?user={USER}"));
    b.wait_url(&format!("{origin}{LAUNCH}"));
    until("the viewer's session", || {
        b.text("#who")
            .starts_with(&format!("Signed in as {USER} (initech)"))
    });
    let cookies = b.cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = &cookies[0];
    assert_eq!(c["name"], "__Host-erpgate-oracle");
    assert_eq!(c["httpOnly"], true);
    assert_eq!(c["secure"], true);
    assert_eq!(c["sameSite"], "Strict");
    assert_eq!(c["path"], "/");
    assert!(c.get("expiry").is_none(), "a session cookie: {c}");
    let session_id = c["value"].as_str().expect("value").to_string();

    // Suppliers: masked as policy says, in the table.
    gw.sim.clear_requests();
    b.click("button[data-path$='/suppliers']");
    until("the suppliers table", || {
        b.find("#rows tbody tr").is_some() && b.text("#title") == "suppliers.collection"
    });
    let columns: Vec<String> = b
        .run("return [...document.querySelectorAll('#rows th')].map(t => t.textContent)")
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let col = columns
        .iter()
        .position(|c| c == "TaxRegistrationNumber")
        .expect("the masked column is shown");
    let cells = b.run(&format!(
        "return [...document.querySelectorAll('#rows tbody tr')].map(r => r.cells[{col}].textContent)"
    ));
    let cells: Vec<&str> = cells
        .as_array()
        .expect("cells")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(cells.len(), 10);
    assert!(cells.iter().all(|c| *c == "****"), "{cells:?}");
    let page_text = b.source();
    for hidden in gw.sim.unmasked_values("suppliers", "TaxRegistrationNumber") {
        assert!(
            !page_text.contains(&hidden),
            "an unmasked value on the page"
        );
    }
    b.screenshot(&shots().join("viewer-suppliers.png"));
    let reached = gw.sim.requests().pop().expect("Oracle was asked");
    assert_eq!(reached.authenticated_as.as_deref(), Some(USER));
    assert!(!reached.headers.iter().any(|(k, _)| k == "cookie"));

    // Invoices, with Oracle's paging.
    b.click("button[data-path$='/invoices']");
    until("the invoices table", || {
        b.text("#title") == "invoices.collection" && b.text("#range") == "Rows 1–10"
    });
    assert_eq!(
        b.run("return document.getElementById('prev').disabled"),
        true
    );
    b.click("#next");
    until("the second page", || b.text("#range") == "Rows 11–20");
    b.click("#next");
    until("the last page", || b.text("#range") == "Rows 21–25");
    assert_eq!(
        b.run("return document.getElementById('next').disabled"),
        true,
        "hasMore is false on the last page"
    );
    b.screenshot(&shots().join("viewer-invoices.png"));
    assert_eq!(
        b.run("return [localStorage.length, sessionStorage.length]"),
        serde_json::json!([0, 0]),
        "nothing in the browser's storage"
    );

    // Another site's form, posted with this browser's cookie, reaches nothing.
    gw.sim.clear_requests();
    let attack = format!(
        "data:text/html,<form id=f method=post action='{origin}/fscmRestApi/resources/latest/invoices' enctype='text/plain'><input name='{{\"a\":\"' value='\"}}'></form><script>document.getElementById('f').submit()</script>"
    );
    b.goto(&attack);
    until("the forged form's answer", || b.url().starts_with(&origin));
    // The strict cookie stays home: the request arrives without a session, and is refused.
    let mut posted = Vec::new();
    until("the forged post's record", || {
        posted = gw
            .audit(&[])
            .into_iter()
            .filter(|r| r["method"] == "POST")
            .collect();
        !posted.is_empty()
    });
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["reason"], "auth.missing", "{}", posted[0]);
    assert!(gw.sim.requests().is_empty(), "nothing reached Oracle");

    // Ending the session from the page.
    b.goto(&format!("{origin}{LAUNCH}"));
    until("the session again", || {
        b.text("#who").starts_with("Signed in as")
    });
    b.click("#end");
    until("the end", || b.text("#who").starts_with("Session ended"));
    assert!(b.cookies().is_empty(), "the cookie is gone");
    let after = support::http::raw(
        gw.addr,
        &support::request(
            "GET",
            "/fscmRestApi/resources/latest/invoices",
            &[("Cookie", &format!("__Host-erpgate-oracle={session_id}"))],
            None,
        ),
    )
    .expect("request");
    assert_eq!(after.status, 401, "an ended session admits nothing");

    // Bad launch links: the refusal page, and no session.
    let good = page::destination(&origin, &keys().fusion, FUSION);
    let mut expired = good.clone();
    expired.lifetime = -600;
    let mut forged = good.clone();
    forged.key = keys().attacker.clone();
    let other = page::destination(&origin, &keys().other_fusion, OTHER_FUSION);
    let replayed = page::token(&good, USER);
    b.goto(&format!("{origin}{LAUNCH}?jwt={replayed}"));
    until("the replayed link's first use", || {
        b.url() == format!("{origin}{LAUNCH}")
    });
    b.delete_cookies();
    for (token, code, shot) in [
        (
            page::token(&forged, USER),
            "launch.refused",
            Some("viewer-refused.png"),
        ),
        (page::token(&expired, USER), "launch.refused", None),
        (page::token(&other, USER), "launch.refused", None),
        (replayed.clone(), "launch.replayed", None),
    ] {
        b.goto(&format!("{origin}{LAUNCH}?jwt={token}"));
        until("the refusal page", || b.find("main.refusal").is_some());
        assert!(b.text("main.refusal").contains(code), "{}", b.source());
        assert!(b.text("h1").contains("not signed in"));
        assert!(b.cookies().is_empty(), "no session after a refused launch");
        if let Some(name) = shot {
            b.screenshot(&shots().join(name));
        }
        launch_tokens.push(token);
    }

    // No launch token in the trail or the log.
    let trail = gw.ok(&["audit", "query", "--json", "--limit", "100000"]);
    let log = gw.log_text();
    for t in &launch_tokens {
        let probe = &t[t.len() - 40..];
        assert!(!trail.contains(probe), "a launch token in the trail");
        assert!(!log.contains(probe), "a launch token in the log");
    }
    assert!(!trail.contains(&session_id) && !log.contains(&session_id));
}
