//! Portal users (owners only): list them with their role, second factor and sessions; create
//! one (its first password shown once), disable, enable, change the role, reset (a new
//! password shown once, the second factor to set up again), end their sessions, delete. Each
//! goes through `service::portal_user`, audited as `portal:<owner>`; a change to a user ends
//! their sessions at once.

use std::fmt::Write as _;

use super::page::{self, esc, Answer, Notice};
use super::session::Current;
use super::{PortalRequest, PortalState, Reply};
use crate::crypto::SecretString;
use crate::service::admin_token::Role;

/// `GET /portal/users`.
pub fn list(state: &PortalState, req: &PortalRequest) -> Reply {
    match super::logged_in(state, req, Role::Owner) {
        Ok(c) => render(state, &c, 200, None, None),
        Err(r) => r,
    }
}

/// The page; `shown` is a one-time password to show in a banner: (user, password).
fn render(
    state: &PortalState,
    c: &Current,
    status: u16,
    notice: Option<Notice<'_>>,
    shown: Option<(&str, &SecretString)>,
) -> Reply {
    let Ok(store) = state.store() else {
        return super::unavailable().into();
    };
    let (users, sessions) = match (store.portal_users(), store.portal_session_counts()) {
        (Ok(u), Ok(s)) => (u, s),
        _ => return super::unavailable().into(),
    };
    drop(store);
    let mut body = String::with_capacity(4096);
    if let Some((name, password)) = shown {
        let _ = write!(
            body,
            r#"<div class="banner" role="alert"><p><strong>Shown once.</strong> The password of <strong>{}</strong> is:</p>
<p><code id="one-time">{}</code> <button type="button" class="plain" data-copy="one-time">Copy</button></p>
<p>Give it to them over a safe channel now. It will not be shown again; reloading this page does not show it.</p></div>"#,
            esc(name),
            esc(password.expose())
        );
    }
    body.push_str(r#"<table id="users"><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Second factor</th><th scope="col">Sessions</th><th scope="col">Actions</th></tr>"#);
    for u in &users {
        let n = sessions
            .iter()
            .find(|(name, _)| *name == u.name)
            .map_or(0, |(_, n)| *n);
        let action = |what: &str, label: &str, extra: &str| {
            format!(
                r#"<form method="post" action="/portal/users/{name}/{what}" class="inline">{csrf}{extra}<button type="submit" class="plain">{label}</button></form> "#,
                name = esc(&u.name),
                csrf = page::csrf_field(&c.csrf),
            )
        };
        let mut actions = String::new();
        if u.active {
            actions.push_str(&action("disable", "Disable", ""));
        } else {
            actions.push_str(&action("enable", "Enable", ""));
        }
        actions.push_str(&action("reset", "Reset password", ""));
        if n > 0 {
            actions.push_str(&action("end-sessions", "End sessions", ""));
        }
        for role in ["owner", "admin", "auditor"] {
            if role != u.role {
                let extra = format!(r#"<input type="hidden" name="role" value="{role}">"#);
                actions.push_str(&action("role", &format!("Make {role}"), &extra));
            }
        }
        actions.push_str(&action("delete", "Delete", ""));
        let _ =
            write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{n}</td><td>{actions}</td></tr>",
            esc(&u.name),
            esc(&u.role),
            if u.active { "active" } else { "disabled" },
            if u.totp_sealed.is_some() { "set up" } else { "not set up" },
        );
    }
    body.push_str("</table>");
    let _ = write!(
        body,
        r#"<h2>Create a portal user</h2>
<form method="post" action="/portal/users">
{csrf}
<label for="name">User name</label>
<input type="text" id="name" name="name" required pattern="[a-z0-9][a-z0-9._\-]{{0,63}}" autocomplete="off">
<label for="role">Role</label>
<select id="role" name="role"><option value="auditor">auditor (reads)</option><option value="admin">admin (changes accounts, credentials, the kill switch)</option><option value="owner">owner (also manages portal users)</option></select>
<button type="submit">Create</button>
</form>
<p class="muted">A password is generated and shown once. Owners and admins set up their second factor at their first login.</p>"#,
        csrf = page::csrf_field(&c.csrf)
    );
    let viewer = c.viewer();
    Answer::Page(
        status,
        page::frame("Portal users", Some(&viewer), notice, &body),
    )
    .into()
}

/// `POST /portal/users`: create one.
pub fn create(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::posted(state, req, Role::Owner) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = req.form.text("name");
    let Some(role) = Role::parse(req.form.text("role")) else {
        return render(state, &c, 400, Some(Notice::Error("Choose a role.")), None);
    };
    let result = match state.store() {
        Ok(mut store) => {
            let mut op = super::operator(state, &mut store, &c);
            crate::service::portal_user::create(&mut op, &state.passwords, name, role, None, |_| {})
        }
        Err(a) => return a.into(),
    };
    match result {
        Ok(password) => {
            let msg = format!("Created {name} ({}).", role.as_str());
            render(
                state,
                &c,
                200,
                Some(Notice::Ok(&msg)),
                Some((name, &password)),
            )
        }
        Err(e) => render(state, &c, 400, Some(Notice::Error(&e.to_string())), None),
    }
}

/// `POST /portal/users/NAME/ACTION`.
pub fn act(state: &PortalState, req: &PortalRequest, path: &str) -> Reply {
    use crate::service::portal_user as pu;
    let c = match super::posted(state, req, Role::Owner) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let rest = path.trim_start_matches("/portal/users/");
    let Some((name, action)) = rest.split_once('/') else {
        return render(state, &c, 404, Some(Notice::Error("No such action.")), None);
    };
    let Ok(mut store) = state.store() else {
        return super::unavailable().into();
    };
    let mut op = super::operator(state, &mut store, &c);
    let done: Result<Option<SecretString>, crate::service::ServiceError> = match action {
        "disable" => pu::set_active(&mut op, name, false, |_| {}).map(|_| None),
        "enable" => pu::set_active(&mut op, name, true, |_| {}).map(|_| None),
        "end-sessions" => pu::end_sessions(&mut op, name, |_| {}).map(|_| None),
        "delete" => pu::delete(&mut op, name, |_| {}).map(|_| None),
        "reset" => pu::reset(&mut op, &state.passwords, name, None, |_| {}).map(Some),
        "role" => match Role::parse(req.form.text("role")) {
            Some(role) => pu::set_role(&mut op, name, role, |_| {}).map(|_| None),
            None => Err(crate::service::ServiceError::Invalid("no such role".into())),
        },
        _ => Err(crate::service::ServiceError::Invalid(
            "no such action".into(),
        )),
    };
    drop(store);
    match done {
        // An owner who reset themselves ended their own session with it: the new password is
        // shown once here (with nothing else of the portal), then they log in again.
        Ok(Some(password)) if name == c.user.name => Reply {
            answer: Answer::Page(
                200,
                page::frame(
                    "Your password was reset",
                    None,
                    None,
                    &format!(
                        r#"<div class="banner" role="alert"><p><strong>Shown once.</strong> Your new password:</p>
<p><code id="one-time">{}</code> <button type="button" class="plain" data-copy="one-time">Copy</button></p>
<p>Your sessions have ended and your second factor is to be set up again.</p></div>
<p><a href="/portal/login">Log in again</a></p>"#,
                        esc(password.expose())
                    ),
                ),
            ),
            cookies: vec![super::session::clear_cookie()],
        },
        // An owner who changed themselves otherwise (demoted, sessions ended) ended their own
        // session with it.
        Ok(_) if name == c.user.name => Answer::Redirect("/portal/login?m=ended".into()).into(),
        Ok(Some(password)) => {
            let msg = format!(
                "Reset {name}: their sessions ended; they set up their second factor again."
            );
            render(
                state,
                &c,
                200,
                Some(Notice::Ok(&msg)),
                Some((name, &password)),
            )
        }
        Ok(None) => {
            let msg = format!("Done: {action} {name}.");
            render(state, &c, 200, Some(Notice::Ok(&msg)), None)
        }
        Err(e) => render(state, &c, 400, Some(Notice::Error(&e.to_string())), None),
    }
}
