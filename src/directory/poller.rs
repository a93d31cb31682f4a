//! Keeps the [`DirectoryView`](super::DirectoryView) in step with the store.
//!
//! A dedicated thread with its own SQLite connection reads the single-row change counter every
//! `interval` (default 250 ms). When the counter differs from the view's, it loads the whole
//! directory in one read transaction and swaps it in. Reading one integer is a few
//! microseconds, so polling costs nothing measurable; changes reach the relay path within one
//! interval. If the store cannot be read the old view keeps serving and the error is logged
//! at every failed poll (an operator must see it: revocations would not propagate).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{DirectoryHandle, DirectoryView};
use crate::store::Store;

/// Whether a sealed value `(tenant, name, ciphertext)` opens under the keys this process holds.
pub type Opens = dyn Fn(&str, &str, &[u8]) -> bool + Send + Sync;

/// A shared [`Opens`].
pub type Opener = Arc<Opens>;

/// Work the poller does with its connection after each successful poll (the heartbeat, the
/// shared locks); an error is logged and the connection reopened.
pub type Hook = Box<dyn FnMut(&Store) -> Result<(), crate::store::StoreError> + Send>;

/// A running poller; stops when dropped or on [`Poller::stop`].
pub struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    /// Starts polling the database at `path`. With `opens`, a sealed value that a poll brings
    /// under a key this process does not hold is replaced by the one it held before
    /// ([`DirectoryView::keep_openable`]).
    pub fn start(
        path: crate::store::Database,
        handle: DirectoryHandle,
        freshness: Arc<super::freshness::Freshness>,
        interval: Duration,
        opens: Option<Opener>,
        hook: Option<Hook>,
    ) -> std::io::Result<Poller> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("erpgate-store-poller".into())
            .spawn(move || run(path, handle, &freshness, interval, opens, hook, flag))?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    path: crate::store::Database,
    handle: DirectoryHandle,
    freshness: &super::freshness::Freshness,
    interval: Duration,
    opens: Option<Opener>,
    mut hook: Option<Hook>,
    stop: Arc<AtomicBool>,
) {
    let mut store: Option<Store> = None;
    while !stop.load(Ordering::Relaxed) {
        // PostgreSQL announces every change (NOTIFY at commit): the wait ends as soon as one
        // comes, and the interval is the polling fallback. SQLite only polls.
        match store.as_ref().map(|s| s.conn().wait_notification(interval)) {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::error!(error = %e, "store poller lost its connection; access state is not refreshing");
                store = None;
                std::thread::sleep(interval);
            }
            None => std::thread::sleep(interval),
        }
        if store.is_none() {
            match Store::connect(&path).and_then(|s| {
                s.conn().listen(crate::store::CHANGES_CHANNEL)?;
                Ok(s)
            }) {
                Ok(s) => store = Some(s),
                Err(e) => {
                    tracing::error!(error = %e, "store poller cannot open the database; access state is not refreshing");
                    continue;
                }
            }
        }
        let Some(s) = store.as_ref() else { continue };
        match poll_once(s, &handle, opens.as_deref()) {
            Ok(_) => freshness.confirm(),
            Err(e) => {
                tracing::error!(error = %e, "store poller failed; access state is not refreshing");
                store = None;
                continue;
            }
        }
        // A failing hook (a missing grant on `nodes`, say) is logged; the connection, and
        // with it the change notifications, stay.
        if let Some(h) = hook.as_mut() {
            if let Err(e) = h(s) {
                tracing::warn!(error = %e, "store poller: heartbeat or shared lockout sync failed");
            }
        }
    }
}

/// Reloads the view if the store's change counter moved. Returns whether it reloaded.
pub fn poll_once(
    store: &Store,
    handle: &DirectoryHandle,
    opens: Option<&Opens>,
) -> Result<bool, crate::store::StoreError> {
    let counter = store.change_counter()?;
    let old = handle.load_full();
    if counter == old.counter() {
        return Ok(false);
    }
    let dir = store.load_directory()?;
    let mut view = DirectoryView::build(dir);
    if let Some(opens) = opens {
        for (tenant, name) in view.keep_openable(&old, &|t, n, c| opens(t, n, c)) {
            tracing::warn!(%tenant, secret = %name, "a sealed value changed to one this process's key does not open (the database was rotated to a key it does not hold?): it keeps serving the value it opened before; run it with the database's current key");
        }
    }
    tracing::info!(
        counter = view.counter(),
        killswitch = view.killswitch(),
        "access state reloaded from store"
    );
    handle.store(Arc::new(view));
    Ok(true)
}
