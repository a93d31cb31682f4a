//! Writing records without slowing the relay, and without losing any.
//!
//! A request reserves a slot in a bounded queue *before* it is admitted (`request_filter`); the
//! record is sent into that slot in `logging`. So a record can never be dropped for lack of
//! space: when no slot is free, or the writer cannot write, the request is refused up front
//! with 503 `audit.unavailable` instead of being relayed unaudited. A writer thread takes
//! whatever is queued (up to `BATCH` records), appends it in one transaction and goes back for
//! more: under load batches grow, at rest a record is written as soon as it arrives. On
//! failure the batch is kept and retried with backoff while the gateway refuses traffic; it
//! recovers by itself. Shutdown closes the queue, drains it and returns.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, OwnedPermit};
use tokio::sync::Notify;

use super::chain;
use super::queued::Queued;
use super::record::AuditRecord;
use super::view::RecordView;
use crate::crypto::KeyedHasher;

/// Records per transaction at most.
pub const BATCH: usize = 512;

/// Default for `gateway.audit_linger_ms`: after the first record of a batch arrives, the
/// writer waits this long for more before writing. Under load this turns one wake-up and one
/// commit per request into one per batch (the relay's send then never has to wake a thread),
/// and SQLite's cost per record falls steeply with batch size: each commit rewrites the last
/// page of the table and of every index, so a batch of 15 records costs about twice as much
/// per record as a batch of 60. At rest a record waits at most this long; a process killed
/// with `kill -9` loses at most the records of this window (graceful shutdown loses none and
/// does not linger).
pub const DEFAULT_LINGER_MS: u64 = 10;

/// Counters shared between the sink, the writer and metrics.
#[derive(Debug)]
pub struct AuditStats {
    /// Records committed.
    pub written: AtomicU64,
    /// Failed write attempts.
    pub write_errors: AtomicU64,
    /// Requests refused because no slot was free or writing failed.
    pub refused: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
    /// Time spent committing them, µs (with `batches`: the mean write latency).
    pub write_micros: AtomicU64,
    healthy: AtomicBool,
    origin: Instant,
    /// When writes started failing (ms since `origin`).
    failing_since_ms: AtomicU64,
    /// How long records are still queued while writes fail (0: not at all).
    tolerance_ms: AtomicU64,
}

impl Default for AuditStats {
    fn default() -> Self {
        AuditStats {
            written: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            write_micros: AtomicU64::new(0),
            healthy: AtomicBool::new(false),
            origin: Instant::now(),
            failing_since_ms: AtomicU64::new(0),
            tolerance_ms: AtomicU64::new(0),
        }
    }
}

impl AuditStats {
    /// Whether the last write succeeded.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Marks a failed write; the first of a run starts the tolerance clock.
    fn failed(&self) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            self.failing_since_ms
                .store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// Whether new records are taken: the writer is writing, or has been failing for less
    /// than the tolerance (the queue then holds them until the database is back).
    fn accepts_records(&self) -> bool {
        if self.healthy() {
            return true;
        }
        let tolerance = self.tolerance_ms.load(Ordering::Relaxed);
        tolerance > 0
            && self
                .now_ms()
                .saturating_sub(self.failing_since_ms.load(Ordering::Relaxed))
                < tolerance
    }
}

/// Why a slot could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The queue is full.
    QueueFull,
    /// The writer cannot write to the database.
    WriterFailing,
    /// Shutting down.
    Closed,
}

/// The request path's handle to the audit queue. Cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Queued>,
    stats: Arc<AuditStats>,
    capacity: usize,
}

/// A reserved place in the queue; sending into it cannot fail for lack of space.
pub struct Slot(OwnedPermit<Queued>);

impl Slot {
    /// Queues the record, encoded on this thread ([`Queued`]).
    pub fn send(self, record: AuditRecord) {
        self.0.send(Queued::of_record(record));
    }

    /// Queues the record these fields make, encoded on this thread: the relay's way, which
    /// copies none of them.
    pub fn send_view(self, record: &RecordView<'_>) {
        self.0.send(Queued::of_view(record));
    }
}

