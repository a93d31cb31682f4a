//! Child resources as Oracle's REST framework serves them: the children each resource has,
//! their items, and the `expand` and `fields=A;child:B` parameters that inline them.

use serde_json::Value;

use super::data;

/// The child collections of the resource `name` (a child collection has none).
pub fn child_names(name: &str) -> &'static [&'static str] {
    match name {
        "invoices" => &["invoiceLines"],
        "suppliers" => &["sites"],
        "workers" => &["nationalIdentifiers"],
        _ => &[],
    }
}

/// The key attribute of the child collection `child`.
pub fn child_key(child: &str) -> &'static str {
    match child {
        "sites" => "SupplierSiteId",
        "nationalIdentifiers" => "NationalIdentifierId",
        _ => "LineNumber",
    }
}

/// The items of `parent`'s child collection `child`, None when `name` has no such child.
pub fn child_items(name: &str, child: &str, parent: &Value, key: &str) -> Option<Vec<Value>> {
    let pid = parent.get(key).and_then(Value::as_i64).unwrap_or(0);
    match (name, child) {
        ("invoices", "invoiceLines") => Some(data::invoice_lines(pid)),
        ("suppliers", "sites") => Some(data::sites(pid)),
        ("workers", "nationalIdentifiers") => Some(data::national_identifiers(pid)),
        _ => None,
    }
}

/// `expand`: which children to inline.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Expand {
    /// None (no `expand`).
    #[default]
    None,
    /// `expand=all`.
    All,
    /// `expand=a,b`.
    Names(Vec<String>),
}

/// Parses `expand=all` or `expand=a,b`.
pub fn parse_expand(v: &str) -> Expand {
    if v.trim().eq_ignore_ascii_case("all") {
        Expand::All
    } else {
        Expand::Names(
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }
}

/// `fields`: the item's own projection and the children inlined with theirs.
#[derive(Clone, Debug, Default)]
pub struct Fields {
    /// Item attributes kept (None: all). Scopes without `child:` name them; an empty scope
    /// keeps none.
    pub item: Option<Vec<String>>,
    /// `child:A,B` scopes, in order (an empty attribute list keeps every attribute).
    pub children: Vec<(String, Vec<String>)>,
}

/// Parses `fields=A,B;child:C,D` (`;` separates scopes).
pub fn parse_fields(v: &str) -> Fields {
    let mut f = Fields::default();
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect()
    };
    for scope in v.split(';') {
        match scope.split_once(':') {
            Some((child, attrs)) => f.children.push((child.trim().to_string(), list(attrs))),
            None => f.item.get_or_insert_with(Vec::new).extend(list(scope)),
        }
    }
    f
}

/// A child to inline and its projection (None: every attribute).
pub type Inlined = (&'static str, Option<Vec<String>>);

/// The children to inline into items of `name`, each with its projection (None: all
/// attributes), or the 400 message naming a child `name` does not have.
pub fn inlined(name: &str, expand: &Expand, fields: &Fields) -> Result<Vec<Inlined>, String> {
    let known = child_names(name);
    let lookup = |c: &str| {
        known
            .iter()
            .copied()
            .find(|k| *k == c)
            .ok_or_else(|| format!("The child resource {c} is not valid for {name}"))
    };
    let mut out: Vec<Inlined> = Vec::new();
    match expand {
        Expand::None => {}
        Expand::All => out.extend(known.iter().map(|k| (*k, None))),
        Expand::Names(names) => {
            for n in names {
                let k = lookup(n)?;
                if !out.iter().any(|(o, _)| *o == k) {
                    out.push((k, None));
                }
            }
        }
    }
    for (child, attrs) in &fields.children {
        let k = lookup(child)?;
        let proj = (!attrs.is_empty()).then(|| attrs.clone());
        match out.iter_mut().find(|(o, _)| *o == k) {
            Some(slot) => slot.1 = proj,
            None => out.push((k, proj)),
        }
    }
    Ok(out)
}
