//! Accounts and their credential sets: list and search, create, suspend, resume; an
//! account's page with its credential sets (issue one — its secrets shown once in a banner,
//! never again — or revoke one) and the policies that grant it something, rule by rule.
//! Binding an account to another Oracle user or secret stays with the CLI and the admin API
//! (an owner's decision, made where the secret names are).

use std::fmt::Write as _;

use super::page::{self, esc, Answer, Notice};
use super::session::Current;
use super::{PortalRequest, PortalState, Reply};
use crate::service::admin_token::Role;
use crate::service::credential::Issued;
use crate::store::{AccountStatus, CredentialStatus};

fn can_change(c: &Current) -> bool {
    Role::parse(&c.user.role).is_some_and(|r| r >= Role::Admin)
}

/// `GET /portal/accounts` (`?q=` filters by name).
pub fn list(state: &PortalState, req: &PortalRequest) -> Reply {
    match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => render_list(state, &c, req.query("q").unwrap_or(""), 200, None),
        Err(r) => r,
    }
}

fn render_list(
    state: &PortalState,
    c: &Current,
    q: &str,
    status: u16,
    notice: Option<Notice<'_>>,
) -> Reply {
    let Ok(store) = state.store() else {
        return super::unavailable().into();
    };
    let (Ok(accounts), Ok(creds)) = (store.list_accounts(), store.list_credentials(None)) else {
        return super::unavailable().into();
    };
    drop(store);
    let q = q.trim();
    let mut body = format!(
        r#"<form method="get" action="/portal/accounts" role="search">
<label for="q">Search accounts</label>
<input type="search" id="q" name="q" value="{}">
<button type="submit" class="plain">Search</button>
</form>
<table id="accounts"><tr><th scope="col">Account</th><th scope="col">Tenant</th><th scope="col">Status</th><th scope="col">Active credential sets</th></tr>"#,
        esc(q)
    );
    let needle = q.to_lowercase();
    for a in accounts
        .iter()
        .filter(|a| needle.is_empty() || a.name.contains(&needle))
    {
        let active = creds
            .iter()
            .filter(|k| k.account == a.name && k.status == CredentialStatus::Active)
            .count();
        let _ = write!(
            body,
            r#"<tr><td><a href="/portal/accounts/{n}">{n}</a></td><td>{}</td><td>{}</td><td>{active}</td></tr>"#,
            esc(&a.tenant),
            a.status.as_str(),
            n = esc(&a.name),
        );
    }
    body.push_str("</table>");
    if can_change(c) {
        let tenants: String = state
            .app
            .compiled
            .load()
            .snapshot
            .tenants
            .iter()
            .map(|t| format!(r#"<option value="{0}">{0}</option>"#, esc(&t.name)))
            .collect();
        let _ = write!(
            body,
            r#"<h2>Create an account</h2>
<form method="post" action="/portal/accounts">
{}
<label for="name">Name</label>
<input type="text" id="name" name="name" required pattern="[a-z0-9][a-z0-9._\-]{{0,63}}" autocomplete="off">
<label for="tenant">Tenant</label>
<select id="tenant" name="tenant">{tenants}</select>
<button type="submit">Create</button>
</form>
<p class="muted">It calls Oracle as its tenant's user. Nothing is granted until a policy names it (<code>account:NAME</code>).</p>"#,
            page::csrf_field(&c.csrf)
        );
    }
    Answer::Page(
        status,
        page::frame("Accounts", Some(&c.viewer()), notice, &body),
    )
    .into()
}

/// `POST /portal/accounts`: name and tenant.
pub fn create(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::posted(state, req, Role::Admin) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = req.form.text("name");
    let tenant = req.form.text("tenant");
    let snapshot = state.app.compiled.load();
    let result = match state.store() {
        Ok(mut store) => {
            let mut op = super::operator(state, &mut store, &c);
            crate::service::account::create(
                &mut op,
                &snapshot.snapshot,
                &crate::service::account::NewAccount {
                    name,
                    tenant,
                    oracle_user: None,
                    upstream_secret: None,
                },
                |_| {},
            )
        }
        Err(a) => return a.into(),
    };
    match result {
        Ok(a) => Answer::Redirect(format!("/portal/accounts/{}?m=created", a.name)).into(),
        Err(e) => render_list(state, &c, "", 400, Some(Notice::Error(&e.to_string()))),
    }
}

/// `GET /portal/accounts/NAME`.
pub fn show(state: &PortalState, req: &PortalRequest, name: &str) -> Reply {
    let c = match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notice = match req.query("m") {
        Some("created") => Some(Notice::Ok("Account created.")),
        Some("suspend") => Some(Notice::Ok(
            "Suspended: its requests are refused from now on.",
        )),
        Some("resume") => Some(Notice::Ok("Resumed.")),
        Some("revoke") => Some(Notice::Ok(
            "Credential set revoked: refused from the next request on.",
        )),
        _ => None,
    };
    render_account(state, &c, name, 200, notice, None)
}

fn render_account(
    state: &PortalState,
    c: &Current,
    name: &str,
    status: u16,
    notice: Option<Notice<'_>>,
    issued: Option<&Issued>,
) -> Reply {
    let Ok(store) = state.store() else {
        return super::unavailable().into();
    };
    let (account, creds) = match (store.get_account(name), store.list_credentials(Some(name))) {
        (Ok(Some(a)), Ok(k)) => (a, k),
        (Ok(None), _) => return not_found(c),
        _ => return super::unavailable().into(),
    };
    // Last use, from the audit trail (the account's recent request records, read once).
    let ids: Vec<&str> = creds.iter().map(|k| k.id.as_str()).collect();
    let last_use: Vec<String> =
        match crate::audit::query::last_uses(store.conn(), &account.name, &ids) {
            Ok(found) => found
                .into_iter()
                .map(|t| match t {
                    Some(ts) => esc(&ts),
                    None => format!(
                        "not in the last {} requests",
                        crate::audit::query::LAST_USE_WINDOW
                    ),
                })
                .collect(),
            Err(_) => vec!["unknown".into(); creds.len()],
        };
    drop(store);
    let mut body = String::with_capacity(4096);
    if let Some(i) = issued {
        let _ = write!(
            body,
            r#"<div class="banner" role="alert"><p><strong>Shown once.</strong> The secrets of credential set <code>{id}</code>. Hand them to the integration over a safe channel now: they are stored only as hashes and this page will not show them again.</p>
<table>
<tr><th scope="row">API user</th><td><code id="cred-user">{user}</code> <button type="button" class="plain" data-copy="cred-user">Copy</button></td></tr>
<tr><th scope="row">API password</th><td><code id="cred-password">{pass}</code> <button type="button" class="plain" data-copy="cred-password">Copy</button></td></tr>
<tr><th scope="row">x-api-key</th><td><code id="cred-key">{key}</code> <button type="button" class="plain" data-copy="cred-key">Copy</button></td></tr>
</table></div>"#,
            id = esc(&i.id),
            user = esc(&i.username),
            pass = esc(i.password.expose()),
            key = esc(i.api_key.expose()),
        );
    }
    let active = account.status == AccountStatus::Active;
    let _ = write!(
        body,
        r#"<p>Tenant <strong>{}</strong> · status <span class="state {}" id="account-status">{}</span>{}</p>"#,
        esc(&account.tenant),
        if active { "off" } else { "on" },
        account.status.as_str(),
        account
            .oracle_user
            .as_deref()
            .map(|u| format!(" · calls Oracle as <code>{}</code>", esc(u)))
            .unwrap_or_default(),
    );
    let action = |path: &str, label: &str, class: &str| {
        format!(
            r#"<form method="post" action="{path}" class="inline">{}<button type="submit"{class}>{label}</button></form> "#,
            page::csrf_field(&c.csrf)
        )
    };
    let base = format!("/portal/accounts/{}", esc(&account.name));
    if can_change(c) {
        body.push_str("<p>");
        if active {
            body.push_str(&action(
                &format!("{base}/suspend"),
                "Suspend",
                r#" class="danger""#,
            ));
        } else {
            body.push_str(&action(&format!("{base}/resume"), "Resume", ""));
        }
        body.push_str(&action(
            &format!("{base}/issue"),
            "Issue a credential set",
            "",
        ));
        body.push_str("</p>");
    }
    body.push_str(r#"<h2>Credential sets</h2><table id="credentials"><tr><th scope="col">Id</th><th scope="col">API user</th><th scope="col">x-api-key id</th><th scope="col">Status</th><th scope="col">Issued</th><th scope="col">Last used</th><th scope="col"></th></tr>"#);
    for (k, last) in creds.iter().zip(&last_use) {
        let live = k.status == CredentialStatus::Active;
        let revoke = if live && can_change(c) {
            action(
                &format!("/portal/credentials/{}/revoke", esc(&k.id)),
                "Revoke",
                r#" class="danger""#,
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"last-use\">{last}</td><td>{revoke}</td></tr>",
            esc(&k.id),
            esc(&k.username),
            esc(&k.api_key_id),
            if live { "active".to_string() } else { format!("revoked {}", esc(k.revoked_at.as_deref().unwrap_or(""))) },
            esc(&k.created_at),
        );
    }
    body.push_str("</table>");
    body.push_str(&grants_of(state, &account.name, &account.tenant));
    Answer::Page(
        status,
        page::frame(
            &format!("Account {}", account.name),
            Some(&c.viewer()),
            notice,
            &body,
        ),
    )
    .into()
}

/// What the policies in force grant `account` (of `tenant`), rule by rule.
fn grants_of(state: &PortalState, account: &str, tenant: &str) -> String {
    let compiled = state.app.compiled.load();
    let snap = &compiled.snapshot;
    let subject = format!("account:{account}");
    let mut out = String::from(r#"<h2>What the policies grant it</h2>"#);
    let mut any = false;
    for p in snap
        .policies
        .iter()
        .filter(|p| p.subjects.contains(&subject))
    {
        let scope = p.tenant.and_then(|t| snap.tenants.get(t.0 as usize));
        if scope.is_some_and(|t| t.name != tenant) {
            continue;
        }
        any = true;
        let _ = write!(
            out,
            r#"<h3>Policy <code>{}</code>{}</h3><table><tr><th scope="col">Rule</th><th scope="col">Endpoint</th><th scope="col">Methods</th></tr>"#,
            esc(&p.name),
            if p.schedule_exempt {
                " · exempt from the schedule"
            } else {
                ""
            },
        );
        for r in &p.rules {
            for (e, methods) in &r.grants {
                let ep = snap.catalog.endpoint(*e);
                let m: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td><code>{}</code> <span class=\"muted\">{}</span></td><td>{}</td></tr>",
                    esc(&r.name),
                    esc(&ep.name),
                    esc(&ep.template),
                    m.join(", ")
                );
            }
        }
        out.push_str("</table>");
    }
    if !any {
        out.push_str("<p>Nothing: no policy names this account, so every request it makes is refused (deny by default).</p>");
    }
    out
}

fn not_found(c: &Current) -> Reply {
    Answer::Page(
        404,
        page::frame(
            "No such account",
            Some(&c.viewer()),
            None,
            r#"<p><a href="/portal/accounts">Back to the accounts</a></p>"#,
        ),
    )
    .into()
}

/// `POST /portal/accounts/NAME/{suspend,resume,issue}`.
pub fn act(state: &PortalState, req: &PortalRequest, name: &str, action: &str) -> Reply {
    let c = match super::posted(state, req, Role::Admin) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(mut store) = state.store() else {
        return super::unavailable().into();
    };
    let mut op = super::operator(state, &mut store, &c);
    let outcome = match action {
        "suspend" | "resume" => {
            crate::service::account::set_active(&mut op, name, action == "resume", |_| {})
                .map(|_| None)
        }
        "issue" => {
            crate::service::credential::issue(&mut op, &state.passwords, name, |_| {}).map(Some)
        }
        _ => return not_found(&c),
    };
    drop(store);
    match outcome {
        Ok(Some(issued)) => render_account(
            state,
            &c,
            name,
            200,
            Some(Notice::Ok("Credential set issued.")),
            Some(&issued),
        ),
        Ok(None) => Answer::Redirect(format!("/portal/accounts/{name}?m={action}")).into(),
        Err(e) => render_account(
            state,
            &c,
            name,
            400,
            Some(Notice::Error(&e.to_string())),
            None,
        ),
    }
}

/// `POST /portal/credentials/ID/revoke`.
pub fn revoke(state: &PortalState, req: &PortalRequest, id: &str) -> Reply {
    let c = match super::posted(state, req, Role::Admin) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(mut store) = state.store() else {
        return super::unavailable().into();
    };
    let mut op = super::operator(state, &mut store, &c);
    let outcome = crate::service::credential::revoke(&mut op, id, |_| {});
    drop(store);
    match outcome {
        Ok(k) => Answer::Redirect(format!("/portal/accounts/{}?m=revoke", k.account)).into(),
        Err(e) => render_list(state, &c, "", 400, Some(Notice::Error(&e.to_string()))),
    }
}
