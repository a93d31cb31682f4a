//! Configuration: files under `conf/` → parsed ([`model`]) → checked with precise errors
//! ([`validate`]) → compiled into the immutable [`Snapshot`](crate::snapshot::Snapshot).
//!
//! Every error names the file, the key and what is wrong, and validation reports all the
//! problems it finds, not only the first.

pub mod diagnose;
pub mod model;
pub mod upstream_url;
pub mod validate;

use std::path::{Path, PathBuf};

use crate::snapshot::Snapshot;
use model::FileModel;

/// Every problem found in a configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, each `file: key: what is wrong`.
    pub problems: Vec<String>,
}

impl ConfigError {
    /// A single problem.
    pub fn one(p: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![p.into()],
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A parsed file and where it came from.
pub struct Loaded {
    /// Display name (relative to the main file's directory where possible).
    pub name: String,
    /// The parsed content.
    pub model: FileModel,
}

/// All files of one configuration.
pub struct Files {
    /// Directory of the main file (relative paths resolve against it).
    pub base: PathBuf,
    /// The main file first, then includes in order.
    pub files: Vec<Loaded>,
    /// SHA-256 over every file's name and bytes, hex.
    pub hash: String,
    /// SHA-256 of what every gateway behind one load balancer must share: every file but
    /// the main file's `[gateway]` table (listeners, node id and local paths differ by node;
    /// tenants, endpoints, policies, schedule and redaction must not), hex.
    pub shared_hash: String,
    /// Paths read.
    pub sources: Vec<PathBuf>,
    /// Problems found while reading whose keys were set aside so that the rest could still
    /// be checked; [`validate::compile`] reports them with its own.
    pub problems: Vec<String>,
}

/// One file read: its model (when every problem could be set aside), its bytes and every
/// problem found.
type Parsed = (Option<FileModel>, Vec<u8>, Vec<String>);

/// Reads and parses one file.
fn parse(path: &Path, name: &str) -> Result<Parsed, ConfigError> {
    let bytes =
        std::fs::read(path).map_err(|e| ConfigError::one(format!("{name}: cannot read: {e}")))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ConfigError::one(format!("{name}: not valid UTF-8")))?;
    let d = diagnose::file_model(name, text);
    Ok((d.model, bytes, d.problems))
}

impl Snapshot {
    /// Reads, validates and compiles the configuration rooted at `main_file`.
    pub fn load(main_file: &Path, version: u64) -> Result<Snapshot, ConfigError> {
        let files = read(main_file)?;
        validate::compile(files, version)
    }
}

/// Reads the main file and its includes.
pub fn read(main: &Path) -> Result<Files, ConfigError> {
    let base = main
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let main_name = main
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| main.display().to_string());
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut shared = ring::digest::Context::new(&ring::digest::SHA256);
    let (model, bytes, mut problems) = parse(main, &main_name)?;
    let Some(model) = model else {
        return Err(ConfigError { problems });
    };
    digest.update(main_name.as_bytes());
    digest.update(&(bytes.len() as u64).to_be_bytes());
    digest.update(&bytes);
    let without_gateway = shared_part(&bytes);
    shared.update(&(without_gateway.len() as u64).to_be_bytes());
    shared.update(without_gateway.as_bytes());
    let includes = model.include.clone().unwrap_or_default();
    let mut files = vec![Loaded {
        name: main_name.clone(),
        model,
    }];
    let mut sources = vec![main.to_path_buf()];
    let mut unreadable = false;
    for inc in includes {
        let path = base.join(&inc);
        match parse(&path, &inc) {
            Ok((m, bytes, found)) => {
                problems.extend(found);
                let Some(m) = m else {
                    unreadable = true;
                    continue;
                };
                if m.gateway.is_some() {
                    problems.push(format!("{inc}: [gateway] is only allowed in {main_name}"));
                }
                if m.include.is_some() {
                    problems.push(format!("{inc}: include is only allowed in {main_name}"));
                }
                for d in [&mut digest, &mut shared] {
                    d.update(inc.as_bytes());
                    d.update(&(bytes.len() as u64).to_be_bytes());
                    d.update(&bytes);
                }
                files.push(Loaded {
                    name: inc,
                    model: m,
                });
                sources.push(path);
            }
            Err(e) => {
                unreadable = true;
                problems.extend(e.problems);
            }
        }
    }
    if unreadable {
        return Err(ConfigError { problems });
    }
    Ok(Files {
        base,
        files,
        hash: hex::encode(digest.finish().as_ref()),
        shared_hash: hex::encode(shared.finish().as_ref()),
        sources,
        problems,
    })
}

/// `[gateway]` keys that differ by node by design: where it listens, what it is called,
/// where its files and database credentials are, how it logs. Every other key (lockout
/// settings, trusted proxies, header lists, redaction mask, …) must agree between nodes.
const PER_NODE_KEYS: &[&str] = &[
    "listen",
    "node_id",
    "database",
    "database_password_file",
    "database_ca_file",
    "app_key_file",
    "threads",
    "metrics_listen",
    "admin_listen",
    "portal",
    "portal_origin",
    "portal_oidc_client_secret_file",
    "portal_oidc_ca_file",
    "portal_oidc_redirect_uri",
    "upgrade_socket",
    "upgrade_wait_seconds",
    "tls",
    "upstream_ca_file",
    "log_format",
    "access_log",
    "otlp_traces_endpoint",
    "otlp_service_name",
];

/// The main file without the per-node `[gateway]` keys, in a canonical form (parsed and
/// written again: comments and layout do not count). The file parsed already, so this cannot
/// fail; if it did, the whole text stands in.
fn shared_part(bytes: &[u8]) -> String {
    let Ok(mut table) = std::str::from_utf8(bytes)
        .map_err(|_| ())
        .and_then(|t| t.parse::<toml::Table>().map_err(|_| ()))
    else {
        return String::from_utf8_lossy(bytes).into_owned();
    };
    if let Some(toml::Value::Table(gw)) = table.get_mut("gateway") {
        for key in PER_NODE_KEYS {
            gw.remove(*key);
        }
    }
    toml::to_string(&table).unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod shared_hash_tests {
    use super::shared_part;

    #[test]
    fn the_shared_part_ignores_per_node_keys_comments_and_layout() {
        let a = "[gateway]\nlisten = \"127.0.0.1:1\"\n\n[tenants.acme]\nupstream = \"https://a\"\n";
        let b = "# node b\n[gateway]\nlisten = \"127.0.0.1:2\"\nnode_id = \"b\"\n[tenants.acme]\nupstream   =   \"https://a\"\n";
        let c = "[gateway]\nlisten = \"127.0.0.1:1\"\n[tenants.acme]\nupstream = \"https://c\"\n";
        assert_eq!(shared_part(a.as_bytes()), shared_part(b.as_bytes()));
        assert_ne!(shared_part(a.as_bytes()), shared_part(c.as_bytes()));
        assert!(!shared_part(a.as_bytes()).contains("listen"));
        // A security setting of the gateway table is shared: a node that differs shows.
        let d = "[gateway]\nlisten = \"127.0.0.1:1\"\ntoken_max_failures = 50\n[tenants.acme]\nupstream = \"https://a\"\n";
        assert_ne!(shared_part(a.as_bytes()), shared_part(d.as_bytes()));
    }
}
