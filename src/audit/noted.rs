//! The actor lookup's rows an appender has committed lately, so that it does not ask the
//! database again for each batch.
//!
//! At 5,000 records a second and 50 actors the writer's batches (≈ 64 records) name nearly
//! every actor, and the same (actor, second) rows over and over: without this memory each
//! batch wrote every one of them again (`INSERT … ON CONFLICT DO NOTHING`; on SQLite a
//! statement per row), most of them finding the row there already.
//!
//! Why skipping a remembered row is safe: an entry is added only after the transaction that
//! wrote a record in that (actor, second) has committed, so the row exists and a record of
//! this appender's chain is behind it. The lookup is append-only, and retention deletes only
//! rows no record is behind; for that record to go, retention must prune this chain, and it
//! then appends a checkpoint record to it. The memory is trusted only while the chain's tail
//! is the record the appender wrote last ([`NotedSeconds::follows`]), whatever the clocks of
//! the hosts involved say: after anything else joined the chain, the next batch writes all
//! its rows again. Should a row be missing all the same (someone with the database's rights
//! deleted it), `audit verify` names the records it would hide and `erpgate audit reindex`
//! restores it.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use super::queued::Appendable;

/// Distinct seconds remembered (a batch's records end within a few seconds of each other).
pub const SECONDS: usize = 16;

/// The (actor, second) rows committed lately, by second, and the chain's tail they go with.
#[derive(Debug, Default)]
pub struct NotedSeconds {
    by_second: HashMap<String, HashSet<String>>,
    /// The seconds in the order they were first committed: the first goes first, whatever
    /// the clock did (a step back does not keep later seconds in place of current ones).
    order: VecDeque<String>,
    /// The hash of the last record the appender committed with these rows.
    tail: Option<String>,
}

impl NotedSeconds {
    /// Nothing remembered (each batch writes every row it implies, as a one-off appender does).
    pub fn new() -> Self {
        Self::default()
    }

    /// The distinct (actor, second) pairs of `records` not remembered, in key order.
    pub fn missing<'r, R: Appendable>(&self, records: &'r [R]) -> Vec<(&'r str, &'r str)> {
        let pairs: BTreeSet<(&str, &str)> = records
            .iter()
            .map(|r| (r.actor(), super::chain::second_of(r.ts())))
            .collect();
        pairs
            .into_iter()
            .filter(|(actor, second)| {
                !self
                    .by_second
                    .get(*second)
                    .is_some_and(|actors| actors.contains(*actor))
            })
            .collect()
    }

    /// Whether the chain's tail read at the start of a batch is the record these rows were
    /// committed with: nothing else has joined the chain since, so the rows are all there.
    pub fn follows(&self, tail: &str) -> bool {
        self.tail.as_deref() == Some(tail)
    }

    /// Remembers `pairs`, whose rows a transaction has just committed, and `tail`, the hash of
    /// that transaction's last record; forgets the seconds first committed longest ago beyond
    /// [`SECONDS`].
    pub fn committed(&mut self, pairs: &[(&str, &str)], tail: &str) {
        self.tail = Some(tail.to_string());
        for (actor, second) in pairs {
            if !self.by_second.contains_key(*second) {
                self.by_second.insert((*second).to_string(), HashSet::new());
                self.order.push_back((*second).to_string());
            }
            if let Some(actors) = self.by_second.get_mut(*second) {
                if !actors.contains(*actor) {
                    actors.insert((*actor).to_string());
                }
            }
        }
        while self.order.len() > SECONDS {
            if let Some(first) = self.order.pop_front() {
                self.by_second.remove(&first);
            }
        }
    }

    /// Forgets everything: the appender starts again from what the database holds.
    pub fn clear(&mut self) {
        self.by_second.clear();
        self.order.clear();
        self.tail = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::AuditRecord;

    fn rec(actor: &str, ts: &str) -> AuditRecord {
        AuditRecord {
            ts: ts.into(),
            actor: actor.into(),
            ..Default::default()
        }
    }

    #[test]
    fn only_committed_pairs_are_skipped_and_old_seconds_are_forgotten() {
        let mut noted = NotedSeconds::new();
        let batch = [
            rec("b", "2026-12-01T00:00:00.500000Z"),
            rec("a", "2026-12-01T00:00:00.100000Z"),
            rec("a", "2026-12-01T00:00:00.900000Z"),
            rec("a", "2026-12-01T00:00:01.000000Z"),
        ];
        let missing = noted.missing(&batch);
        assert_eq!(
            missing,
            [
                ("a", "2026-12-01T00:00:00"),
                ("a", "2026-12-01T00:00:01"),
                ("b", "2026-12-01T00:00:00"),
            ]
        );
        // Not committed: still missing.
        assert_eq!(noted.missing(&batch).len(), 3);
        noted.committed(&missing, "h1");
        assert!(noted.follows("h1") && !noted.follows("h0"));
        assert!(noted.missing(&batch).is_empty());
        // Another actor in a remembered second, and a remembered actor in a new second.
        let next = [
            rec("c", "2026-12-01T00:00:01.200000Z"),
            rec("b", "2026-12-01T00:00:02.000000Z"),
            rec("a", "2026-12-01T00:00:01.300000Z"),
        ];
        assert_eq!(
            noted.missing(&next),
            [("b", "2026-12-01T00:00:02"), ("c", "2026-12-01T00:00:01")]
        );
        // SECONDS more seconds push both of the batch's seconds out.
        let newer: Vec<(String, String)> = (0..SECONDS)
            .map(|k| ("z".to_string(), format!("2026-12-01T00:01:{k:02}")))
            .collect();
        let refs: Vec<(&str, &str)> = newer.iter().map(|(a, s)| (&**a, &**s)).collect();
        noted.committed(&refs, "h2");
        assert_eq!(noted.missing(&batch).len(), 3, "forgotten: written again");
        noted.clear();
        assert_eq!(noted.missing(&next).len(), 3);
        assert!(!noted.follows("h2"));
    }

    #[test]
    fn a_clock_stepping_back_does_not_keep_the_later_seconds() {
        let mut noted = NotedSeconds::new();
        let later: Vec<String> = (0..SECONDS)
            .map(|k| format!("2026-12-01T01:00:{k:02}"))
            .collect();
        let pairs: Vec<(&str, &str)> = later.iter().map(|s| ("a", s.as_str())).collect();
        noted.committed(&pairs, "h1");
        // The clock steps back an hour: the current seconds are remembered, the later ones go.
        let now = [
            rec("a", "2026-12-01T00:00:00.100000Z"),
            rec("a", "2026-12-01T00:00:01.100000Z"),
        ];
        let missing = noted.missing(&now);
        assert_eq!(missing.len(), 2);
        noted.committed(&missing, "h2");
        assert!(noted.missing(&now).is_empty(), "the current seconds stay");
        assert_eq!(noted.order.len(), SECONDS);
        assert_eq!(noted.by_second.len(), SECONDS);
        assert!(
            !noted.by_second.contains_key(&later[0]) && !noted.by_second.contains_key(&later[1])
        );
        assert!(noted.by_second.contains_key(&later[2]));
    }
}
