//! Reading one configuration file into its [`FileModel`] while reporting *every* problem,
//! each with its key path, not only the first one serde meets.
//!
//! serde stops at the first error. To go on, the bad key is taken out of the parsed TOML
//! and the file is read again, until it reads cleanly: a key of the wrong type or with an
//! unknown value is dropped (its default applies for the rest of the check), an unknown key
//! is dropped with a "did you mean" from the keys that section accepts, and a table that
//! lacks a required key is dropped whole. Paths count array elements from 1, as the rest of
//! the validation does (`endpoint[2].methods`).

use serde_path_to_error::Segment;
use toml::Value;

use super::model::FileModel;

/// Reports beyond this many in one file are not looked for (a file that is not a
/// configuration at all would otherwise produce one per key).
const MAX_PROBLEMS: usize = 64;

/// What reading one file found.
pub struct Diagnosis {
    /// The file as read once every bad key was removed; `None` when it was not a TOML
    /// document or a section had to be dropped whole (further checks would only repeat it).
    pub model: Option<FileModel>,
    /// Every problem, `file: key.path: what is wrong`.
    pub problems: Vec<String>,
}

/// Reads `text` (the file called `name`) into a [`FileModel`], collecting every problem.
pub fn file_model(name: &str, text: &str) -> Diagnosis {
    let table = match text.parse::<toml::Table>() {
        Ok(t) => t,
        Err(e) => {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            return Diagnosis {
                model: None,
                problems: vec![format!("{name}{at}: {}", e.message())],
            };
        }
    };
    let mut root = Value::Table(table);
    let mut problems = Vec::new();
    let mut shifts = Shifts::default();
    let mut removed: Vec<String> = Vec::new();
    let mut dropped_whole = false;
    loop {
        let err = match serde_path_to_error::deserialize::<_, FileModel>(root.clone()) {
            Ok(model) => {
                return Diagnosis {
                    model: (!dropped_whole).then_some(model),
                    problems,
                }
            }
            Err(e) => e,
        };
        let at: Vec<Segment> = err.path().iter().cloned().collect();
        let msg = err.inner().message().to_string();
        let (target, text, whole) = explain(&at, &msg);
        // A required key this loop removed itself (its value was bad) was reported already.
        // Paths are compared as the file numbers them: array elements may have moved since.
        let rendered = shifts.render(&target);
        let repeat = whole && removed.contains(&rendered);
        if !repeat {
            problems.push(format!("{name}: {rendered}: {text}"));
        }
        let cut = if whole { at.clone() } else { target.clone() };
        let rendered_cut = shifts.render(&cut);
        dropped_whole |= whole;
        if problems.len() >= MAX_PROBLEMS || cut.is_empty() || !remove(&mut root, &cut, &mut shifts)
        {
            if problems.len() >= MAX_PROBLEMS {
                problems.push(format!("{name}: more problems not listed"));
            }
            return Diagnosis {
                model: None,
                problems,
            };
        }
        removed.push(rendered_cut);
    }
}

/// The key a serde error is about, the message an operator reads, and whether the table
/// holding it must go (a required key is missing).
fn explain(at: &[Segment], msg: &str) -> (Vec<Segment>, String, bool) {
    let child = |key: &str| {
        let mut p = at.to_vec();
        p.push(Segment::Map {
            key: key.to_string(),
        });
        p
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, expected) = split_expected(rest);
        let hint = suggest(field, &expected);
        // serde_path_to_error has usually recorded the key already.
        let target = match at.last() {
            Some(Segment::Map { key }) if key == field => at.to_vec(),
            _ => child(field),
        };
        return (target, format!("unknown key{hint}"), false);
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return (child(field), "required key is missing".into(), true);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (value, expected) = split_expected(rest);
        let list = expected.join(", ");
        let hint = suggest(value, &expected);
        return (
            at.to_vec(),
            format!("unknown value \"{value}\", expected one of {list}{hint}"),
            false,
        );
    }
    for (prefix, what) in [("invalid type: ", "type"), ("invalid value: ", "value")] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.split_once(", expected ") {
                let expected = kind(expected, what == "value");
                return (
                    at.to_vec(),
                    format!("expected {expected}, found {}", found_text(found)),
                    false,
                );
            }
        }
    }
    (at.to_vec(), msg.to_string(), false)
}

