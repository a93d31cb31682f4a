//! Single sign-on to the portal with OpenID Connect, against a provider the test runs on
//! loopback: the authorization code with PKCE, `state` and `nonce`; the ID token verified on
//! the gateway (the issuer's keys only, `iss`, `aud`, `exp`, `nonce`); a person matched to an
//! existing portal user by subject, never created; every refusal a clear page, no session and
//! an audit record.

mod support;

use support::oidc::{Next, Provider};
use support::portal::{self, Client};
use support::Options;

fn location(r: &support::Response) -> String {
    r.header("location").unwrap_or("").to_string()
}

/// Where a successful sign-in's page sends the browser on (a page, not a redirect: the
/// session cookie is `SameSite=Strict` and the sign-in arrived from another site).
fn next(r: &support::Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    portal::between(&r.text(), "content=\"0;url=", "\"")
}

/// Starts the sign-in at the portal, follows the provider's redirect, and returns the
/// callback's answer (the client holds the round trip's cookie as a browser would).
fn sign_in(c: &mut Client, idp: &Provider) -> support::Response {
    let r = c.get("/portal/oidc/start");
    assert_eq!(r.status, 303, "{}", r.text());
    let to = location(&r);
    assert!(
        to.starts_with(&format!("{}/authorize?", idp.issuer)),
        "{to}"
    );
    let path = to.trim_start_matches(&idp.issuer).to_string();
    let back =
        support::http::raw(idp.addr, &support::request("GET", &path, &[], None)).expect("idp");
    assert_eq!(back.status, 302);
    let callback = back.header("location").expect("callback").to_string();
    let path = callback
        .split_once("/portal/")
        .map(|(_, p)| format!("/portal/{p}"))
        .expect("path");
    c.get(&path)
}

