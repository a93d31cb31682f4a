//! The endpoint catalog: Oracle resources the gateway knows, as a segment trie.
//!
//! Literal segments take precedence over parameters at the same depth (so
//! `/invoices/describe` beats `/invoices/{id}`), with backtracking so a literal branch that
//! dead-ends still lets a parameter branch match. A parameter matches exactly one non-empty
//! segment. Anything that matches no template is `endpoint.unknown` and is never relayed.

use super::method::MethodSet;

/// Index of an endpoint in its catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(pub u32);

/// A catalog entry.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Unique name, e.g. `invoices.item`.
    pub name: String,
    /// The template, e.g. `/fscmRestApi/resources/{version}/invoices/{id}`.
    pub template: String,
    /// Methods Oracle serves there.
    pub methods: MethodSet,
    /// Request headers that reach Oracle here besides the gateway-wide allowlist.
    pub request_headers: Vec<http::HeaderName>,
    /// Declared finders: name and the attributes it filters on.
    pub finders: Vec<(String, Vec<String>)>,
    /// A batch root (each part of a request's body is admitted on its own).
    pub batch: bool,
}

impl Endpoint {
    /// An endpoint serving `methods` at `template`, with no extra headers or finders.
    pub fn new(name: &str, template: &str, methods: MethodSet) -> Endpoint {
        Endpoint {
            name: name.to_string(),
            template: template.to_string(),
            methods,
            request_headers: Vec::new(),
            finders: Vec::new(),
            batch: false,
        }
    }

    /// Whether the template names one item (its last segment is a parameter) rather than a
    /// collection.
    pub fn is_item(&self) -> bool {
        self.template
            .rsplit('/')
            .next()
            .is_some_and(|s| s.starts_with('{'))
    }

    /// The attributes the declared finder `name` filters on (None: not declared).
    pub fn finder(&self, name: &str) -> Option<&[String]> {
        self.finders
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.as_slice())
    }
}

/// Stands for any item id when a child's template is looked up: it matches only a parameter
/// segment (no literal may contain a brace).
const ANY_ID: &str = "{}";

#[derive(Default, Debug)]
struct Node {
    literals: Vec<(String, usize)>,
    param: Option<usize>,
    endpoint: Option<EndpointId>,
}

/// The most segments a path may have and still match (deeper paths are unknown).
pub const MAX_SEGMENTS: usize = 32;

/// The compiled catalog.
#[derive(Debug)]
pub struct Catalog {
    endpoints: Vec<Endpoint>,
    nodes: Vec<Node>,
}

/// One segment of a template.
#[derive(Debug, PartialEq, Eq)]
pub enum TemplateSegment<'a> {
    /// Must equal this text.
    Literal(&'a str),
    /// Any one non-empty segment.
    Param(&'a str),
}

fn literal_ok(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.bytes().all(crate::path::path_byte_ok)
}

/// Parses a template into segments, or says what is wrong with it.
pub fn parse_template(t: &str) -> Result<Vec<TemplateSegment<'_>>, String> {
    let rest = t
        .strip_prefix('/')
        .ok_or_else(|| format!("template \"{t}\" must start with '/'"))?;
    if rest.is_empty() {
        return Err(format!("template \"{t}\" has no segments"));
    }
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.len() > MAX_SEGMENTS {
        return Err(format!(
            "template \"{t}\" has more than {MAX_SEGMENTS} segments"
        ));
    }
    segs.into_iter()
        .map(|s| {
            if let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(format!("template \"{t}\": parameter \"{s}\" must be {{name}} with letters, digits or '_'"));
                }
                Ok(TemplateSegment::Param(inner))
            } else if literal_ok(s) {
                Ok(TemplateSegment::Literal(s))
            } else {
                Err(format!("template \"{t}\": segment \"{s}\" is not a literal of unreserved characters or a whole-segment {{param}} (no empty segments, dots, '%', ';', '?' or partial parameters)"))
            }
        })
        .collect()
}