impl AuditSink {
    /// Reserves a slot for one record.
    pub fn reserve(&self) -> Result<Slot, Unavailable> {
        if !self.stats.accepts_records() {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Unavailable::WriterFailing);
        }
        match self.tx.clone().try_reserve_owned() {
            Ok(p) => Ok(Slot(p)),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                Err(Unavailable::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Unavailable::Closed),
        }
    }

    /// Whether a record could be reserved now (for readiness probes: reserves nothing and,
    /// unlike a refused [`AuditSink::reserve`], counts nothing).
    pub fn accepting(&self) -> bool {
        self.stats.accepts_records() && self.tx.capacity() > 0
    }

    /// Keeps taking records for `tolerance` after writes start failing (a shared PostgreSQL
    /// store: the node serves within the staleness bound and the queue holds the records until
    /// the database is back); past it, or when the queue is full, requests are refused.
    pub fn tolerate_failures_for(&self, tolerance: Duration) {
        let ms = u64::try_from(tolerance.as_millis()).unwrap_or(u64::MAX);
        self.stats.tolerance_ms.store(ms, Ordering::Relaxed);
    }

    /// Records queued or reserved and not yet taken by the writer.
    pub fn depth(&self) -> usize {
        self.capacity.saturating_sub(self.tx.capacity())
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<AuditStats> {
        &self.stats
    }
}

/// The writer thread's handle.
pub struct AuditWriter {
    thread: Option<JoinHandle<()>>,
    shutdown: Arc<Notify>,
    stats: Arc<AuditStats>,
}

impl AuditWriter {
    /// Closes the queue, waits up to `timeout` for every queued record to be written, and
    /// returns the number written in total by this writer.
    pub fn shutdown(mut self, timeout: Duration) -> u64 {
        self.shutdown.notify_one();
        let deadline = Instant::now() + timeout;
        if let Some(t) = self.thread.take() {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::error!(
                    "audit writer did not drain within {timeout:?}; unwritten records are lost"
                );
            }
        }
        self.stats.written.load(Ordering::Relaxed)
    }
}

/// Starts the writer appending to `node`'s chain in the database at `path`, with a queue of `capacity` records, lingering
/// `linger` after a batch's first record for more.
pub fn start(
    path: crate::store::Database,
    node: &str,
    key: KeyedHasher,
    capacity: usize,
    linger: Duration,
) -> std::io::Result<(AuditSink, AuditWriter)> {
    let capacity = capacity.max(1);
    let (tx, rx) = mpsc::channel(capacity);
    let stats = Arc::new(AuditStats::default());
    stats.healthy.store(true, Ordering::Relaxed);
    let shutdown = Arc::new(Notify::new());
    let (s2, n2) = (stats.clone(), shutdown.clone());
    let node_owned = node.to_string();
    let thread = std::thread::Builder::new()
        .name("erpgate-audit".into())
        .spawn(move || {
            let to = Arc::new(Destination {
                db: path,
                node: node_owned,
            });
            run(to, key, rx, s2, n2, linger)
        })?;
    Ok((
        AuditSink {
            tx,
            stats: stats.clone(),
            capacity,
        },
        AuditWriter {
            thread: Some(thread),
            shutdown,
            stats,
        },
    ))
}

/// Where the writer appends: a database and the node whose chain it continues.
struct Destination {
    db: crate::store::Database,
    node: String,
}