#[test]
fn people_sign_in_with_the_issuer_and_forgeries_do_not() {
    let idp = Provider::start();
    let secrets = tempfile::tempdir().expect("dir");
    let secret_file = secrets.path().join("oidc.secret");
    std::fs::write(&secret_file, format!("{}\n", idp.client_secret)).expect("secret");
    let extra = format!(
        "portal_oidc_issuer = \"{}\"\nportal_oidc_client_id = \"{}\"\nportal_oidc_client_secret_file = \"{}\"\nportal_oidc_redirect_uri = \"http://127.0.0.1/portal/oidc/callback\"\nportal_oidc_label = \"Sign in with Example ID\"",
        idp.issuer,
        idp.client_id,
        secret_file.display()
    );
    let p = portal::start_with(Options {
        gateway_extra: extra,
        ..Options::default()
    });
    let gw = &p.admin.gw;
    gw.ok(&[
        "portal-user",
        "create",
        "--name",
        "sso.auditor",
        "--role",
        "auditor",
    ]);
    gw.ok(&["portal-user", "sso", "sso.auditor", "alice-sub"]);
    gw.ok(&["portal-user", "sso", "root-owner", "owner-sub"]);
    let list = gw.ok(&["portal-user", "list"]);
    assert!(list.contains("alice-sub"), "{list}");

    // The login page offers it.
    let mut c = p.client();
    assert!(c
        .get("/portal/login")
        .text()
        .contains("Sign in with Example ID"));

    // A linked auditor signs in: PKCE, state and nonce went to the provider as they should.
    idp.next(Next::as_subject("alice-sub", &idp.client_id));
    let r = sign_in(&mut c, &idp);
    let start_cookie = c.last_set_cookie.clone().unwrap_or_default();
    assert_eq!(next(&r), "/portal/overview");
    let q = idp.last_authorization();
    let v = |k: &str| {
        q.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(v("response_type"), "code");
    assert_eq!(v("code_challenge_method"), "S256");
    assert!(v("scope").split(' ').any(|s| s == "openid"));
    assert_eq!(v("redirect_uri"), "http://127.0.0.1/portal/oidc/callback");
    assert!(v("state").len() >= 40 && v("nonce").len() >= 40 && v("code_challenge").len() >= 40);
    assert!(
        start_cookie.starts_with("__Host-erpgate-portal="),
        "{start_cookie}"
    );
    assert_eq!(c.get("/portal/overview").status, 200);

    // The round trip's cookie: sealed, short, Lax (the way back is a cross-site navigation).
    let mut probe = p.client();
    let r = probe.get("/portal/oidc/start");
    let set = r.header("set-cookie").expect("cookie").to_string();
    for flag in [
        "__Host-erpgate-oidc=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
    ] {
        assert!(set.contains(flag), "{set}");
    }

    // An owner signing in still gives the second factor.
    let mut o = p.client();
    idp.next(Next::as_subject("owner-sub", &idp.client_id));
    let r = sign_in(&mut o, &idp);
    assert_eq!(next(&r), "/portal/mfa");

    // Refusals: each a page saying so, no session, the round trip's cookie cleared.
    let refused = |n: Next, what: &str| {
        let mut c = p.client();
        idp.next(n);
        let r = sign_in(&mut c, &idp);
        assert_eq!(r.status, 403, "{what}: {}", r.text());
        assert!(r.text().contains("Sign-in refused"), "{what}");
        assert!(
            r.headers
                .iter()
                .all(|(k, v)| !k.eq_ignore_ascii_case("set-cookie") || v.contains("Max-Age=0")),
            "{what}: no session"
        );
        assert_eq!(
            location(&c.get("/portal/overview")),
            "/portal/login",
            "{what}"
        );
    };
    let ok = || Next::as_subject("alice-sub", &idp.client_id);
    refused(
        Next::as_subject("stranger-sub", &idp.client_id),
        "no portal user has this subject",
    );
    refused(
        Next {
            nonce: Some("another-nonce".into()),
            ..ok()
        },
        "the nonce of another round trip",
    );
    refused(
        Next {
            aud: serde_json::json!("another-client"),
            ..ok()
        },
        "another audience",
    );
    refused(
        Next {
            aud: serde_json::json!(["another-client", idp.client_id.clone()]),
            ..ok()
        },
        "several audiences without azp",
    );
    refused(
        Next {
            rogue_key: true,
            ..ok()
        },
        "a key the issuer does not publish",
    );
    refused(
        Next {
            exp_in: -600,
            ..ok()
        },
        "an expired token",
    );
    gw.ok(&["portal-user", "disable", "sso.auditor"]);
    refused(ok(), "a disabled user");
    gw.ok(&["portal-user", "enable", "sso.auditor"]);

    // A callback with another state, or without the round trip's cookie, or replayed.
    idp.next(ok());
    let mut c = p.client();
    let r = c.get("/portal/oidc/start");
    let to = location(&r);
    let path = to.trim_start_matches(&idp.issuer).to_string();
    let back =
        support::http::raw(idp.addr, &support::request("GET", &path, &[], None)).expect("idp");
    let callback = back.header("location").expect("callback").to_string();
    let path = callback
        .split_once("/portal/")
        .map(|(_, p)| format!("/portal/{p}"))
        .expect("path");
    let (prefix, _) = path.split_once("&state=").expect("state");
    let forged = format!("{prefix}&state=forged-state");
    let keep = c.cookie.clone();
    assert_eq!(c.get(&forged).status, 403, "another state");
    let mut stranger = p.client();
    assert_eq!(stranger.get(&path).status, 403, "no round trip cookie");
    c.cookie = keep.clone();
    assert_eq!(
        next(&c.get(&path)),
        "/portal/overview",
        "the genuine callback"
    );
    let mut again = p.client();
    again.cookie = keep;
    assert_eq!(again.get(&path).status, 403, "a code is redeemed once");

    // The trail: refusals with their reasons, sign-ins as logins by SSO; no secret.
    gw.eventually("the sign-in records", || {
        gw.audit(&[])
            .iter()
            .filter(|r| r["method"] == "portal.sso")
            .count()
            >= 10
    });
    let recs = gw.audit(&[]);
    let reasons: Vec<&str> = recs
        .iter()
        .filter(|r| r["method"] == "portal.sso")
        .filter_map(|r| r["note"]["reason"].as_str())
        .collect();
    for want in [
        "no_portal_user",
        "nonce_mismatch",
        "token_refused",
        "state_mismatch",
        "no_round_trip",
    ] {
        assert!(reasons.contains(&want), "{want} in {reasons:?}");
    }
    assert!(recs.iter().any(|r| r["method"] == "portal.login"
        && r["note"]["method"] == "sso"
        && r["actor"] == "portal:sso.auditor"));
    let text = serde_json::to_string(&recs).expect("json") + &gw.log_text();
    assert!(
        !text.contains(&idp.client_secret),
        "the client secret leaked"
    );
}
