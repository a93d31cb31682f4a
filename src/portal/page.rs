//! The portal's HTML: escaping, the page frame, and the response a handler returns. Pages are
//! rendered on the server from escaped strings; there is no inline script or style (the CSP
//! forbids both), one stylesheet, and one small script file for the copy button.

use std::fmt::Write as _;

pub use crate::html::esc;

/// What a portal handler answers.
pub enum Answer {
    /// An HTML page with a status.
    Page(u16, String),
    /// 303 to a portal path (after a form: the browser then GETs it).
    Redirect(String),
    /// A static asset.
    Asset(&'static str, &'static str),
    /// A file to save (JSON lines): its name and content.
    Download(&'static str, Vec<u8>),
}

/// Who is looking at a page, for its navigation.
pub struct Viewer<'a> {
    /// Login name.
    pub name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// The form token of the session.
    pub csrf: &'a str,
}

/// A notice at the top of a page.
pub enum Notice<'a> {
    /// Something went well.
    Ok(&'a str),
    /// Something was refused.
    Error(&'a str),
}

/// The hidden form field with the session's form token.
pub fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

/// A whole page: head, navigation (when someone is logged in), notice, `body`.
pub fn frame(
    title: &str,
    viewer: Option<&Viewer<'_>>,
    notice: Option<Notice<'_>>,
    body: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · erpgate</title>
<link rel="stylesheet" href="/portal/static/portal.css">
<script src="/portal/static/portal.js" defer></script>
</head>
<body>
<header>
<span class="brand">erpgate</span>
"#,
        esc(title)
    );
    if let Some(v) = viewer {
        let _ = write!(
            out,
            r#"<nav aria-label="Main">
<a href="/portal/overview">Overview</a>
<a href="/portal/accounts">Accounts</a>
<a href="/portal/policies">Policies</a>
<a href="/portal/audit">Audit</a>
<a href="/portal/tokens">Tokens</a>
{}<a href="/portal/settings">Settings</a>
<a href="/portal/password">Password</a>
</nav>
<form method="post" action="/portal/logout" class="who">
{}<span>{} ({})</span> <button type="submit">Log out</button>
</form>
"#,
            if v.role == "owner" {
                r#"<a href="/portal/users">Portal users</a>
"#
            } else {
                ""
            },
            csrf_field(v.csrf),
            esc(v.name),
            esc(v.role)
        );
    }
    out.push_str("</header>\n<main>\n");
    let _ = writeln!(out, "<h1>{}</h1>", esc(title));
    match notice {
        Some(Notice::Ok(m)) => {
            let _ = writeln!(out, r#"<p class="notice ok" role="status">{}</p>"#, esc(m));
        }
        Some(Notice::Error(m)) => {
            let _ = writeln!(
                out,
                r#"<p class="notice error" role="alert">{}</p>"#,
                esc(m)
            );
        }
        None => {}
    }
    out.push_str(body);
    out.push_str("\n</main>\n</body>\n</html>\n");
    out
}

/// A page that moves the browser on to portal path `to` by itself (a meta refresh, and a
/// link for anyone whose browser does not follow it). Used where a redirect would not do:
/// after a sign-in that arrived from another site, the browser treats a redirect as part of
/// that cross-site navigation and withholds the `SameSite=Strict` session cookie; a
/// navigation this page starts is the portal's own.
pub fn continue_page(title: &str, to: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={to}">
<title>{title} · erpgate</title>
<link rel="stylesheet" href="/portal/static/portal.css">
</head>
<body>
<main>
<h1>{title}</h1>
<p><a id="continue" href="{to}">Continue</a></p>
</main>
</body>
</html>
"#,
        to = esc(to),
        title = esc(title)
    )
}

/// The stylesheet: plain, readable, high contrast.
pub const CSS: &str = include_str!("portal.css");
/// The one script: copies the text of `[data-copy]` targets to the clipboard.
pub const JS: &str = include_str!("portal.js");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        let page = frame(
            "<b>",
            Some(&Viewer {
                name: "<i>",
                role: "owner",
                csrf: "\"x",
            }),
            Some(Notice::Error("<img>")),
            "",
        );
        assert!(!page.contains("<b>") && !page.contains("<i>") && !page.contains("<img>"));
        assert!(page.contains("&quot;x"));
    }
}
