//! The layers of `ARCHITECTURE.md`, enforced: every `crate::` path in `src/` (imports,
//! qualified calls, test modules included) is resolved to the top-level module it names, and
//! the test fails on an import that points up the table below, on a top-level module the
//! table does not place, and on any cycle between top-level modules.
//!
//! A module may name a module of a LOWER layer, or one of its own layer as long as that
//! creates no cycle. `lib.rs` and `main.rs` sit above everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. Keep in step with `ARCHITECTURE.md`.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "L0 leaves",
        &[
            "refusal",
            "ids",
            "net",
            "sync",
            "crypto",
            "path",
            "listen",
            "html",
            "json_text",
            "allocator",
        ],
    ),
    (
        "L1 domain",
        &[
            "jwt",
            "store",
            "audit",
            "policy",
            "redact",
            "upstream",
            "auth",
            "directory",
            "metrics",
            "tls",
            "sim",
            "oracle",
            "telemetry",
            "session",
        ],
    ),
    ("L2 compiled configuration", &["snapshot"]),
    ("L3 configuration files", &["config"]),
    ("L4 running state", &["app"]),
    ("L5 service operations", &["service"]),
    ("L6 faces", &["gateway", "admin", "explain", "portal"]),
    ("L7 command line", &["cli"]),
];

/// Known violations another change removes (file, module it names). Each entry must still
/// occur — the test fails once it does not, so this list can only shrink — and must go
/// when the work that removes it lands.
const PENDING: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/` (`src/a/b.rs` and `src/a/b/mod.rs` → `[a, b]`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_string();
        if stem != "mod" {
            parts.push(stem);
        }
    }
    parts
}

/// Drops `//` comments (doc links are not imports). A `//` inside a string literal cuts the
/// line short, which can only hide a path, never invent one.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a file's code names through `crate::` (including every name in a
/// `crate::{a, b::c}` group) and through `super::` chains that climb to the crate root.
fn named_modules(code: &str, here: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        // Skip `$crate::` and identifiers ending in `crate`.
        if i > 0 {
            let prev = code.as_bytes()[i - 1];
            if prev.is_ascii_alphanumeric() || prev == b'_' || prev == b'$' {
                continue;
            }
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 1 => {
                        let id = ident_at(&group[j..]);
                        if !id.is_empty() && id != "self" {
                            out.insert(id.to_string());
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident_at(rest);
            if !id.is_empty() {
                out.insert(id.to_string());
            }
        }
    }
    // `super::super::x` from deep enough climbs out of the top-level module.
    for (i, _) in code.match_indices("super::") {
        if i > 0 {
            let prev = code.as_bytes()[i - 1];
            if prev.is_ascii_alphanumeric() || prev == b'_' || prev == b':' {
                continue;
            }
        }
        let mut rest = &code[i..];
        let mut depth = here.len();
        while let Some(r) = rest.strip_prefix("super::") {
            depth = depth.saturating_sub(1);
            rest = r;
        }
        if depth == 0 {
            let id = ident_at(rest);
            if !id.is_empty() {
                out.insert(id.to_string());
            }
        }
    }
    out
}

struct Graph {
    /// (from, to) → files that make the edge.
    edges: BTreeMap<(String, String), BTreeSet<String>>,
    tops: BTreeSet<String>,
}

fn scan() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 50,
        "found the sources ({} files)",
        files.len()
    );
    let mut g = Graph {
        edges: BTreeMap::new(),
        tops: BTreeSet::new(),
    };
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        let here = module_path(rel);
        let Some(top) = here.first().cloned() else {
            continue;
        };
        if here.len() == 1 && (top == "lib" || top == "main") {
            continue;
        }
        g.tops.insert(top.clone());
        let text = std::fs::read_to_string(&f).expect("read");
        let shown = format!("src/{}", rel.display());
        for m in named_modules(&code_only(&text), &here) {
            if m != top {
                g.edges
                    .entry((top.clone(), m))
                    .or_default()
                    .insert(shown.clone());
            }
        }
    }
    g
}

