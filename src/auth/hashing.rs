//! The argon2 admission queue: at most `running` verifications at once (each holds ~19 MiB
//! and a blocking thread) and at most `queued` waiting for a turn, first come first served.
//! A verification that finds the queue full is refused at once (503 `auth.busy` with
//! `Retry-After`) instead of waiting behind a flood: the longest a verification can wait is
//! bounded by `queued / running` argon2 runs.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Bounded argon2 concurrency with a short queue.
pub struct HashQueue {
    running: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// The queue is full: refuse now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull;

/// Counts one waiter while alive (also when the waiting future is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashQueue {
    /// `running` verifications at once (at least one), `queued` more waiting.
    pub fn new(running: usize, queued: usize) -> HashQueue {
        HashQueue {
            running: Semaphore::new(running.max(1)),
            waiting: AtomicUsize::new(0),
            max_waiting: queued,
        }
    }

    /// A turn to run one verification: at once, after the ones queued before it, or
    /// `Err(QueueFull)` without waiting when `queued` are already waiting.
    pub async fn turn(&self) -> Result<SemaphorePermit<'_>, QueueFull> {
        if let Ok(p) = self.running.try_acquire() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(QueueFull);
        }
        let _waiting = Waiting(&self.waiting);
        self.running.acquire().await.map_err(|_| QueueFull)
    }

    /// Verifications waiting now (for tests and metrics).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_at_once_and_frees_its_slots() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        rt.block_on(async {
            let q = std::sync::Arc::new(HashQueue::new(1, 2));
            let first = q.turn().await.expect("runs at once");
            // Two wait; the third is refused without waiting.
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    tokio::spawn(async move { q.turn().await.map(drop) })
                })
                .collect();
            while q.waiting() < 2 {
                tokio::task::yield_now().await;
            }
            assert_eq!(q.turn().await.err(), Some(QueueFull));
            drop(first);
            for w in waiters {
                assert_eq!(w.await.ok(), Some(Ok(())));
            }
            assert_eq!(q.waiting(), 0);
            assert!(q.turn().await.is_ok());
            // A waiter that gives up frees its place.
            let held = q.turn().await.expect("free");
            let give_up = tokio::time::timeout(std::time::Duration::from_millis(10), q.turn());
            assert!(give_up.await.is_err());
            assert_eq!(q.waiting(), 0);
            drop(held);
        });
    }
}
