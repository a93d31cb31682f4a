//! A record as the writer's queue carries it: encoded on the thread that sends it.
//!
//! A request's record used to cross to the writer as an [`AuditRecord`]: two dozen strings
//! allocated on the relay's thread and freed on the writer's, glibc's slow path for every one
//! of them, and the JSON encoding done there too (issue 20). [`Queued::encode`] writes the
//! record's line where the record is made, while its fields are still in the cache, into one
//! buffer of its size, and keeps beside it only what the chain files a batch by: the time, the
//! request id, the actor, the kind, the decision and the reason. The chain takes either form
//! ([`Appendable`]), and the bytes it covers are the same (a test compares them).

use super::record::{AuditRecord, Kind};
use super::view::RecordView;
use crate::store::StoreError;

/// What the chain needs of a record to append it: its line, and the members a batch is
/// filed by (its reach, its tally, the actor lookup).
pub trait Appendable {
    /// The record's JSON line as `node`'s chain holds it, appended to `out`: `node` as its
    /// first member when the record names it (even `""`) or it is not empty; an error if the
    /// record names another node.
    fn line_into(&self, node: &str, out: &mut String) -> Result<(), StoreError>;
    /// The record's time (RFC 3339).
    fn ts(&self) -> &str;
    /// The record's request id.
    fn request_id(&self) -> &str;
    /// Who acted.
    fn actor(&self) -> &str;
    /// The event's kind.
    fn kind(&self) -> Option<Kind>;
    /// The decision.
    fn decision(&self) -> &str;
    /// The reason code.
    fn reason(&self) -> &str;
}

impl Appendable for AuditRecord {
    fn line_into(&self, node: &str, out: &mut String) -> Result<(), StoreError> {
        super::batch::encode_into(self, node, out)
    }
    fn ts(&self) -> &str {
        &self.ts
    }
    fn request_id(&self) -> &str {
        &self.request_id
    }
    fn actor(&self) -> &str {
        &self.actor
    }
    fn kind(&self) -> Option<Kind> {
        self.kind
    }
    fn decision(&self) -> &str {
        &self.decision
    }
    fn reason(&self) -> &str {
        &self.reason
    }
}

/// A record on its way to the writer.
#[derive(Debug)]
pub struct Queued(Form);

#[derive(Debug)]
enum Form {
    /// Encoded by the sender (every record in practice).
    Line(Encoded),
    /// A record whose encoding failed on the sender (`serde_json` cannot fail to write the
    /// types a record holds, but if it did, the writer meets the same error and fails the
    /// batch, refusing traffic as for any write it cannot make: never a record dropped).
    Record(Box<AuditRecord>),
}

/// A record's line, without a `node` member, and the members the chain files it by.
#[derive(Debug)]
struct Encoded {
    /// `{"ts":…}`: the record's JSON as [`super::encode::record_into`] writes it without a
    /// node, in a buffer of its size.
    line: Box<str>,
    /// The time, request id, actor, decision, reason and (when the record names one) node,
    /// one after the other ([`Member`]'s order); `ends` says where each ends.
    text: String,
    ends: [usize; 6],
    /// Whether the record names its node (the last part of `text`).
    has_node: bool,
    kind: Option<Kind>,
}

thread_local! {
    /// Where a line is written before it is copied into a buffer of its size (a record's line
    /// is ≈ 700 bytes: grown in place it would take a buffer of twice that, and the
    /// allocator's slow path for sizes past 1 KiB).
    static SCRATCH: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(4096));
}

/// Above this a thread's scratch buffer is given back after use (a record with a long
/// preview or query).
const SCRATCH_KEPT: usize = 64 * 1024;

/// `r`'s line without a node, written in `scratch` and copied into a buffer of its size.
fn line_of(r: &RecordView<'_>, scratch: &mut String) -> Result<Box<str>, serde_json::Error> {
    scratch.clear();
    let line = super::encode::record_into(r, None, scratch).map(|()| Box::from(scratch.as_str()));
    if scratch.capacity() > SCRATCH_KEPT {
        *scratch = String::with_capacity(4096);
    }
    line
}

