//! `erpgate audit verify|query|summary|export|prune|reindex`: reading and proving the audit
//! trail.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, CliResult, ConfigArg};
use crate::audit::chain::{self, Row, Verdict};
use crate::audit::AuditRecord;

/// Arguments of `erpgate audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    action: AuditAction,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand, Debug)]
enum AuditAction {
    /// Walk the hash chain (of the database, or of an export) and report the first broken link.
    Verify {
        /// An export written by `audit export` instead of the database.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Show records matching filters, newest last.
    Query {
        #[command(flatten)]
        filter: Filter,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        /// At most this many records (the newest).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Count the request records since a time by decision, with the most frequent refusal
    /// reasons: the portal overview's "last hour", from a shell.
    Summary {
        /// From this time (RFC 3339, inclusive; default: an hour ago).
        #[arg(long)]
        since: Option<String>,
        /// How many refusal reasons to list, most frequent first.
        #[arg(long, default_value_t = 10)]
        top: u32,
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Write records as JSON lines with their chain fields, verifiable with `verify --file`.
    Export {
        /// From this time (RFC 3339, inclusive).
        #[arg(long)]
        since: Option<String>,
        /// Until this time (RFC 3339, exclusive).
        #[arg(long)]
        until: Option<String>,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete records older than N days, leaving a checkpoint so the chain still verifies.
    /// Refused below `gateway.audit_min_retention_days`; without `--yes` it only says how
    /// many records it would delete.
    Prune {
        /// Keep this many days (at least `gateway.audit_min_retention_days`).
        #[arg(long)]
        days: u32,
        /// Really delete (evidence is destroyed; the checkpoint records how much).
        #[arg(long)]
        yes: bool,
    },
    /// Fill the actor lookup from the records (adds only what is missing): after records were
    /// appended by a gateway older than schema 12, which `verify` reports as hidden from
    /// queries by actor.
    Reindex,
}

#[derive(Args, Debug, Default)]
struct Filter {
    /// From this time (RFC 3339, inclusive).
    #[arg(long)]
    since: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    #[arg(long)]
    until: Option<String>,
    /// Account, Oracle user or admin identity.
    #[arg(long)]
    actor: Option<String>,
    /// The request id from an error body or `X-Request-Id`.
    #[arg(long)]
    request_id: Option<String>,
    /// relayed, denied, failed, ok.
    #[arg(long)]
    decision: Option<String>,
    /// A reason code, e.g. policy.denied.
    #[arg(long)]
    reason: Option<String>,
    /// Paths starting with this.
    #[arg(long)]
    path_prefix: Option<String>,
    /// Only the records of this gateway (`gateway.node_id`).
    #[arg(long)]
    node: Option<String>,
}

/// Runs the command.
pub fn run(args: &AuditArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    match &args.action {
        AuditAction::Verify { file } => {
            let key = super::load_master(&snapshot)?.audit_key();
            let report = match file {
                None => chain::verify_db(store.conn(), &key).map_err(|e| e.to_string())?,
                Some(f) => verify_file(f, &key)?,
            };
            print_report(&report);
            if report.intact() {
                Ok(())
            } else {
                Err(CliError::Reported)
            }
        }
        AuditAction::Query {
            filter,
            json,
            limit,
        } => Ok(query(&store, filter, *json, *limit)?),
        AuditAction::Summary { since, top, json } => {
            Ok(summary(&store, since.as_deref(), *top, *json)?)
        }
        AuditAction::Export { since, until, out } => {
            let n = export(&store, since.as_deref(), until.as_deref(), out.as_ref())?;
            eprintln!("exported {n} record(s)");
            Ok(())
        }
        AuditAction::Prune { days, yes } => {
            let key = super::load_master(&snapshot)?.audit_key();
            prune(&snapshot, &mut store, &key, *days, *yes)
        }
        AuditAction::Reindex => {
            let master = super::load_master(&snapshot)?;
            let added = chain::reindex(store.conn()).map_err(super::failed)?;
            println!("actor lookup: {added} row(s) added");
            let note = serde_json::json!({ "lookup_rows_added": added });
            super::audit_admin(
                &mut store,
                &master,
                "audit.reindex",
                "audit_actor_second",
                Some(note),
            )
        }
    }
}

/// Prunes records older than `days` (never below `gateway.audit_min_retention_days`), leaving
/// a checkpoint; without `yes` it only says how many it would delete.
fn prune(
    snapshot: &crate::snapshot::Snapshot,
    store: &mut crate::store::Store,
    key: &crate::crypto::KeyedHasher,
    days: u32,
    yes: bool,
) -> CliResult {
    let floor = snapshot.gateway.audit_min_retention_days;
    if days < floor {
        return Err(super::failed(format_args!(
            "--days {days} is below gateway.audit_min_retention_days ({floor}): nothing pruned"
        )));
    }
    let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    if !yes {
        let n = store
            .conn()
            .query_one(
                "SELECT coalesce(sum(last_id - id + 1), 0) FROM audit_batch WHERE ts_last < ?1",
                &[cutoff.as_str().into()],
            )
            .and_then(|r| r.int(0))
            .map_err(super::failed)?;
        return Err(super::failed(format_args!(
            "this would delete {n} audit record(s) older than {cutoff}; nothing pruned: add --yes to delete them"
        )));
    }
    let n =
        chain::prune(store.conn(), key, &cutoff, &super::actor().name).map_err(super::failed)?;
    println!("pruned {n} record(s) older than {cutoff}");
    Ok(())
}

/// One line per chain: intact with its record count and last hash, or where it breaks.
fn print_report(report: &chain::Report) {
    if report.chains.is_empty() {
        println!(
            "audit chain intact: 0 record(s); last hash {}",
            chain::GENESIS
        );
    }
    for (node, verdict) in &report.chains {
        let whose = match node.as_str() {
            "" => "audit chain".to_string(),
            n => format!("audit chain of node {n}"),
        };
        match verdict {
            Verdict::Intact { records, last_hash } => {
                println!("{whose} intact: {records} record(s); last hash {last_hash}")
            }
            Verdict::Broken { id, why } => println!("{whose} BROKEN at record {id}: {why}"),
        }
    }
    if report.untallied > 0 {
        println!(
            "note: {} batch(es) carry no tally (written before schema 14, by an older gateway, \
             or nulled since): not a break, but `audit summary` and the overview read their \
             records instead of their counts",
            report.untallied
        );
    }
}

fn verify_file(path: &PathBuf, key: &crate::crypto::KeyedHasher) -> Result<chain::Report, String> {
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rows = std::io::BufReader::new(f)
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
            serde_json::from_str::<Row>(&line)
                .map_err(|e| format!("line {}: not an export row: {e}", n + 1))
        });
    Ok(chain::verify(key, rows, true))
}

/// Prints the request records since `since` (an hour ago when not given) by decision, and the
/// `top` refusal reasons.
fn summary(
    store: &crate::store::Store,
    since: Option<&str>,
    top: u32,
    json: bool,
) -> Result<(), String> {
    use crate::audit::query;
    let since = match since {
        Some(s) => query::normalize_time(s)?,
        None => (chrono::Utc::now() - chrono::Duration::hours(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    let s = query::summary(store.conn(), &since, top).map_err(|e| e.to_string())?;
    if json {
        let out = serde_json::json!({
            "since": since,
            "decisions": s
                .decisions
                .iter()
                .map(|(d, n)| (d.clone(), serde_json::Value::from(*n)))
                .collect::<serde_json::Map<_, _>>(),
            "reasons": s.reasons,
        });
        println!("{out}");
        return Ok(());
    }
    let total: i64 = s.decisions.iter().map(|(_, n)| n).sum();
    println!("{total} request record(s) since {since}");
    if total == 0 {
        return Ok(());
    }
    let rows = |counts: &[(String, i64)]| -> Vec<Vec<String>> {
        counts
            .iter()
            .map(|(k, n)| vec![k.clone(), n.to_string()])
            .collect()
    };
    super::print_table(&["DECISION", "RECORDS"], &rows(&s.decisions));
    if !s.reasons.is_empty() {
        println!();
        super::print_table(&["REFUSAL REASON", "RECORDS"], &rows(&s.reasons));
    }
    Ok(())
}

fn query(store: &crate::store::Store, f: &Filter, json: bool, limit: u32) -> Result<(), String> {
    let filter = crate::audit::query::Filter {
        since: f.since.clone(),
        until: f.until.clone(),
        actor: f.actor.clone(),
        request_id: f.request_id.clone(),
        decision: f.decision.clone(),
        reason: f.reason.clone(),
        path_prefix: f.path_prefix.clone(),
        node: f.node.clone(),
        before: None,
    };
    let rows = crate::audit::query::select(store.conn(), &filter, limit)?;
    let mut table = Vec::new();
    for text in rows {
        if json {
            println!("{text}");
            continue;
        }
        let rec: AuditRecord = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        table.push(vec![
            rec.ts,
            rec.request_id,
            rec.actor,
            rec.method,
            rec.path,
            rec.decision,
            rec.reason,
            rec.status.map(|s| s.to_string()).unwrap_or_default(),
            rec.policy
                .map(|p| format!("{p}/{}", rec.rule.unwrap_or_default()))
                .unwrap_or_default(),
        ]);
    }
    if !json {
        super::print_table(
            &[
                "TIME",
                "REQUEST ID",
                "ACTOR",
                "METHOD",
                "PATH",
                "DECISION",
                "REASON",
                "STATUS",
                "POLICY/RULE",
            ],
            &table,
        );
    }
    Ok(())
}

fn export(
    store: &crate::store::Store,
    since: Option<&str>,
    until: Option<&str>,
    out: Option<&PathBuf>,
) -> Result<u64, String> {
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("cannot write {}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // Whole batches (their link covers all their records), and every batch from the first
    // that may hold a record of the range to the last: a run of each chain with no gap, so
    // the export verifies (a batch's reach is not in id order).
    let norm = |field: &str, t: Option<&str>| {
        t.map(crate::audit::query::normalize_time)
            .transpose()
            .map_err(|e| format!("--{field}: {e}"))
    };
    let (since, until) = (norm("since", since)?, norm("until", until)?);
    let conn = store.conn();
    let bound = |sql: &str, t: &Option<String>| -> Result<Option<Option<i64>>, String> {
        t.as_ref()
            .map(|t| {
                conn.query_one(sql, &[crate::store::sql::Value::from(t.as_str())])
                    .and_then(|r| r.opt_int(0))
                    .map_err(|e| e.to_string())
            })
            .transpose()
    };
    let lo = bound(
        "SELECT MIN(id) FROM audit_batch WHERE ts_last >= ?1",
        &since,
    )?;
    let hi = bound(
        "SELECT MAX(id) FROM audit_batch WHERE ts_first < ?1",
        &until,
    )?;
    // A bound no batch meets: nothing to export.
    if matches!(lo, Some(None)) || matches!(hi, Some(None)) {
        w.flush().map_err(|e| e.to_string())?;
        return Ok(0);
    }
    let values = vec![
        crate::store::sql::Value::Int(lo.flatten().unwrap_or(i64::MIN)),
        crate::store::sql::Value::Int(hi.flatten().unwrap_or(i64::MAX)),
    ];
    let sql = "SELECT id, records, prev_hash, hash, node FROM audit_batch WHERE id >= ?1 AND id <= ?2 ORDER BY id";
    let mut n = 0;
    store
        .conn()
        .for_each(sql, &values, |r| {
            let row = Row {
                id: r.int(0)?,
                record: r.text(1)?,
                prev_hash: r.text(2)?,
                hash: r.text(3)?,
                node: r.text(4)?,
                columns: None,
            };
            let line = serde_json::to_string(&row)
                .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
            writeln!(w, "{line}")
                .map_err(|e| crate::store::StoreError::Invalid(format!("cannot write: {e}")))?;
            n += row.record.split('\n').count() as u64;
            Ok(true)
        })
        .map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch's reach takes in the second its requests began, so batches in id order are not
    /// in reach order: an export up to a time takes every batch from the first to the last
    /// that may hold a record of the range, and verifies.
    #[test]
    fn an_export_of_a_range_is_a_run_of_batches_that_verifies() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = crate::store::Store::open(&dir.path().join("e.db")).expect("open");
        store.migrate().expect("migrate");
        let (m, _) = crate::crypto::MasterKey::generate().expect("key");
        let key = m.audit_key();
        let t = 1_796_083_200i64; // 2026-12-01T00:00:00Z
        let at = |ended: &str, began: Option<i64>| AuditRecord {
            ts: ended.into(),
            request_id: began.map_or("adm-1".into(), |b| {
                format!("{b:08x}00000000-0000000000000001")
            }),
            actor: "a".into(),
            method: "GET".into(),
            path: "/x".into(),
            decision: "relayed".into(),
            ..Default::default()
        };
        for r in [
            at("2026-11-30T23:59:55.000000Z", None),
            at("2026-12-01T00:00:00.500000Z", Some(t)),
            at("2026-12-01T00:00:01.000000Z", Some(t - 1)),
            at("2026-12-01T00:00:09.000000Z", Some(t + 9)),
        ] {
            chain::append(store.conn(), &key, "", &[r]).expect("append");
        }
        let out = dir.path().join("export.jsonl");
        let n = export(&store, None, Some("2026-12-01T00:00:00Z"), Some(&out)).expect("export");
        assert_eq!(
            n, 3,
            "batches 1 to 3: the third reaches back before the cut"
        );
        let text = std::fs::read_to_string(&out).expect("read");
        let rows = text
            .lines()
            .map(|l| serde_json::from_str::<Row>(l).map_err(|e| e.to_string()));
        let report = chain::verify(&key, rows, true);
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.records(), 3);
        assert_eq!(
            export(&store, Some("2026-12-02T00:00:00Z"), None, Some(&out)).expect("none"),
            0
        );
        assert!(export(&store, Some("yesterday"), None, Some(&out)).is_err());
    }
}
