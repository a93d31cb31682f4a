//! Oracle users in the browser, over HTTP as a browser sends it: a Page Integration launch
//! starts a session and the token leaves the URL, the session is admitted as that Oracle
//! user (policy, redaction, an assertion for that user upstream, nothing of Oracle's answer
//! kept), its changes need the page's header and origin, it ends; and every hostile launch
//! starts nothing, while no launch token or session id reaches the trail or the log.

mod support;

use erpgate::jwt::b64;
use serde_json::Value;
use support::page::{self, keys, FUSION, LAUNCH, OTHER_FUSION, OTHER_LAUNCH, USER};
use support::{http, request, Gateway};

const V: &str = "/fscmRestApi/resources/latest";

/// Follows the simulated Fusion's Page Integration link for `user`: the launch URL it sends
/// the browser to.
fn fusion_link(gw: &Gateway, user: &str) -> String {
    let r = http::raw(
        gw.sim.addr,
        &request(
            "GET",
            &format!("/__sim/page-integration?user={user}"),
            &[],
            None,
        ),
    )
    .expect("fusion");
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").expect("location").to_string();
    let origin = format!("http://127.0.0.1:{}", gw.addr.port());
    location
        .strip_prefix(&origin)
        .expect("sent to the gateway")
        .to_string()
}

fn cookie_header(id: &str) -> String {
    format!("__Host-erpgate-oracle={id}")
}

fn assertion_claims(gw: &Gateway) -> Value {
    let last = gw.sim.requests().pop().expect("a request reached Oracle");
    let auth = last
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .expect("upstream Authorization");
    let token = auth.strip_prefix("Bearer ").expect("bearer");
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&b64::decode(payload.as_bytes()).expect("b64")).expect("json")
}