/// The shape of a template (parameters anonymised), for overlap detection.
pub fn shape(segs: &[TemplateSegment<'_>]) -> String {
    let parts: Vec<&str> = segs
        .iter()
        .map(|s| match s {
            TemplateSegment::Literal(l) => l,
            TemplateSegment::Param(_) => "{}",
        })
        .collect();
    parts.join("/")
}

impl Catalog {
    /// Builds the trie. Templates must already be validated and free of overlaps.
    pub fn build(endpoints: Vec<Endpoint>) -> Result<Catalog, String> {
        let mut nodes = vec![Node::default()];
        for (i, e) in endpoints.iter().enumerate() {
            let segs = parse_template(&e.template)?;
            let mut at = 0usize;
            for seg in segs {
                let next = match seg {
                    TemplateSegment::Literal(l) => {
                        match nodes[at]
                            .literals
                            .iter()
                            .find(|(s, _)| s == l)
                            .map(|(_, n)| *n)
                        {
                            Some(n) => n,
                            None => {
                                nodes.push(Node::default());
                                let n = nodes.len() - 1;
                                nodes[at].literals.push((l.to_string(), n));
                                n
                            }
                        }
                    }
                    TemplateSegment::Param(_) => match nodes[at].param {
                        Some(n) => n,
                        None => {
                            nodes.push(Node::default());
                            let n = nodes.len() - 1;
                            nodes[at].param = Some(n);
                            n
                        }
                    },
                };
                at = next;
            }
            if nodes[at].endpoint.is_some() {
                return Err(format!(
                    "template \"{}\" overlaps another endpoint",
                    e.template
                ));
            }
            nodes[at].endpoint = Some(EndpointId(i as u32));
        }
        for n in &mut nodes {
            n.literals.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(Catalog { endpoints, nodes })
    }

    /// The endpoint the path's segments match, if any.
    pub fn match_path<'a>(&self, segments: impl Iterator<Item = &'a str>) -> Option<EndpointId> {
        let mut buf: [&str; MAX_SEGMENTS] = [""; MAX_SEGMENTS];
        let mut n = 0;
        for s in segments {
            *buf.get_mut(n)? = s;
            n += 1;
        }
        self.walk(0, buf.get(..n)?)
    }

    fn walk(&self, at: usize, segs: &[&str]) -> Option<EndpointId> {
        let node = self.nodes.get(at)?;
        let Some((first, rest)) = segs.split_first() else {
            return node.endpoint;
        };
        if let Ok(i) = node
            .literals
            .binary_search_by(|(l, _)| l.as_str().cmp(first))
        {
            if let Some(found) = node
                .literals
                .get(i)
                .and_then(|(_, next)| self.walk(*next, rest))
            {
                return Some(found);
            }
        }
        match node.param {
            Some(next) if !first.is_empty() => self.walk(next, rest),
            _ => None,
        }
    }

    /// The endpoint of the child resource at accessor path `path` under the resource the
    /// request path `segments` names (`is_item`: whether that resource is one item). For an
    /// item `…/workers/{id}` the child `nationalIdentifiers` is `…/workers/{id}/child/
    /// nationalIdentifiers`; for a collection `…/workers` it is the same under any id. Each
    /// further step of the path goes one level down the same way.
    pub fn child(&self, segments: &[&str], is_item: bool, path: &[String]) -> Option<EndpointId> {
        let mut buf: [&str; MAX_SEGMENTS] = [""; MAX_SEGMENTS];
        let mut n = 0;
        for s in segments {
            *buf.get_mut(n)? = s;
            n += 1;
        }
        let mut item = is_item;
        for step in path {
            if !item {
                *buf.get_mut(n)? = ANY_ID;
                n += 1;
            }
            *buf.get_mut(n)? = "child";
            *buf.get_mut(n + 1)? = step;
            n += 2;
            item = false;
        }
        self.walk(0, buf.get(..n)?)
    }

    /// The endpoint with id `id`. Ids come from this catalog, so the index is valid; an id
    /// from another catalog yields the first endpoint rather than a panic.
    pub fn endpoint(&self, id: EndpointId) -> &Endpoint {
        self.endpoints
            .get(id.0 as usize)
            .or_else(|| self.endpoints.first())
            .unwrap_or(&EMPTY)
    }

    /// Looks up an endpoint by name.
    pub fn by_name(&self, name: &str) -> Option<EndpointId> {
        self.endpoints
            .iter()
            .position(|e| e.name == name)
            .map(|i| EndpointId(i as u32))
    }

    /// All endpoints.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}

static EMPTY: Endpoint = Endpoint {
    name: String::new(),
    template: String::new(),
    methods: MethodSet::EMPTY,
    request_headers: Vec::new(),
    finders: Vec::new(),
    batch: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Method;

    fn ep(name: &str, t: &str) -> Endpoint {
        let mut methods = MethodSet::default();
        methods.insert(Method::Get);
        Endpoint::new(name, t, methods)
    }

    fn cat() -> Catalog {
        Catalog::build(vec![
            ep(
                "invoices.collection",
                "/fscmRestApi/resources/{version}/invoices",
            ),
            ep(
                "invoices.item",
                "/fscmRestApi/resources/{version}/invoices/{id}",
            ),
            ep(
                "invoices.describe",
                "/fscmRestApi/resources/{version}/invoices/describe",
            ),
            ep(
                "lines",
                "/fscmRestApi/resources/{version}/invoices/{id}/child/invoiceLines",
            ),
            ep(
                "weird",
                "/fscmRestApi/resources/{version}/invoices/describe/x",
            ),
        ])
        .expect("build")
    }

    fn m(c: &Catalog, p: &str) -> Option<String> {
        let segs = p.strip_prefix('/').unwrap_or(p).split('/');
        c.match_path(segs).map(|id| c.endpoint(id).name.clone())
    }

    #[test]
    fn literal_beats_param_with_backtracking() {
        let c = cat();
        assert_eq!(
            m(&c, "/fscmRestApi/resources/latest/invoices").as_deref(),
            Some("invoices.collection")
        );
        assert_eq!(
            m(&c, "/fscmRestApi/resources/latest/invoices/300100").as_deref(),
            Some("invoices.item")
        );
        assert_eq!(
            m(&c, "/fscmRestApi/resources/latest/invoices/describe").as_deref(),
            Some("invoices.describe")
        );
        // The literal branch "describe" has no child "child": backtrack to {id}.
        assert_eq!(
            m(
                &c,
                "/fscmRestApi/resources/latest/invoices/describe/child/invoiceLines"
            )
            .as_deref(),
            Some("lines")
        );
        assert_eq!(m(&c, "/fscmRestApi/resources/latest/suppliers"), None);
        assert_eq!(
            m(&c, "/fscmRestApi/resources/latest/invoices/1/child"),
            None
        );
        assert_eq!(
            m(
                &c,
                "/fscmRestApi/resources/latest/invoices/1/child/invoiceLines/2/x"
            ),
            None
        );
        assert_eq!(m(&c, "/fscmRestApi"), None);
        assert_eq!(c.match_path(std::iter::repeat_n("a", 40)), None);
    }

    #[test]
    fn children_of_items_and_collections() {
        let c = cat();
        let name = |id: Option<EndpointId>| id.map(|i| c.endpoint(i).name.clone());
        let lines = ["invoiceLines".to_string()];
        let item = ["fscmRestApi", "resources", "v1", "invoices", "300100"];
        assert!(c
            .endpoint(c.by_name("invoices.item").expect("id"))
            .is_item());
        assert_eq!(name(c.child(&item, true, &lines)).as_deref(), Some("lines"));
        let coll = ["fscmRestApi", "resources", "v1", "invoices"];
        assert!(!c
            .endpoint(c.by_name("invoices.collection").expect("id"))
            .is_item());
        assert_eq!(
            name(c.child(&coll, false, &lines)).as_deref(),
            Some("lines")
        );
        // Unknown children, nested children the catalog lacks, and hostile names.
        for path in [
            vec!["sites".to_string()],
            vec!["invoiceLines".to_string(), "distributions".to_string()],
            vec!["invoiceLines/child/x".to_string()],
            vec!["{}".to_string()],
        ] {
            assert_eq!(c.child(&item, true, &path), None, "{path:?}");
        }
    }

    #[test]
    fn template_errors_are_precise() {
        for bad in [
            "invoices", "/", "/a//b", "/a/{}", "/a/x{id}", "/a/%2f", "/a/;x", "/a/..", "/a/{id",
        ] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
        let segs = parse_template("/a/{id}/b").expect("ok");
        assert_eq!(shape(&segs), "a/{}/b");
        assert!(Catalog::build(vec![ep("a", "/x/{id}"), ep("b", "/x/{other}")]).is_err());
    }
}
