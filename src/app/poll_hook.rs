//! The store poller's work besides reloading the access state, for a running gateway.

use std::sync::Arc;
use std::time::Duration;

use super::App;

/// How long the argon2 work area is kept after the last password verification: a flood of
/// first logins reuses it, an idle gateway does not hold it.
pub const PASSWORD_AREA_IDLE: Duration = Duration::from_secs(60);

/// What the store poller does after each poll: this gateway's heartbeat (node id and snapshot
/// hash, read back with everyone's for `/status`); on a shared store, the locks engaged by
/// other gateways applied to this one's lockout table, and old counters forgotten; every
/// minute, expired portal sessions and browser sessions removed; and on every poll, the argon2
/// work area freed once no password was verified for [`PASSWORD_AREA_IDLE`].
pub fn hook(app: Arc<App>, node: &str, shared: bool) -> crate::directory::poller::Hook {
    let mut beat = crate::directory::cluster::Heartbeat::new(node);
    let mut last_sweep: Option<std::time::Instant> = None;
    Box::new(move |store| {
        let now = std::time::Instant::now();
        // First, and whatever the store does: an outage must not keep the area held. One
        // uncontended lock per poll; the area's own last use says whether it is due.
        if app.auth.passwords().release_idle(PASSWORD_AREA_IDLE) {
            tracing::debug!("argon2 work area freed after a minute without a verification");
        }
        let compiled = app.compiled.load();
        beat.tick(store, &app.cluster, &compiled.snapshot.shared_hash, now)?;
        let sweep = last_sweep.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60));
        if sweep {
            // Browser sessions whose launch token can no longer verify (replays of it are
            // refused by the token's own expiry from then on).
            store.forget_browser_sessions(chrono::Utc::now().timestamp())?;
            if let Some(p) = &compiled.snapshot.gateway.portal {
                // Portal sessions past their lifetime or idle timeout: refused when presented
                // anyway, removed here so the table holds live sessions only.
                let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                let now_ms = crate::directory::cluster::unix_ms();
                store.forget_portal_sessions(
                    now_ms.saturating_sub(ms(p.session_max)),
                    now_ms.saturating_sub(ms(p.idle)),
                )?;
            }
        }
        if !shared {
            if sweep {
                last_sweep = Some(now);
            }
            return Ok(());
        }
        let settings = compiled.snapshot.gateway.token_lockout;
        let now_ms = crate::directory::cluster::unix_ms();
        let locks: Vec<_> = store
            .locked_keys(now_ms, 10_000)?
            .iter()
            .map(|c| super::shared_failures::state(c, now_ms))
            .collect();
        app.auth.lockout.absorb_locks(&locks, now, settings);
        if sweep {
            let window = i64::try_from(settings.window.as_millis()).unwrap_or(i64::MAX);
            store.forget_failures(now_ms, window)?;
            last_sweep = Some(now);
        }
        Ok(())
    })
}
