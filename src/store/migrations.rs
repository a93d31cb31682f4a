//! Versioned schema migrations: an ordered list per engine, the same schema in each engine's
//! dialect (version N means the same tables on SQLite and PostgreSQL); each applies in its own
//! transaction and is recorded in `schema_migrations`. Later modules append entries to both
//! lists; never edit a released one.

mod postgres;

use super::sql::Engine;

/// One schema migration.
pub struct Migration {
    /// Version number (1, 2, …), strictly increasing.
    pub version: u32,
    /// What it does.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// The migrations for one engine, in order.
pub fn for_engine(engine: Engine) -> &'static [Migration] {
    match engine {
        Engine::Sqlite => MIGRATIONS,
        Engine::Postgres => postgres::MIGRATIONS,
    }
}

/// All SQLite migrations, in order.
pub static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "accounts, credentials, secrets, settings, change counter",
        sql: r#"
CREATE TABLE change_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO change_counter (id, value) VALUES (1, 0);

CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    tenant          TEXT NOT NULL,
    oracle_user     TEXT,
    upstream_secret TEXT,
    status          TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE credentials (
    id            TEXT PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    api_key_id    TEXT NOT NULL UNIQUE,
    api_key_hash  BLOB NOT NULL CHECK (length(api_key_hash) = 32),
    status        TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);
CREATE INDEX credentials_account ON credentials(account_id);