#[test]
fn a_launch_starts_a_session_for_that_user_and_the_token_leaves_the_url() {
    let gw = page::start("");
    let target = fusion_link(&gw, USER);
    let token = target.split("jwt=").nth(1).expect("token").to_string();
    assert!(target.starts_with(&format!("{LAUNCH}?jwt=")));

    // The launch: a 303 to the same path without the token, and a strict session cookie.
    let r = gw.get(&target, &[]);
    assert_eq!(r.status, 303, "{}\n{}", r.text(), gw.log_text());
    assert_eq!(r.header("location"), Some(LAUNCH));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let set = r.header("set-cookie").expect("set-cookie").to_string();
    for flag in ["; Path=/", "; Secure", "; HttpOnly", "; SameSite=Strict"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Domain") && !set.contains("Max-Age"), "{set}");
    let id = page::session_cookie(&set);
    assert_eq!(id.len(), 43);
    let launch_rid = r.header("x-request-id").expect("rid").to_string();

    // The same link again: refused, and no session.
    let again = gw.get(&target, &[]);
    assert_eq!(again.status, 401);
    assert!(again.header("set-cookie").is_none());
    assert!(again.text().contains("launch.replayed"), "{}", again.text());
    assert!(again
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    // Nor does it work as a Bearer credential now that it started a session.
    let bearer = format!("Bearer {token}");
    let r = gw.get(
        &format!("{V}/invoices"),
        &[("Authorization", bearer.as_str())],
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let rid = r.header("x-request-id").expect("rid").to_string();
    assert_eq!(gw.audit_record(&rid)["detail"], "jwt_launch_token");

    // The viewer page needs no session (it arrives after a cross-site navigation); its CSP
    // allows the gateway's own script only.
    let v = gw.get(LAUNCH, &[]);
    assert_eq!(v.status, 200);
    let csp = v.header("content-security-policy").expect("csp");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(v.header("referrer-policy"), Some("same-origin"));
    assert!(v.text().contains(&format!("{LAUNCH}/viewer.js")));
    let js = gw.get(&format!("{LAUNCH}/viewer.js"), &[]);
    assert_eq!(js.status, 200);
    assert!(!js.text().contains("localStorage") && !js.text().contains("sessionStorage"));

    // The session: the user and what they may read.
    let cookie = cookie_header(&id);
    let s = gw.get(&format!("{LAUNCH}/session"), &[("Cookie", &cookie)]);
    assert_eq!(s.status, 200, "{}", s.text());
    let s = s.json();
    assert_eq!(s["user"], USER);
    assert_eq!(s["tenant"], "initech");
    let names: Vec<&str> = s["collections"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["invoices.collection", "suppliers.collection"]);
    let exp = s["expires_at"].as_i64().expect("exp");
    let now = chrono::Utc::now().timestamp();
    assert!(
        exp > now && exp <= now + 20 * 60,
        "bounded by session_max_minutes"
    );

    // Relayed as that user: an assertion naming them, masked fields masked, nothing kept,
    // and no cookie reaches Oracle.
    gw.sim.clear_requests();
    let r = gw.get(
        &format!("{V}/suppliers?limit=3&onlyData=true"),
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), gw.log_text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    for item in items {
        assert_eq!(item["TaxRegistrationNumber"], "****", "{item}");
    }
    for hidden in gw.sim.unmasked_values("suppliers", "TaxRegistrationNumber") {
        assert!(!r.text().contains(&hidden));
    }
    let claims = assertion_claims(&gw);
    assert_eq!(claims["prn"], USER);
    assert_eq!(claims["iss"], page::ISSUER);
    let reached = gw.sim.requests().pop().expect("reached");
    assert_eq!(reached.authenticated_as.as_deref(), Some(USER));
    assert!(
        !reached
            .headers
            .iter()
            .any(|(k, v)| k == "cookie" || v.contains(&id)),
        "{:?}",
        reached.headers
    );
    // Not granted: bank accounts.
    let r = gw.get(&format!("{V}/externalBankAccounts"), &[("Cookie", &cookie)]);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "policy.denied");

    // A change needs the page's header and its own origin.
    gw.sim.clear_requests();
    let origin = format!("http://127.0.0.1:{}", gw.addr.port());
    let post = |headers: &[(&str, &str)]| {
        let mut all = vec![
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        all.extend_from_slice(headers);
        gw.send(&request(
            "POST",
            &format!("{V}/invoices"),
            &all,
            Some(b"{}"),
        ))
    };
    for (headers, why) in [
        (vec![], "no origin, no header"),
        (vec![("Origin", origin.as_str())], "no header"),
        (vec![("X-Erpgate-Csrf", "1")], "no origin"),
        (
            vec![("Origin", "https://evil.example"), ("X-Erpgate-Csrf", "1")],
            "another origin",
        ),
    ] {
        let r = post(&headers);
        assert_eq!(r.status, 403, "{why}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "session.csrf", "{why}");
    }
    let r = gw.get(
        &format!("{V}/invoices"),
        &[("Cookie", &cookie), ("Origin", "https://evil.example")],
    );
    assert_eq!(r.status, 403, "a read from another origin: {}", r.text());
    assert!(
        gw.sim.requests().is_empty(),
        "nothing refused reached Oracle"
    );
    // With both, the change is relayed to Oracle as that user.
    let r = post(&[("Origin", &origin), ("X-Erpgate-Csrf", "1")]);
    assert!(r.header("x-request-id").is_some());
    let reached = gw.sim.requests();
    assert_eq!(reached.len(), 1, "the POST reached Oracle: {}", r.text());
    assert_eq!(reached[0].method, "POST");
    assert_eq!(reached[0].authenticated_as.as_deref(), Some(USER));
    assert!(!reached[0]
        .headers
        .iter()
        .any(|(k, _)| k == "x-erpgate-csrf" || k == "cookie"));
    // Another credential beside the session: ambiguous, refused.
    let r = gw.get(
        &format!("{V}/invoices"),
        &[("Cookie", &cookie), ("Authorization", "Basic eDp5")],
    );
    assert_eq!(r.status, 401);

    // Ending the session: the page's header and origin again; then it is gone.
    let end = |headers: &[(&str, &str)]| {
        let mut all = vec![("Cookie", cookie.as_str())];
        all.extend_from_slice(headers);
        gw.send(&request("POST", &format!("{LAUNCH}/end"), &all, Some(b"")))
    };
    assert_eq!(end(&[]).status, 403);
    let r = end(&[("Origin", &origin), ("X-Erpgate-Csrf", "1")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    let r = gw.get(&format!("{V}/invoices"), &[("Cookie", &cookie)]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "auth.expired");
    let r = gw.get(&format!("{LAUNCH}/session"), &[("Cookie", &cookie)]);
    assert_eq!(r.status, 401);

    // The trail: the launch by its token's hash prefix, the user, no query; nothing of the
    // token or the session id in the trail, the database or the log.
    let rec = gw.audit_record(&launch_rid);
    assert_eq!(rec["decision"], "ok");
    assert_eq!(rec["actor"], format!("user:{USER}"));
    assert!(rec.get("query").is_none_or(Value::is_null), "{rec}");
    let tag = rec["note"]["launch_token"].as_str().expect("tag");
    assert_eq!(tag.len(), 12);
    assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()));
    let replay = gw
        .audit(&["--reason", "launch.replayed"])
        .pop()
        .expect("the replay is recorded");
    assert_eq!(replay["note"]["launch_token"], tag);
    let db = std::fs::read(gw.db_path()).expect("db");
    let trail = gw.ok(&["audit", "query", "--json", "--limit", "100000"]);
    for secret in [token.as_str(), id.as_str()] {
        let probe = &secret[secret.len() - 40..];
        assert!(!trail.contains(probe), "a secret in the trail");
        assert!(!gw.log_text().contains(probe), "a secret in the log");
        assert!(
            !db.windows(probe.len()).any(|w| w == probe.as_bytes()),
            "a secret in the database"
        );
    }
}

#[test]
fn hostile_launches_start_nothing_and_leave_no_token_behind() {
    let gw = page::start("");
    let origin = format!("http://127.0.0.1:{}", gw.addr.port());
    let good = page::destination(&origin, &keys().fusion, FUSION);
    let fresh = || page::token(&good, USER);
    let mut expired = good.clone();
    expired.lifetime = -600;
    let mut forged = good.clone();
    forged.key = keys().attacker.clone();
    let mut wrong_audience = good.clone();
    wrong_audience.audience = "https://someone-else.example".into();
    let other_tenant = page::destination(&origin, &keys().other_fusion, OTHER_FUSION);
    let oversized = format!("{}{}", fresh(), "A".repeat(4096));
    // Fusion's signature over another user's claims.
    let tampered = {
        let a: Vec<String> = fresh().split('.').map(str::to_string).collect();
        let b: Vec<String> = page::token(&good, "sysadmin")
            .split('.')
            .map(str::to_string)
            .collect();
        format!("{}.{}.{}", a[0], b[1], a[2])
    };
    // A fragment never reaches a launch: the front refuses the request line (400
    // path.rejected), and its record keeps no query either.
    let fragment = format!("{LAUNCH}?jwt={}#frag", fresh());
    let r = gw.get(&fragment, &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.header("set-cookie").is_none());
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("{LAUNCH}?x={}", fresh()),
            401,
            "token in another parameter",
        ),
        (
            format!("{LAUNCH}?jwt={}&x=1", fresh()),
            401,
            "a second parameter",
        ),
        (
            format!("{LAUNCH}?jwt={}&jwt={}", fresh(), fresh()),
            401,
            "two tokens",
        ),
        (format!("{LAUNCH}?jwt={oversized}"), 401, "oversized"),
        (
            format!("{LAUNCH}?jwt={}", page::token(&expired, USER)),
            401,
            "expired",
        ),
        (
            format!("{LAUNCH}?jwt={}", page::token(&forged, USER)),
            401,
            "forged",
        ),
        (format!("{LAUNCH}?jwt={tampered}"), 401, "tampered"),
        (
            format!("{LAUNCH}?jwt={}", page::token(&wrong_audience, USER)),
            401,
            "another audience",
        ),
        (
            format!("{LAUNCH}?jwt={}", page::token(&other_tenant, USER)),
            401,
            "another tenant's token",
        ),
        (
            format!("{LAUNCH}?jwt={}", fresh().replace('.', "%2E")),
            401,
            "an encoded token",
        ),
    ];
    let mut tokens = vec![fragment.split('=').nth(1).unwrap_or("").to_string()];
    for (target, status, why) in &cases {
        let r = gw.get(target, &[]);
        assert_eq!(r.status, *status, "{why}: {}", r.text());
        assert!(r.header("set-cookie").is_none(), "{why}: a cookie was set");
        let text = r.text();
        assert!(text.contains("launch.refused"), "{why}: {text}");
        assert!(text.contains("Open the page again from Oracle"), "{why}");
        tokens.push(target.split('=').nth(1).unwrap_or("").to_string());
    }
    // The other tenant's token works at its own launch path only.
    let r = gw.get(
        &format!("{OTHER_LAUNCH}?jwt={}", page::token(&other_tenant, USER)),
        &[],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    // A launch is a GET.
    let r = gw.send(&request(
        "POST",
        &format!("{LAUNCH}?jwt={}", fresh()),
        &[],
        Some(b""),
    ));
    assert_eq!(r.status, 405);
    // The kill switch refuses launches too.
    gw.ok(&["killswitch", "on"]);
    gw.eventually("the kill switch reaches the relay", || {
        gw.get(&format!("{LAUNCH}?jwt={}", fresh()), &[]).status == 503
    });
    gw.ok(&["killswitch", "off"]);

    // Every refusal is in the trail with its reason, and no token anywhere.
    let refused = gw.audit(&["--reason", "launch.refused"]);
    assert_eq!(refused.len(), cases.len(), "{refused:?}");
    let details: Vec<&str> = refused
        .iter()
        .filter_map(|r| r["detail"].as_str())
        .collect();
    for d in [
        "launch_query",
        "too_large",
        "jwt_expired",
        "jwt_unknown_key",
        "jwt_signature",
        "jwt_audience",
        "jwt_issuer_not_this_tenant",
    ] {
        assert!(details.contains(&d), "{d} in {details:?}");
    }
    for r in &refused {
        assert!(r.get("query").is_none_or(Value::is_null), "{r}");
    }
    let trail = gw.ok(&["audit", "query", "--json", "--limit", "100000"]);
    let log = gw.log_text();
    let db = std::fs::read(gw.db_path()).expect("db");
    for t in tokens.iter().filter(|t| t.len() > 60) {
        let probe = &t[t.len() - 40..];
        assert!(!trail.contains(probe), "a token in the trail");
        assert!(!log.contains(probe), "a token in the log");
        assert!(!db.windows(probe.len()).any(|w| w == probe.as_bytes()));
    }
}

#[test]
fn a_session_is_refused_once_its_tenant_drops_page_integration_and_forged_cookies_do_nothing() {
    let gw = page::start("");
    let r = gw.get(&fusion_link(&gw, USER), &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    let id = page::session_cookie(r.header("set-cookie").expect("cookie"));
    for forged in [
        "A".repeat(43),
        format!("{id}x"),
        "short".to_string(),
        format!("{id}; __Host-erpgate-oracle={id}"),
    ] {
        let r = gw.get(
            &format!("{V}/invoices"),
            &[("Cookie", &cookie_header(&forged))],
        );
        assert_eq!(r.status, 401, "{forged}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "auth.invalid");
    }
    let r = gw.get(&format!("{V}/invoices"), &[("Cookie", &cookie_header(&id))]);
    assert_eq!(r.status, 200, "{}", r.text());
    // Withdrawn by a reload: the session admits nothing more.
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let cut = text.replace(
        "[tenants.initech.page_integration]\nlaunch_path = \"/launch/initech\"\ntoken_parameter = \"jwt\"\n",
        "[tenants.initech.dropped]\n",
    );
    let start = cut.find("[tenants.initech.dropped]").expect("section");
    let end = cut[start..]
        .find("[[tenants.initech.redact]]")
        .expect("next")
        + start;
    let cut = format!("{}{}", &cut[..start], &cut[end..]);
    std::fs::write(&gw.config, cut).expect("write");
    gw.signal("-HUP");
    gw.eventually("the reload drops the launch path", || {
        gw.get(&format!("{V}/invoices"), &[("Cookie", &cookie_header(&id))])
            .status
            == 401
    });
}

#[test]
fn a_launch_audience_of_its_own_keeps_launch_and_bearer_tokens_apart() {
    const LAUNCH_AUD: &str = "https://erpgate.initech.example/launch";
    let gw = page::start_with(
        "",
        "cors_origins = [\"https://portal.initech.example\"]",
        &format!("audience = \"{LAUNCH_AUD}\""),
    );
    let origin = format!("http://127.0.0.1:{}", gw.addr.port());
    let mut launcher = page::destination(&origin, &keys().fusion, FUSION);
    let bearer_token = page::token(&launcher, USER);
    launcher.audience = LAUNCH_AUD.into();
    let launch_token = page::token(&launcher, USER);

    // A launch token is refused as Bearer before any launch (its audience says what it is).
    let invoices = format!("{V}/invoices?limit=1");
    let as_bearer = |t: &str| {
        let auth = format!("Bearer {t}");
        gw.get(&invoices, &[("Authorization", auth.as_str())])
    };
    let r = as_bearer(&launch_token);
    assert_eq!(r.status, 401, "{}", r.text());
    let rid = r.header("x-request-id").expect("rid").to_string();
    assert_eq!(gw.audit_record(&rid)["detail"], "jwt_launch_audience");
    // An API token (the Bearer path's audience) does not launch, and still works as Bearer.
    let r = gw.get(&format!("{LAUNCH}?jwt={bearer_token}"), &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("launch.refused"));
    assert!(r.header("set-cookie").is_none());
    let rid = r.header("x-request-id").expect("rid").to_string();
    assert_eq!(gw.audit_record(&rid)["detail"], "jwt_audience");
    assert_eq!(as_bearer(&bearer_token).status, 200);
    // The launch token launches.
    let r = gw.get(&format!("{LAUNCH}?jwt={launch_token}"), &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = cookie_header(&page::session_cookie(
        r.header("set-cookie").expect("cookie"),
    ));

    // The session answers its own page only: same-origin, no CORS answer; a page on the
    // tenant's CORS origin (same site, so it gets the Strict cookie) cannot act in it.
    let r = gw.get(&invoices, &[("Cookie", &cookie), ("Origin", &origin)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("access-control-allow-credentials").is_none());
    let portal = "https://portal.initech.example";
    let r = gw.get(&invoices, &[("Cookie", &cookie), ("Origin", portal)]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "session.csrf");
    // Nor does the refusal answer with CORS, which would tell that page whether the browser
    // holds a session: not for the relay, not for the viewer's own routes, not for a forged
    // cookie.
    assert!(r.header("access-control-allow-origin").is_none());
    let forged = cookie_header(&"A".repeat(43));
    for (target, c) in [
        (format!("{LAUNCH}/session"), cookie.as_str()),
        (format!("{LAUNCH}/session"), forged.as_str()),
        (invoices.clone(), forged.as_str()),
    ] {
        let r = gw.get(&target, &[("Cookie", c), ("Origin", portal)]);
        assert!(r.status >= 400, "{target}: {}", r.text());
        assert!(
            r.header("access-control-allow-origin").is_none(),
            "{target}: {:?}",
            r.header("access-control-allow-origin")
        );
    }
    let r = gw.send(&request(
        "POST",
        &format!("{V}/invoices"),
        &[
            ("Cookie", cookie.as_str()),
            ("Origin", portal),
            ("X-Erpgate-Csrf", "1"),
            ("Content-Type", "application/json"),
        ],
        Some(b"{}"),
    ));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "session.csrf");
    // The tenant's CORS origin still gets CORS for its own (Bearer) callers.
    let auth = format!("Bearer {bearer_token}");
    let r = gw.get(
        &invoices,
        &[("Authorization", auth.as_str()), ("Origin", portal)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(portal));

    // A launch path never reads a body: one sent there ends the connection after the answer.
    let r = gw.send(&request(
        "POST",
        &format!("{LAUNCH}/end"),
        &[
            ("Cookie", cookie.as_str()),
            ("Origin", origin.as_str()),
            ("X-Erpgate-Csrf", "1"),
            ("Content-Type", "text/plain"),
        ],
        Some(b"unread body, never a next request"),
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    let r = gw.send(&request(
        "POST",
        &format!("{LAUNCH}?jwt={launch_token}"),
        &[("Content-Type", "text/plain")],
        Some(b"hello"),
    ));
    assert_eq!(r.status, 405, "a launch is a GET: {}", r.text());
    assert!(r.text().contains("method.not_allowed"));
    assert_eq!(r.header("connection"), Some("close"));
}

/// A token Fusion signed over exactly `claims` (the simulated Fusion's key and issuer).
fn fusion_token(claims: &Value) -> String {
    let key = &keys().fusion;
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": key.certificate().x5t()});
    let mut token = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(claims.to_string().as_bytes())
    );
    let sig = key.sign_rs256(token.as_bytes()).expect("sign");
    token.push('.');
    token.push_str(&b64::encode(&sig));
    token
}

#[test]
fn a_jti_starts_one_session_a_token_bounds_its_session_and_a_null_origin_acts_in_none() {
    let metrics = format!("127.0.0.1:{}", support::free_port());
    let gw = page::start(&format!("metrics_listen = \"{metrics}\""));
    let now = chrono::Utc::now().timestamp();
    let claims = |jti: &str, lifetime: i64, iat: i64| {
        serde_json::json!({"iss": FUSION, "prn": USER, "sub": USER, "aud": page::AUD,
            "iat": iat, "exp": now + lifetime, "jti": jti, "roles": ["AP_CLERK"]})
    };
    // Two different tokens with one jti: the second is a replay, whatever its bytes.
    let first = fusion_token(&claims("fusion-jti-1", 120, now));
    let second = fusion_token(&claims("fusion-jti-1", 300, now - 5));
    assert_ne!(first, second);
    // Without a launch audience of its own, an unused launch token is an Oracle user token
    // like any other: used as Bearer (the verified-token cache now holds it) ...
    let invoices = format!("{V}/invoices?limit=1");
    let bearer = format!("Bearer {first}");
    let r = gw.get(&invoices, &[("Authorization", bearer.as_str())]);
    assert_eq!(r.status, 200, "{}", r.text());
    // ... but once it launched, the cached verification does not let it through.
    let r = gw.get(&format!("{LAUNCH}?jwt={first}"), &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    let refused = gw.get(&invoices, &[("Authorization", bearer.as_str())]);
    assert_eq!(refused.status, 401, "{}", refused.text());
    let rid = refused.header("x-request-id").expect("rid").to_string();
    assert_eq!(gw.audit_record(&rid)["detail"], "jwt_launch_token");
    let cookie = cookie_header(&page::session_cookie(
        r.header("set-cookie").expect("cookie"),
    ));
    let r = gw.get(&format!("{LAUNCH}?jwt={second}"), &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("launch.replayed"));
    assert!(r.header("set-cookie").is_none());

    // The session ends with its token (120 s here), sooner than session_max_minutes (20).
    let s = gw.get(&format!("{LAUNCH}/session"), &[("Cookie", &cookie)]);
    assert_eq!(s.status, 200, "{}", s.text());
    assert_eq!(s.json()["expires_at"], now + 120);

    // `Origin: null` (a sandboxed frame, a data: page) acts in no session, reading or not.
    let r = gw.get(&invoices, &[("Cookie", &cookie), ("Origin", "null")]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "session.csrf");
    let r = gw.send(&request(
        "POST",
        &format!("{LAUNCH}/end"),
        &[
            ("Cookie", cookie.as_str()),
            ("Origin", "null"),
            ("X-Erpgate-Csrf", "1"),
        ],
        Some(b""),
    ));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        gw.get(&invoices, &[("Cookie", &cookie)]).status,
        200,
        "still live"
    );

    // Nothing of the tokens or the session id in the metrics.
    let scraped = http::raw(
        metrics.parse().expect("addr"),
        &request("GET", "/metrics", &[], None),
    )
    .expect("scrape")
    .text();
    assert!(scraped.contains("erpgate_requests_total"), "{scraped}");
    let id = cookie.trim_start_matches("__Host-erpgate-oracle=");
    for secret in [first.as_str(), second.as_str(), id] {
        let probe = &secret[secret.len() - 30..];
        assert!(!scraped.contains(probe), "a secret in the metrics");
    }
}
