//! Oracle's REST framework parameters, read from a request's query string: which attributes
//! the request filters, sorts, projects or finds by, which child resources it has Oracle
//! inline, which finders it runs, and which parameters the framework does not name.
//!
//! The query is read the way Oracle's servlet container reads it: split at `&`, each pair at
//! its first `=`, both sides percent-decoded with `+` as a space. Where that reading could
//! differ from Oracle's — an invalid escape, bytes that are not UTF-8 once decoded, a quote
//! left open — the query is refused as unreadable rather than guessed at. Parameter names
//! are compared without case (a spelling Oracle ignores costs a refusal at worst, never a
//! bypass). The relayed query is the original bytes; nothing here rewrites it.
//!
//! Grammar of the parameters read (REST framework 1–9):
//! - `q`: see [`super::filter`];
//! - `orderBy=Attr[:asc|:desc],child.Attr…`;
//! - `fields=Attr,Attr;child:Attr,Attr;child.grandchild:Attr;child` — `;` separates scopes,
//!   the first scope without `:` projects the resource itself, a later one without `:` names
//!   a child whose attributes are all returned;
//! - `expand=child,child.grandchild` or `expand=all`;
//! - `finder=Name;Var=value,Var=value`;
//! - `dependency=Attr=value,Attr=value`: Oracle sets the attributes (then rolls them back)
//!   before answering, running their validation; each is an attribute the request names.

use std::borrow::Cow;

use super::filter::{self, FilterError};

/// A framework parameter Oracle acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// `q`: a filter.
    Q,
    /// `orderBy`: sorting.
    OrderBy,
    /// `fields`: projection, and inlining of children.
    Fields,
    /// `expand`: inlining of children.
    Expand,
    /// `finder`: a named, predefined query with bind variables.
    Finder,
    /// `limit`: page size.
    Limit,
    /// `offset`: first item of the page.
    Offset,
    /// `totalResults`: count of the whole result.
    TotalResults,
    /// `onlyData`: no links in the response.
    OnlyData,
    /// `links`: which link relations to include.
    Links,
    /// `dependency`: recalculation of dependent attributes on a write.
    Dependency,
}

impl Param {
    #[cfg(test)]
    const ALL: [Param; 11] = [
        Param::Q,
        Param::OrderBy,
        Param::Fields,
        Param::Expand,
        Param::Finder,
        Param::Limit,
        Param::Offset,
        Param::TotalResults,
        Param::OnlyData,
        Param::Links,
        Param::Dependency,
    ];

    /// The parameter's name as Oracle documents it.
    pub fn name(self) -> &'static str {
        match self {
            Param::Q => "q",
            Param::OrderBy => "orderBy",
            Param::Fields => "fields",
            Param::Expand => "expand",
            Param::Finder => "finder",
            Param::Limit => "limit",
            Param::Offset => "offset",
            Param::TotalResults => "totalResults",
            Param::OnlyData => "onlyData",
            Param::Links => "links",
            Param::Dependency => "dependency",
        }
    }

    /// The parameter `name` is, compared without case; a name that is not ASCII also as Java
    /// would fold it (`fıelds`, `finder\u{200b}`): read as the parameter rather than
    /// relayed as an unknown one Oracle might take for it.
    fn of(name: &str) -> Option<Param> {
        let folded;
        let name = if name.is_ascii() {
            name
        } else {
            folded = crate::redact::java_fold(name);
            &folded
        };
        // Lower-cased on the stack and matched at once (this runs for every parameter of
        // every request): no name is longer than 12 bytes.
        let mut buf = [0u8; 12];
        let lower = buf.get_mut(..name.len())?;
        lower.copy_from_slice(name.as_bytes());
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"q" => Param::Q,
            b"orderby" => Param::OrderBy,
            b"fields" => Param::Fields,
            b"expand" => Param::Expand,
            b"finder" => Param::Finder,
            b"limit" => Param::Limit,
            b"offset" => Param::Offset,
            b"totalresults" => Param::TotalResults,
            b"onlydata" => Param::OnlyData,
            b"links" => Param::Links,
            b"dependency" => Param::Dependency,
            _ => return None,
        })
    }
}

/// An attribute the request filters, sorts, projects or finds by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrRef {
    /// The parameter that names it.
    pub param: Param,
    /// The child accessors it sits under (empty: the resource itself).
    pub children: Vec<String>,
    /// The attribute's name.
    pub name: String,
}

/// A child resource the request has Oracle inline or reach into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRef {
    /// The parameter that names it.
    pub param: Param,
    /// Its accessor path (`["lines", "distributions"]` for `lines.distributions`).
    pub path: Vec<String>,
}

impl ChildRef {
    /// The path as written (`lines.distributions`).
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// A finder the request runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinderRef {
    /// The finder's name.
    pub name: String,
    /// Its bind variables' names.
    pub variables: Vec<String>,
}