fn run(
    path: Arc<Destination>,
    key: KeyedHasher,
    mut rx: mpsc::Receiver<Queued>,
    stats: Arc<AuditStats>,
    shutdown: Arc<Notify>,
    linger: Duration,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "audit writer cannot start; the gateway will refuse traffic");
            stats.healthy.store(false, Ordering::Relaxed);
            return;
        }
    };
    let key = Arc::new(key);
    rt.block_on(async move {
        let mut conn: Option<Appender> = None;
        let mut batch = Vec::with_capacity(BATCH);
        let mut closing = false;
        loop {
            if batch.is_empty() {
                tokio::select! {
                    n = rx.recv_many(&mut batch, BATCH) => {
                        if n == 0 {
                            break;
                        }
                        if !closing && batch.len() < BATCH && !linger.is_zero() {
                            tokio::time::sleep(linger).await;
                            while batch.len() < BATCH {
                                match rx.try_recv() {
                                    Ok(r) => batch.push(r),
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                    _ = shutdown.notified(), if !closing => {
                        closing = true;
                        rx.close();
                        continue;
                    }
                }
            }
            let mut backoff = Duration::from_millis(50);
            loop {
                let started = Instant::now();
                match write_batch(&path, &mut conn, &key, &mut batch).await {
                    Ok(()) => {
                        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                        stats.write_micros.fetch_add(took, Ordering::Relaxed);
                        stats.batches.fetch_add(1, Ordering::Relaxed);
                        stats.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        if !stats.healthy() {
                            tracing::info!("audit writer recovered; traffic is accepted again");
                        }
                        stats.healthy.store(true, Ordering::Relaxed);
                        batch.clear();
                        break;
                    }
                    Err(e) => {
                        stats.write_errors.fetch_add(1, Ordering::Relaxed);
                        if stats.healthy() {
                            tracing::error!(error = %e, pending = batch.len(), "audit write failed; refusing traffic until it works again");
                        }
                        stats.failed();
                        conn = None;
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
        }
    });
}

/// Settings for the writer's own connection: the audit indexes stay in a larger page cache
/// (8 MiB) and the WAL is checkpointed less often (pages rewritten many times between
/// checkpoints are copied once). No memory map: it would put the growing database in the
/// gateway's resident memory. Durability is unchanged
/// (WAL, `synchronous = NORMAL`, as for every connection).
pub fn tune(store: &crate::store::Store) -> Result<(), crate::store::StoreError> {
    if store.conn().engine() == crate::store::sql::Engine::Sqlite {
        store
            .conn()
            .batch("PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 4000;")?;
    }
    Ok(())
}

/// Writes `batch` through `conn`. SQLite is written from this thread. A PostgreSQL client runs
/// its own runtime, which cannot be entered from the writer's: that write runs on the blocking
/// pool, and the connection and the batch come back with its outcome (a panic there is an
/// error, and the batch is kept for the retry).
async fn write_batch(
    path: &Arc<Destination>,
    conn: &mut Option<Appender>,
    key: &Arc<KeyedHasher>,
    batch: &mut Vec<Queued>,
) -> Result<(), String> {
    if path.db.sqlite_path().is_some() {
        return write(path, conn, key, batch);
    }
    let (p, k, mut c, b) = (
        path.clone(),
        key.clone(),
        conn.take(),
        std::mem::take(batch),
    );
    let pending = b.len();
    let joined = tokio::task::spawn_blocking(move || {
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&p, &mut c, &k, &b)))
                .unwrap_or_else(|_| Err("the audit write panicked".into()));
        (c, b, r)
    })
    .await;
    match joined {
        Ok((c, b, r)) => {
            *conn = c;
            *batch = b;
            r
        }
        Err(e) => {
            tracing::error!(error = %e, lost = pending, "the audit write task did not return; its records are lost");
            Err(format!("the audit write task did not return: {e}"))
        }
    }
}

/// The writer's connection, and the actor lookup rows it has committed through it.
struct Appender {
    store: crate::store::Store,
    noted: chain::NotedSeconds,
}

fn write(
    path: &Destination,
    conn: &mut Option<Appender>,
    key: &KeyedHasher,
    batch: &[Queued],
) -> Result<(), String> {
    if conn.is_none() {
        let store = crate::store::Store::connect(&path.db)
            .map_err(|e| e.to_string())?
            .with_node(&path.node);
        tune(&store).map_err(|e| e.to_string())?;
        *conn = Some(Appender {
            store,
            noted: chain::NotedSeconds::new(),
        });
    }
    let a = conn.as_mut().ok_or("no connection")?;
    chain::append_noting(a.store.conn(), key, a.store.node(), batch, &mut a.noted)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