/// `` name`, expected one of `a`, `b` `` → (`name`, [`a`, `b`]).
fn split_expected(rest: &str) -> (&str, Vec<&str>) {
    let mut parts = rest.splitn(2, '`');
    let name = parts.next().unwrap_or_default();
    let expected = parts
        .next()
        .unwrap_or_default()
        .split('`')
        .skip(1)
        .step_by(2)
        .collect();
    (name, expected)
}

/// ` (did you mean `x`?)` when one accepted name is close to `given`.
fn suggest(given: &str, accepted: &[&str]) -> String {
    let lower = given.to_ascii_lowercase();
    let best = accepted
        .iter()
        .map(|a| {
            (
                strsim::damerau_levenshtein(&lower, &a.to_ascii_lowercase()),
                *a,
            )
        })
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, a)) if d <= (given.chars().count() / 3).max(2) => {
            format!(" (did you mean `{a}`?)")
        }
        _ => String::new(),
    }
}

/// serde's name for what it wanted, in the words of a configuration file.
fn kind(expected: &str, value: bool) -> String {
    let e = expected.trim();
    let nice = match e {
        "usize" | "u64" | "u32" | "u16" | "u8" if value => "a non-negative integer in range",
        "usize" | "u64" | "u32" | "u16" | "u8" | "i64" | "i32" | "i16" | "i8" | "isize" => {
            "an integer"
        }
        "f64" | "f32" => "a number",
        "a boolean" | "bool" => "true or false",
        "a sequence" => "an array",
        "a string" => "a string",
        _ if e.starts_with("struct ") || e == "a map" || e.starts_with("internally tagged") => {
            "a table"
        }
        _ => e,
    };
    nice.to_string()
}

/// serde's description of what it found: `string "two"` → `"two"`, `integer `3`` → `3`.
fn found_text(found: &str) -> String {
    let f = found.trim();
    if let Some(s) = f.strip_prefix("string ") {
        return s.to_string();
    }
    for p in ["integer ", "floating point ", "boolean "] {
        if let Some(v) = f.strip_prefix(p) {
            return v.trim_matches('`').to_string();
        }
    }
    match f {
        "sequence" => "an array".into(),
        "map" => "a table".into(),
        other => other.to_string(),
    }
}

/// Array elements removed so far, so that later paths still name elements by their place
/// in the file: for an array (by its path as the file numbers it), the original indices gone.
#[derive(Default)]
struct Shifts {
    gone: Vec<(String, Vec<usize>)>,
}

impl Shifts {
    /// The index in the file of what is now element `index` of the array at `array`.
    fn original(&self, array: &str, index: usize) -> usize {
        let Some((_, gone)) = self.gone.iter().find(|(a, _)| a == array) else {
            return index;
        };
        let mut i = index;
        for g in gone {
            if *g <= i {
                i += 1;
            }
        }
        i
    }

    fn note(&mut self, array: String, original: usize) {
        match self.gone.iter_mut().find(|(a, _)| *a == array) {
            Some((_, g)) => {
                g.push(original);
                g.sort_unstable();
            }
            None => self.gone.push((array, vec![original])),
        }
    }