/// What a query asks of Oracle's framework.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueryUse {
    /// Attributes named by `q`, `orderBy`, `fields` and finder variables.
    pub attributes: Vec<AttrRef>,
    /// Names in `q` that are not in attribute position (unquoted legacy values, function
    /// names): still compared with masked attributes.
    pub other_names: Vec<String>,
    /// Children inlined (`expand`, `fields`) or reached into (`child.Attr` in `q`, `orderBy`,
    /// `fields`), without duplicates.
    pub children: Vec<ChildRef>,
    /// Finders run.
    pub finders: Vec<FinderRef>,
    /// `expand=all`.
    pub expand_all: bool,
    /// Parameters the framework does not name (decoded names).
    pub unknown: Vec<String>,
}

impl QueryUse {
    /// Whether the response will carry child resources inline.
    pub fn inlines_children(&self) -> bool {
        self.expand_all
            || self
                .children
                .iter()
                .any(|c| matches!(c.param, Param::Expand | Param::Fields))
    }
}

/// Why a query cannot be read unambiguously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryError {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// Not UTF-8 once decoded.
    NotUtf8,
    /// A parameter's value does not follow its grammar.
    Malformed(Param),
    /// More distinct children than [`MAX_CHILDREN`].
    TooManyChildren,
    /// More names than [`MAX_NAMES`].
    TooManyNames,
}

impl QueryError {
    /// A stable detail for the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryError::BadEscape => "query_bad_escape",
            QueryError::NotUtf8 => "query_not_utf8",
            QueryError::Malformed(Param::Q) => "q_malformed",
            QueryError::Malformed(Param::OrderBy) => "orderby_malformed",
            QueryError::Malformed(Param::Fields) => "fields_malformed",
            QueryError::Malformed(Param::Expand) => "expand_malformed",
            QueryError::Malformed(Param::Finder) => "finder_malformed",
            QueryError::Malformed(_) => "query_malformed",
            QueryError::TooManyChildren => "too_many_children",
            QueryError::TooManyNames => "too_many_names",
        }
    }
}

/// What a tenant does with query parameters Oracle's framework does not name
/// (`tenants.NAME.unknown_query_parameters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownParams {
    /// Relayed.
    Allow,
    /// Refused (`query.parameter_denied`).
    Refuse,
    /// Refused where the caller's responses are masked, relayed elsewhere (the default).
    #[default]
    RefuseWhenMasked,
}

/// The most distinct child paths one query may name.
pub const MAX_CHILDREN: usize = 32;

/// The most attribute and other names one query may hold (each is compared with the masked
/// attributes, and a `fields` name looked up as a child): a bound on the work per request.
pub const MAX_NAMES: usize = 256;

/// Decodes one side of a pair: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub fn decode(s: &str) -> Result<Cow<'_, str>, QueryError> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |o: usize| bytes.get(i + o).and_then(|c| (*c as char).to_digit(16));
                let (Some(h), Some(l)) = (hex(1), hex(2)) else {
                    return Err(QueryError::BadEscape);
                };
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| QueryError::NotUtf8)
}

/// Reads a query string (without its `?`).
pub fn analyse(query: &str) -> Result<QueryUse, QueryError> {
    let mut out = QueryUse::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name)?;
        let value = decode(value)?;
        match Param::of(name.trim()) {
            Some(Param::Q) => q(&value, &mut out)?,
            Some(Param::OrderBy) => order_by(&value, &mut out)?,
            Some(Param::Fields) => fields(&value, &mut out)?,
            Some(Param::Expand) => expand(&value, &mut out)?,
            Some(Param::Finder) => finder(&value, &mut out)?,
            Some(Param::Dependency) => dependency(&value, &mut out),
            Some(p @ (Param::Limit | Param::Offset)) => {
                // Digits only: a value a front end could split further (`5;q=…`) is refused.
                let v = value.trim();
                if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(QueryError::Malformed(p));
                }
            }
            Some(p @ (Param::TotalResults | Param::OnlyData)) => {
                let v = value.trim();
                if !(v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")) {
                    return Err(QueryError::Malformed(p));
                }
            }
            Some(_) => {}
            None => out.unknown.push(name.into_owned()),
        }
        if out.attributes.len() + out.other_names.len() + out.unknown.len() > MAX_NAMES {
            return Err(QueryError::TooManyNames);
        }
    }
    Ok(out)
}

/// Whether `s` can be an attribute or accessor name: ASCII letters, digits, `_`, `$`, `#`.
/// Anything else (quotes, parentheses, other scripts) is refused where a name is expected
/// rather than guessed at.
fn ident(s: &str, param: Param) -> Result<String, QueryError> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'#'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(QueryError::Malformed(param))
    }
}

