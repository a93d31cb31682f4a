//! Reloading the configuration: the one caller of [`App::reload`], whichever face asks (a
//! SIGHUP, the admin API's `POST /reload`).

use crate::app::App;

/// One reload: swap or refuse, then a log line and an audit record either way. Returns the
/// new snapshot version, or the problems that refused it.
pub fn reload(app: &App, actor: &str) -> Result<u64, crate::config::ConfigError> {
    let result = app.reload();
    app.metrics.reload(result.is_ok());
    let note = match &result {
        Ok(version) => {
            let c = app.compiled.load();
            tracing::info!(version, hash = %c.snapshot.hash, by = actor, "configuration reloaded");
            serde_json::json!({"result": "ok", "version": version, "hash": c.snapshot.hash})
        }
        Err(e) => {
            tracing::error!(by = actor, problems = %e, "configuration reload refused; the previous configuration keeps serving");
            serde_json::json!({"result": "refused", "problems": e.problems})
        }
    };
    let rec = crate::audit::AuditRecord {
        ts: crate::audit::record::now(),
        request_id: crate::crypto::random_id("adm-", 8).unwrap_or_else(|_| "adm-reload".into()),
        kind: Some(crate::audit::Kind::Admin),
        actor: actor.to_string(),
        method: "config.reload".into(),
        path: app.config_path().display().to_string(),
        decision: if result.is_ok() { "ok" } else { "refused" }.into(),
        note: Some(note),
        ..Default::default()
    };
    match app.audit.reserve() {
        Ok(slot) => slot.send(rec),
        Err(why) => tracing::warn!(?why, "reload not audited: audit unavailable"),
    }
    result
}