    /// `tenants.acme.redact[2].path`.
    fn render(&self, path: &[Segment]) -> String {
        let mut out = String::new();
        for seg in path {
            match seg {
                Segment::Map { key } => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    if !key.is_empty()
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        out.push_str(key);
                    } else {
                        out.push_str(&format!("{key:?}"));
                    }
                }
                Segment::Seq { index } => {
                    let i = self.original(&out, *index);
                    out.push_str(&format!("[{}]", i + 1));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        if out.is_empty() {
            "(top level)".into()
        } else {
            out
        }
    }
}

/// Removes the value at `path` from `root`; false when there is none (nothing to repair).
fn remove(root: &mut Value, path: &[Segment], shifts: &mut Shifts) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let mut node = root;
    for seg in parent_path {
        node = match (seg, node) {
            (Segment::Map { key }, Value::Table(t)) => match t.get_mut(key) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(a)) => match a.get_mut(*index) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Map { key }, Value::Table(t)) => t.remove(key).is_some(),
        (Segment::Seq { index }, Value::Array(a)) if *index < a.len() => {
            let array = shifts.render(parent_path);
            let original = shifts.original(&array, *index);
            a.remove(*index);
            shifts.note(array, original);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        file_model("erpgate.toml", text).problems
    }

    #[test]
    fn every_type_error_is_reported_with_its_key_path() {
        let p = problems(
            r#"
[gateway]
listen = "127.0.0.1:8080"
database = "x.db"
threads = "two"
access_log = 1
max_uri_length = -5
"#,
        );
        let mut p = p;
        p.sort();
        assert_eq!(
            p,
            vec![
                "erpgate.toml: gateway.access_log: expected true or false, found 1",
                "erpgate.toml: gateway.max_uri_length: expected a non-negative integer in range, found -5",
                "erpgate.toml: gateway.threads: expected an integer, found \"two\"",
            ]
        );
    }

    #[test]
    fn misspelt_keys_get_a_suggestion_and_the_rest_is_still_read() {
        let d = file_model(
            "erpgate.toml",
            r#"
[gateway]
listen = "127.0.0.1:8080"
database = "x.db"
thraeds = 2

[tenant.acme]
upstream = "https://x"
"#,
        );
        assert_eq!(
            d.problems,
            vec![
                "erpgate.toml: gateway.thraeds: unknown key (did you mean `threads`?)".to_string(),
                "erpgate.toml: tenant: unknown key (did you mean `tenants`?)".to_string(),
            ]
        );
        let m = d.model.expect("only keys were removed");
        assert_eq!(
            m.gateway.map(|g| g.listen).as_deref(),
            Some("127.0.0.1:8080")
        );
    }

    #[test]
    fn a_far_off_key_gets_no_suggestion() {
        let p = problems("[gateway]\nlisten = \"a\"\ndatabase = \"b\"\nzzzzzzzzzz = 1\n");
        assert_eq!(p, vec!["erpgate.toml: gateway.zzzzzzzzzz: unknown key"]);
    }

    #[test]
    fn array_elements_keep_their_place_after_one_is_dropped() {
        let p = problems(
            r#"
[[endpoint]]
name = "a"

[[endpoint]]
name = "b"
path = "/x"
methods = ["GET"]
colour = "red"

[[endpoint]]
name = "c"
path = "/y"
methods = 3
"#,
        );
        assert_eq!(
            p,
            vec![
                "erpgate.toml: endpoint[1].path: required key is missing",
                "erpgate.toml: endpoint[2].colour: unknown key",
                "erpgate.toml: endpoint[3].methods: expected an array, found 3",
            ],
            "{p:?}"
        );
    }

    #[test]
    fn a_missing_key_after_a_shift_is_still_reported() {
        let p = problems(
            r#"
[[endpoint]]
name = "a"
path = 1
methods = ["GET"]

[[endpoint]]
name = "b"
methods = ["GET"]
"#,
        );
        assert_eq!(
            p,
            vec![
                "erpgate.toml: endpoint[1].path: expected a string, found 1",
                "erpgate.toml: endpoint[2].path: required key is missing",
            ],
            "{p:?}"
        );
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let p = problems("[gateway]\nlisten = \n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("erpgate.toml (line 2): "), "{p:?}");
    }

    #[test]
    fn a_dropped_table_means_no_model() {
        let d = file_model("f.toml", "[[endpoint]]\nname = \"a\"\n");
        assert!(d.model.is_none());
        assert_eq!(d.problems.len(), 1);
    }
}
