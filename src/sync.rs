//! The one single-flight gate: at most one piece of work per key runs at a time, and callers
//! asking for the same key meanwhile wait for it (then typically find a cache it filled).
//! Used by credential verification (one argon2 run per secret), upstream JWT signing (one
//! signature per user) and the upstream token fetch (one call per tenant and user). A leaf:
//! it imports nothing from the crate.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

type Gate = Arc<tokio::sync::Mutex<()>>;

/// Gates by key. A gate exists only while someone holds or awaits it.
pub struct SingleFlight<K> {
    gates: Mutex<HashMap<K, Gate>>,
}

impl<K> Default for SingleFlight<K> {
    fn default() -> Self {
        SingleFlight {
            gates: Mutex::new(HashMap::new()),
        }
    }
}

impl<K> std::fmt::Debug for SingleFlight<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SingleFlight")
    }
}

impl<K: Eq + Hash + Clone> SingleFlight<K> {
    /// No gates.
    pub fn new() -> Self {
        SingleFlight::default()
    }

    /// Runs `work` once no other `run` for an equal key is in flight. If the gate table is
    /// unusable (a poisoned lock), `work` runs ungated rather than not at all.
    pub async fn run<T>(&self, key: &K, work: impl Future<Output = T>) -> T {
        let gate = self
            .gates
            .lock()
            .ok()
            .map(|mut m| m.entry(key.clone()).or_default().clone());
        let mut turn = Turn {
            owner: self,
            key,
            held: None,
            gate: None,
        };
        if let Some(g) = gate {
            turn.held = Some(g.clone().lock_owned().await);
            turn.gate = Some(g);
        }
        work.await
    }

    /// Whether no gate is held or awaited (every caller has left).
    pub fn is_idle(&self) -> bool {
        self.gates.lock().map(|m| m.is_empty()).unwrap_or(false)
    }
}

/// One caller's turn: releases the gate and, when it was the last one there, removes it —
/// also when the caller's future is dropped half-way.
struct Turn<'a, K: Eq + Hash> {
    owner: &'a SingleFlight<K>,
    key: &'a K,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    gate: Option<Gate>,
}

impl<K: Eq + Hash> Drop for Turn<'_, K> {
    fn drop(&mut self) {
        drop(self.held.take());
        if let (Some(g), Ok(mut m)) = (self.gate.take(), self.owner.gates.lock()) {
            // The map holds one reference and `g` another: nobody else waits.
            if Arc::strong_count(&g) <= 2 {
                m.remove(self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_at_a_time_per_key_and_gates_are_cleaned_up() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("runtime");
        let flight = Arc::new(SingleFlight::<u8>::new());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (flight, running, most) = (flight.clone(), running.clone(), most.clone());
                    tokio::spawn(async move {
                        flight
                            .run(&7, async {
                                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                                running.fetch_sub(1, Ordering::SeqCst);
                            })
                            .await
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("task");
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1, "never two at once");
        assert!(flight.is_idle(), "gates are removed by the last caller");
    }

    #[test]
    fn a_dropped_caller_leaves_no_gate() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let flight = SingleFlight::<u8>::new();
        rt.block_on(async {
            let fut = flight.run(&1, std::future::pending::<()>());
            let _ = tokio::time::timeout(std::time::Duration::from_millis(1), fut).await;
        });
        assert!(flight.is_idle());
    }
}