impl Queued {
    /// The record `r`, encoded here.
    pub fn encode(r: &RecordView<'_>) -> Result<Queued, serde_json::Error> {
        // The thread's scratch buffer, or a fresh one should it be unavailable (being torn
        // down, or in use): nothing here can panic.
        let kept = SCRATCH.try_with(|s| s.try_borrow_mut().ok().map(|mut s| line_of(r, &mut s)));
        let line = match kept {
            Ok(Some(line)) => line,
            _ => line_of(r, &mut String::new()),
        }?;
        let parts = [
            r.ts,
            r.request_id,
            r.actor,
            r.decision,
            r.reason,
            r.node.unwrap_or(""),
        ];
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0; 6];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            *end = text.len();
        }
        Ok(Queued(Form::Line(Encoded {
            line,
            text,
            ends,
            has_node: r.node.is_some(),
            kind: r.kind,
        })))
    }

    /// `r` as the queue carries it: encoded here, or (if that failed) whole, for the writer
    /// to meet the same failure.
    pub fn of_view(r: &RecordView<'_>) -> Queued {
        Self::encode(r).unwrap_or_else(|_| Queued(Form::Record(Box::new(r.to_record()))))
    }

    /// [`Queued::of_view`] of an owned record (kept whole, not copied, if encoding fails).
    pub fn of_record(r: AuditRecord) -> Queued {
        match Self::encode(&r.view()) {
            Ok(q) => q,
            Err(_) => Queued(Form::Record(Box::new(r))),
        }
    }

    /// Member `m` of an encoded record's text.
    fn part(e: &Encoded, m: Member) -> &str {
        let i = m as usize;
        let start = if i == 0 { 0 } else { e.ends[i - 1] };
        e.text.get(start..e.ends[i]).unwrap_or("")
    }

    /// Member `m` of the record, in either form.
    fn member(&self, m: Member) -> &str {
        match &self.0 {
            Form::Line(e) => Queued::part(e, m),
            Form::Record(r) => match m {
                Member::Ts => &r.ts,
                Member::RequestId => &r.request_id,
                Member::Actor => &r.actor,
                Member::Decision => &r.decision,
                Member::Reason => &r.reason,
                Member::Node => r.node.as_deref().unwrap_or(""),
            },
        }
    }
}

/// The members an encoded record keeps beside its line, in the order its text holds them.
#[derive(Clone, Copy)]
enum Member {
    Ts,
    RequestId,
    Actor,
    Decision,
    Reason,
    Node,
}

impl Appendable for Queued {
    fn line_into(&self, node: &str, out: &mut String) -> Result<(), StoreError> {
        let e = match &self.0 {
            Form::Line(e) => e,
            Form::Record(r) => return r.line_into(node, out),
        };
        let own = e.has_node.then(|| Queued::part(e, Member::Node));
        let Some(node) = super::batch::line_node(own, node)? else {
            out.push_str(&e.line);
            return Ok(());
        };
        // The node spliced in as the line's first member, where `record_into` writes it. Every
        // line opens with `{`: one without it is refused, not written without its node.
        let rest = e.line.strip_prefix('{').ok_or_else(|| {
            StoreError::Invalid("an encoded audit record is not a JSON object".into())
        })?;
        out.reserve(e.line.len() + node.len() + 10);
        out.push('{');
        super::encode::node_member(out, node).map_err(super::batch::unencodable)?;
        out.push_str(rest);
        Ok(())
    }
    fn ts(&self) -> &str {
        self.member(Member::Ts)
    }
    fn request_id(&self) -> &str {
        self.member(Member::RequestId)
    }
    fn actor(&self) -> &str {
        self.member(Member::Actor)
    }
    fn kind(&self) -> Option<Kind> {
        match &self.0 {
            Form::Line(e) => e.kind,
            Form::Record(r) => r.kind,
        }
    }
    fn decision(&self) -> &str {
        self.member(Member::Decision)
    }
    fn reason(&self) -> &str {
        self.member(Member::Reason)
    }
}

#[cfg(test)]
mod tests;