fn is_pending(from_file: &str, to: &str) -> bool {
    PENDING.iter().any(|(f, m)| *f == from_file && *m == to)
}

#[test]
fn every_top_level_module_has_a_layer() {
    let g = scan();
    let unplaced: Vec<&String> = g.tops.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules missing from the layer table (tests/layers.rs, ARCHITECTURE.md): {unplaced:?}"
    );
}

#[test]
fn no_module_imports_upward() {
    let g = scan();
    let mut bad = Vec::new();
    for ((from, to), files) in &g.edges {
        let (Some(lf), Some(lt)) = (layer_of(from), layer_of(to)) else {
            continue; // reported by every_top_level_module_has_a_layer (or not a module)
        };
        if lt > lf {
            for f in files.iter().filter(|f| !is_pending(f, to)) {
                bad.push(format!(
                    "{f}: `{from}` ({}) names `{to}` ({})",
                    LAYERS[lf].0, LAYERS[lt].0
                ));
            }
        }
    }
    assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
}

#[test]
fn no_cycles_between_top_level_modules() {
    let g = scan();
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for ((from, to), files) in &g.edges {
        if files.iter().all(|f| is_pending(f, to)) || !g.tops.contains(to) {
            continue;
        }
        next.entry(from.as_str()).or_default().push(to.as_str());
    }
    // Depth-first search from every module; a grey node met again closes a cycle.
    fn visit<'a>(
        m: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(m, 1);
        stack.push(m);
        for &n in next.get(m).map(Vec::as_slice).unwrap_or(&[]) {
            match state.get(n).copied().unwrap_or(0) {
                0 => visit(n, next, state, stack, cycles),
                1 => {
                    let at = stack.iter().position(|s| *s == n).unwrap_or(0);
                    let mut c: Vec<&str> = stack[at..].to_vec();
                    c.push(n);
                    cycles.push(c.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m, 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for m in g.tops.iter() {
        if state.get(m.as_str()).copied().unwrap_or(0) == 0 {
            visit(m, &next, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    let show = |c: &String| {
        let mods: Vec<&str> = c.split(" -> ").collect();
        let why: Vec<String> = mods
            .windows(2)
            .map(|w| {
                let files = g
                    .edges
                    .get(&(w[0].to_string(), w[1].to_string()))
                    .map(|f| f.iter().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                format!("  {} -> {}: {files}", w[0], w[1])
            })
            .collect();
        format!("{c}\n{}", why.join("\n"))
    };
    assert!(
        cycles.is_empty(),
        "cycles between top-level modules:\n{}",
        cycles.iter().map(show).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn pending_exceptions_still_exist() {
    let g = scan();
    for (file, to) in PENDING {
        let found = g
            .edges
            .iter()
            .any(|((_, t), files)| t == to && files.contains(*file));
        assert!(
            found,
            "{file} no longer names `{to}`: remove it from PENDING in tests/layers.rs"
        );
    }
}

#[test]
fn the_scanner_sees_groups_nested_paths_and_super() {
    let code = "use crate::{alpha, beta::{x, y}, self};\nlet v = crate::gamma::f();\n\
                use super::super::delta;\nmacro $crate::no;";
    let here = vec!["top".to_string(), "inner".to_string()];
    let found = named_modules(&code_only(code), &here);
    let want: BTreeSet<String> = ["alpha", "beta", "gamma", "delta"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
    assert!(named_modules(&code_only("// see crate::hidden"), &here).is_empty());
    // One `super` from `top/inner` stays inside `top`.
    assert!(named_modules("use super::sibling;", &here).is_empty());
}

#[test]
fn nothing_below_the_gateway_names_pingora() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        let top = module_path(rel).first().cloned().unwrap_or_default();
        if matches!(top.as_str(), "gateway" | "cli" | "lib" | "main") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        if code_only(&text).contains("pingora") {
            bad.push(format!("src/{}", rel.display()));
        }
    }
    assert!(bad.is_empty(), "Pingora below gateway/: {bad:?}");
}