CREATE TABLE secrets (
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TRIGGER accounts_ins AFTER INSERT ON accounts BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_upd AFTER UPDATE ON accounts BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_del AFTER DELETE ON accounts BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER credentials_ins AFTER INSERT ON credentials BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER credentials_upd AFTER UPDATE ON credentials BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER credentials_del AFTER DELETE ON credentials BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER secrets_ins AFTER INSERT ON secrets BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER secrets_upd AFTER UPDATE ON secrets BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER secrets_del AFTER DELETE ON secrets BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER settings_ins AFTER INSERT ON settings BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER settings_upd AFTER UPDATE ON settings BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER settings_del AFTER DELETE ON settings BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
"#,
    },
    Migration {
        version: 2,
        description: "append-only, hash-chained audit log",
        sql: r#"
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    ts         TEXT NOT NULL,
    request_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    decision   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    path       TEXT NOT NULL,
    record     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_ts ON audit_log(ts);
CREATE INDEX audit_request ON audit_log(request_id);
CREATE INDEX audit_actor ON audit_log(actor, ts);

-- Deletion is possible only while retention holds this gate open, inside its transaction.
CREATE TABLE audit_gate (id INTEGER PRIMARY KEY CHECK (id = 1), open INTEGER NOT NULL);
INSERT INTO audit_gate (id, open) VALUES (1, 0);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
WHEN (SELECT open FROM audit_gate WHERE id = 1) = 0
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (deletion only by retention)'); END;
"#,
    },
    Migration {
        version: 3,
        description: "tenant signing keys (sealed) and gateway tokens (keyed hashes)",
        sql: r#"
CREATE TABLE tenant_keys (
    tenant         TEXT PRIMARY KEY,
    key_ciphertext BLOB NOT NULL,
    cert_der       BLOB NOT NULL,
    x5t            TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE TRIGGER tenant_keys_ins AFTER INSERT ON tenant_keys BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER tenant_keys_upd AFTER UPDATE ON tenant_keys BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER tenant_keys_del AFTER DELETE ON tenant_keys BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;

-- Issuance does not bump the change counter (the issuing gateway knows its own tokens);
-- revocation does, so every gateway sees it on its next poll.
CREATE TABLE gateway_tokens (
    id            TEXT PRIMARY KEY,
    token_hash    BLOB NOT NULL CHECK (length(token_hash) = 32),
    credential_id TEXT NOT NULL REFERENCES credentials(id),
    issued_at     TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    revoked_at    TEXT
);
CREATE INDEX gateway_tokens_expiry ON gateway_tokens(expires_at);
CREATE TRIGGER gateway_tokens_upd AFTER UPDATE ON gateway_tokens BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER gateway_tokens_del AFTER DELETE ON gateway_tokens BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
"#,
    },
    Migration {
        version: 4,
        description: "admin API tokens (keyed hashes) with roles",
        sql: r#"
CREATE TABLE admin_tokens (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    revoked_at TEXT
);
"#,
    },
    Migration {
        version: 5,
        description: "key material: the hash root wrapped under the current master key",
        sql: r#"
CREATE TABLE key_material (
    name       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
"#,
    },
    Migration {
        version: 6,
        description: "several gateways: an audit chain per node, the nodes and their snapshots, shared failed-attempt counters",
        sql: r#"
ALTER TABLE audit_log ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_node ON audit_log(node, id);

-- Each gateway's heartbeat and the hash of the configuration snapshot it serves.
CREATE TABLE nodes (
    node       TEXT PRIMARY KEY,
    snapshot   TEXT NOT NULL,
    version    TEXT NOT NULL,
    started_at TEXT NOT NULL,
    seen_at    INTEGER NOT NULL
);

-- Failed proofs per lockout key (a keyed hash: never a name, a secret or an address), shared
-- by every gateway on the store. Times are Unix milliseconds; locked_until 0 is unlocked.
CREATE TABLE auth_failures (
    key          BLOB PRIMARY KEY CHECK (length(key) = 16),
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
);
CREATE INDEX auth_failures_locked ON auth_failures(locked_until);
"#,
    },
    Migration {
        version: 7,
        description: "the audit retention floor, kept in the store",
        sql: r#"
-- No prune may cut records younger than this (set by `erpgate migrate` from
-- gateway.audit_min_retention_days; on PostgreSQL only the schema owner can change it).
CREATE TABLE audit_policy (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    min_retention_days INTEGER NOT NULL CHECK (min_retention_days >= 0)
);
INSERT INTO audit_policy (id, min_retention_days) VALUES (1, 30);
"#,
    },
    Migration {
        version: 8,
        description: "portal users and their sessions",
        sql: r#"
-- People who log in to the operator portal. password_hash is argon2id (PHC); totp_sealed is
-- the TOTP secret sealed under a key derived from the master key's hash root (NULL: not
-- enrolled); totp_last_step refuses a code used once; recovery holds the keyed hashes of the
-- unused recovery codes (hex, comma-separated).
CREATE TABLE portal_users (
    name           TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'auditor')),
    password_hash  TEXT NOT NULL,
    totp_sealed    BLOB,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    recovery       TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

-- A session is stored only as the keyed hash of its id. stage 'mfa': the password was right,
-- the second factor (or its enrolment) is still due; 'full': logged in.
CREATE TABLE portal_sessions (
    id_hash    BLOB PRIMARY KEY CHECK (length(id_hash) = 32),
    user_name  TEXT NOT NULL REFERENCES portal_users(name) ON DELETE CASCADE,
    stage      TEXT NOT NULL CHECK (stage IN ('mfa', 'full')),
    created_ms INTEGER NOT NULL,
    seen_ms    INTEGER NOT NULL
);
CREATE INDEX portal_sessions_user ON portal_sessions(user_name);
"#,
    },
    Migration {
        version: 9,
        description: "portal users' single sign-on identity",
        sql: r#"
-- The OpenID Connect identity a portal user signs in as: the issuer's `sub`, or a verified
-- email (gateway.portal_oidc_match). NULL: this user cannot sign in by SSO.
ALTER TABLE portal_users ADD COLUMN sso_identity TEXT;
CREATE UNIQUE INDEX portal_users_sso ON portal_users(sso_identity);
"#,
    },
    Migration {
        version: 10,
        description: "browser sessions of Oracle users (Page Integration)",
        sql: r#"
-- A browser session started by a verified Page Integration launch token. The session id is
-- stored only as its keyed hash; the launch token only as its keyed hash (`launch_hash`) and,
-- when it has one, as tenant and `jti` (`jti_key`): both unique, so a replayed launch token
-- is refused on every gateway of the store. A row is kept until `keep_until` (the later of
-- the session's end and the token's own expiry plus the allowed skew), so a token cannot be
-- replayed after its session ended.
CREATE TABLE browser_sessions (
    session_hash BLOB PRIMARY KEY CHECK (length(session_hash) = 32),
    tenant       TEXT NOT NULL,
    oracle_user  TEXT NOT NULL,
    roles        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    keep_until   INTEGER NOT NULL,
    launch_hash  TEXT NOT NULL UNIQUE,
    jti_key      TEXT UNIQUE,
    ended_at     INTEGER
);
CREATE INDEX browser_sessions_keep ON browser_sessions(keep_until);
-- Starting a session is known to the gateway that started it at once; ending one must reach
-- every gateway.
CREATE TRIGGER browser_sessions_upd AFTER UPDATE ON browser_sessions BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER browser_sessions_del AFTER DELETE ON browser_sessions BEGIN UPDATE change_counter SET value = value + 1 WHERE id = 1; END;
"#,
    },
    Migration {
        version: 11,
        description: "tenant signing keys held in a PKCS#11 token (a reference instead of the key)",
        sql: r#"
-- A key held in an HSM: key_ref names it (module, token label, key label, as JSON) and
-- key_ciphertext is empty; the key itself is never in the database.
ALTER TABLE tenant_keys ADD COLUMN key_ref TEXT;
"#,
    },
    Migration {
        version: 12,
        description: "the audit trail's actor lookup: a row per actor and second instead of an index entry per record",
        sql: r#"
-- Which seconds (the first 19 characters of `ts`) hold records of which actor: written by the
-- appender once per (actor, second) in the transaction that appends the records, read by
-- queries by actor (the actor's seconds, newest first, then their records through the time
-- index, which carries the actor from this version on). It
-- replaces the index on (actor, ts), whose entry per record landed on a page per actor and
-- cost the writer about a third of its time (BENCHMARKS.md, issue 20). Outside the hash
-- chain: `audit verify` checks that every record's (actor, second) is here. Append-only like
-- the trail; retention deletes the rows that name no record any more.
CREATE TABLE audit_actor_second (
    actor  TEXT NOT NULL,
    second TEXT NOT NULL,
    PRIMARY KEY (actor, second)
) WITHOUT ROWID;
-- Retention finds the old seconds by this index (it grows at its end).
CREATE INDEX audit_actor_second_by_second ON audit_actor_second(second);
INSERT INTO audit_actor_second (actor, second)
    SELECT DISTINCT actor, substr(ts, 1, 19) FROM audit_log;
DROP INDEX audit_actor;
-- The time index carries the actor: a walk through an actor's seconds reads the other
-- actors' entries from the index alone, and the table only for the actor's own records.
-- Appends still go to its last pages (times grow).
CREATE INDEX audit_ts_actor ON audit_log(ts, actor);
DROP INDEX audit_ts;
CREATE TRIGGER audit_actor_second_no_update BEFORE UPDATE ON audit_actor_second
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_actor_second_no_delete BEFORE DELETE ON audit_actor_second
WHEN (SELECT open FROM audit_gate WHERE id = 1) = 0
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (deletion only by retention)'); END;
"#,
    },
    Migration {
        version: 13,
        description: "the audit trail in batches: one row and one chain link per appended batch instead of per record",
        sql: r#"
-- One row per batch the appender writes (BENCHMARKS.md, issue 20: a row and its index
-- entries per record were most of the writer's cost). `records` holds the batch's records,
-- one JSON per line; their ids run from `id` to `last_id`. `hash` is the batch's chain link,
-- HMAC(id || prev_hash || records): for a batch of one record the link a record had in
-- `audit_log`, so the trail before this version is copied as batches of one and its chain
-- still verifies. `ts_first`/`ts_last` bound every instant the batch's records name: their
-- times and the seconds their request ids were made in (lookups by time, by actor and by
-- request id go through `ts_last`). Copies beside the chain like the columns of
-- `audit_log` were: `audit verify` recomputes them.
CREATE TABLE audit_batch (
    id        INTEGER PRIMARY KEY,
    last_id   INTEGER NOT NULL,
    node      TEXT NOT NULL,
    ts_first  TEXT NOT NULL,
    ts_last   TEXT NOT NULL,
    records   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_batch_node ON audit_batch(node, id);
CREATE INDEX audit_batch_ts ON audit_batch(ts_last);
-- The trail's bounds, which lookups rely on; they only grow (triggers), so no one can narrow
-- them to hide batches from lookups, and `audit verify` checks every batch against them.
-- `span`: the widest batch, in whole seconds from its first instant's second to its last's,
-- plus one: a lookup reads the batches whose `ts_last` is within that of what it looks for.
-- `unanchored_through`: the last batch holding a record whose request id, in the gateway's
-- format, was made more than a day from the record's time (ids of random bits, before
-- 2026-12-05): a lookup by such an id searches the batches up to it.
CREATE TABLE audit_bounds (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    span               INTEGER NOT NULL,
    unanchored_through INTEGER NOT NULL
);
CREATE TEMP TABLE audit_migrating AS
    SELECT id, CASE WHEN abs(made - ts_s) <= 86400
                    THEN strftime('%Y-%m-%dT%H:%M:%S.000000Z', made, 'unixepoch') END AS made,
               made IS NOT NULL AND (ts_s IS NULL OR abs(made - ts_s) > 86400) AS unanchored
      FROM (SELECT id, CAST(strftime('%s', ts) AS INTEGER) AS ts_s,
                   CASE WHEN length(request_id) = 33 AND substr(request_id, 17, 1) = '-'
                         AND substr(request_id, 1, 8) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
                         AND substr(request_id, 9, 8) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
                         AND substr(request_id, 18) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
                        THEN (instr('0123456789abcdef', substr(request_id, 1, 1)) - 1) * 268435456 + (instr('0123456789abcdef', substr(request_id, 2, 1)) - 1) * 16777216 + (instr('0123456789abcdef', substr(request_id, 3, 1)) - 1) * 1048576 + (instr('0123456789abcdef', substr(request_id, 4, 1)) - 1) * 65536 + (instr('0123456789abcdef', substr(request_id, 5, 1)) - 1) * 4096 + (instr('0123456789abcdef', substr(request_id, 6, 1)) - 1) * 256 + (instr('0123456789abcdef', substr(request_id, 7, 1)) - 1) * 16 + (instr('0123456789abcdef', substr(request_id, 8, 1)) - 1) * 1
                   END AS made
              FROM audit_log);
INSERT INTO audit_batch (id, last_id, node, ts_first, ts_last, records, prev_hash, hash)
    SELECT l.id, l.id, l.node, min(l.ts, coalesce(m.made, l.ts)), max(l.ts, coalesce(m.made, l.ts)),
           l.record, l.prev_hash, l.hash
      FROM audit_log l JOIN audit_migrating m ON m.id = l.id;
INSERT INTO audit_bounds (id, span, unanchored_through)
    SELECT 1,
           (SELECT coalesce(max(strftime('%s', ts_last) - strftime('%s', ts_first)), 0) + 1 FROM audit_batch),
           (SELECT coalesce(max(id), 0) FROM audit_migrating WHERE unanchored);
DROP TABLE audit_migrating;
DROP TABLE audit_log;
CREATE TRIGGER audit_batch_no_update BEFORE UPDATE ON audit_batch
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_batch_no_delete BEFORE DELETE ON audit_batch
WHEN (SELECT open FROM audit_gate WHERE id = 1) = 0
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (deletion only by retention)'); END;
CREATE TRIGGER audit_bounds_grow BEFORE UPDATE ON audit_bounds
WHEN NEW.span < OLD.span OR NEW.unanchored_through < OLD.unanchored_through OR NEW.id <> OLD.id
BEGIN SELECT RAISE(ABORT, 'the audit trail''s bounds only grow'); END;
CREATE TRIGGER audit_bounds_no_delete BEFORE DELETE ON audit_bounds
BEGIN SELECT RAISE(ABORT, 'the audit trail''s bounds only grow'); END;
"#,
    },
    Migration {
        version: 14,
        description: "each audit batch's request records counted by decision and reason",
        sql: r#"
-- `tally`: the batch's request records by decision and reason (`src/audit/tally.rs`), so a
-- summary of a window adds a value per batch instead of parsing each record. A copy beside
-- the chain, like `ts_first`: `audit verify` recomputes it. Batches from before have none
-- (NULL), and a summary reads their records. The time index now carries it, with `ts_first`
-- and the id (the order pages are read in, `src/audit/batch.rs`): a summary finds a
-- window's tallies in the index alone, without reading a batch's records (SQLite reads a
-- row's columns past its records through their overflow pages).
ALTER TABLE audit_batch ADD COLUMN tally TEXT;
DROP INDEX audit_batch_ts;
CREATE INDEX audit_batch_ts ON audit_batch(ts_last, id, ts_first, tally);
"#,
    },
];

/// The newest schema version this build knows (the same for both engines).
pub fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_have_the_same_versions() {
        let versions = |e| for_engine(e).iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(Engine::Sqlite), versions(Engine::Postgres));
        assert_eq!(versions(Engine::Sqlite), (1..=latest()).collect::<Vec<_>>());
    }
}