/// Splits a dotted path; every part must be a name.
fn path(s: &str, param: Param) -> Result<Vec<String>, QueryError> {
    s.split('.').map(|p| ident(p.trim(), param)).collect()
}

fn add_child(out: &mut QueryUse, param: Param, path: Vec<String>) -> Result<(), QueryError> {
    // Each prefix is a child too: `a.b` reaches `a` first.
    for n in 1..=path.len() {
        let prefix = path.get(..n).unwrap_or(&[]);
        if let Some(existing) = out.children.iter_mut().find(|c| c.path == prefix) {
            // Inlining outranks a mere reference (it changes the response's shape).
            if matches!(param, Param::Expand | Param::Fields) {
                existing.param = param;
            }
            continue;
        }
        if out.children.len() >= MAX_CHILDREN {
            return Err(QueryError::TooManyChildren);
        }
        out.children.push(ChildRef {
            param,
            path: prefix.to_vec(),
        });
    }
    Ok(())
}

/// An attribute, dotted or not: its prefix is a child reached into.
fn add_attr(out: &mut QueryUse, param: Param, dotted: Vec<String>) -> Result<(), QueryError> {
    let mut children = dotted;
    let Some(name) = children.pop() else {
        return Err(QueryError::Malformed(param));
    };
    if !children.is_empty() {
        add_child(out, param, children.clone())?;
    }
    out.attributes.push(AttrRef {
        param,
        children,
        name,
    });
    Ok(())
}

fn q(value: &str, out: &mut QueryUse) -> Result<(), QueryError> {
    let names = filter::names(value).map_err(|e| match e {
        FilterError::Unterminated | FilterError::Control | FilterError::EmptyPart => {
            QueryError::Malformed(Param::Q)
        }
    })?;
    for n in names {
        if n.attribute {
            add_attr(out, Param::Q, n.parts)?;
        } else {
            out.other_names.push(n.last().to_string());
        }
    }
    Ok(())
}

fn order_by(value: &str, out: &mut QueryUse) -> Result<(), QueryError> {
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (attr, dir) = item.split_once(':').unwrap_or((item, "asc"));
        let dir = dir.trim();
        if !(dir.eq_ignore_ascii_case("asc") || dir.eq_ignore_ascii_case("desc")) {
            return Err(QueryError::Malformed(Param::OrderBy));
        }
        add_attr(out, Param::OrderBy, path(attr, Param::OrderBy)?)?;
    }
    Ok(())
}

fn fields(value: &str, out: &mut QueryUse) -> Result<(), QueryError> {
    for (i, scope) in value.split(';').enumerate() {
        let scope = scope.trim();
        if scope.is_empty() {
            continue;
        }
        let (children, attrs) = match scope.split_once(':') {
            Some((p, attrs)) => (path(p, Param::Fields)?, Some(attrs)),
            None if i == 0 => (Vec::new(), Some(scope)),
            None => (path(scope, Param::Fields)?, None),
        };
        if !children.is_empty() {
            add_child(out, Param::Fields, children.clone())?;
        }
        for a in attrs
            .into_iter()
            .flat_map(|a| a.split(','))
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            out.attributes.push(AttrRef {
                param: Param::Fields,
                children: children.clone(),
                name: ident(a, Param::Fields)?,
            });
        }
    }
    Ok(())
}

fn expand(value: &str, out: &mut QueryUse) -> Result<(), QueryError> {
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if item.eq_ignore_ascii_case("all") {
            out.expand_all = true;
        } else {
            add_child(out, Param::Expand, path(item, Param::Expand)?)?;
        }
    }
    Ok(())
}

fn finder(value: &str, out: &mut QueryUse) -> Result<(), QueryError> {
    let (name, vars) = value.split_once(';').unwrap_or((value, ""));
    let name = ident(name.trim(), Param::Finder)?;
    let mut variables = Vec::new();
    // A value may itself hold a comma; a fragment without '=' then continues the previous
    // value. Every fragment that looks like `Var=` is a variable (a value that merely looks
    // like one is checked too: conservative).
    for frag in vars.split(',') {
        if let Some((var, _)) = frag.split_once('=') {
            let var = ident(var.trim(), Param::Finder)?;
            variables.push(var.clone());
            out.attributes.push(AttrRef {
                param: Param::Finder,
                children: Vec::new(),
                name: var,
            });
        }
    }
    out.finders.push(FinderRef { name, variables });
    Ok(())
}

/// `dependency`: every fragment that reads `Attr=` names an attribute Oracle sets (and
/// validates) for the response; a value that merely looks like one is checked too.
fn dependency(value: &str, out: &mut QueryUse) {
    for frag in value.split([',', ';']) {
        if let Some((attr, _)) = frag.split_once('=') {
            out.attributes.push(AttrRef {
                param: Param::Dependency,
                children: Vec::new(),
                name: attr.trim().to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
