use super::*;

fn attrs(u: &QueryUse) -> Vec<String> {
    u.attributes
        .iter()
        .map(|a| {
            let mut p = a.children.clone();
            p.push(a.name.clone());
            format!("{}:{}", a.param.name(), p.join("."))
        })
        .collect()
}

fn children(u: &QueryUse) -> Vec<String> {
    u.children
        .iter()
        .map(|c| format!("{}:{}", c.param.name(), c.dotted()))
        .collect()
}

#[test]
fn plain_paging_names_nothing() {
    let u = analyse("limit=25&offset=50&totalResults=true&onlyData=true").expect("reads");
    assert_eq!(u, QueryUse::default());
}

#[test]
fn every_parameter_is_read() {
    let u = analyse(
        "q=Status%3D'A'+and+nationalIdentifiers.NationalIdentifierType='SSN'\
         &orderBy=InvoiceDate:desc,Supplier\
         &fields=PersonId,DisplayName;nationalIdentifiers:NationalIdentifierNumber;emails\
         &expand=invoiceLines.invoiceDistributions\
         &finder=SupplierByTaxRegistration;TaxRegNum=GB2,Other=1",
    )
    .expect("reads");
    assert_eq!(
        attrs(&u),
        [
            "q:Status",
            "q:nationalIdentifiers.NationalIdentifierType",
            "orderBy:InvoiceDate",
            "orderBy:Supplier",
            "fields:PersonId",
            "fields:DisplayName",
            "fields:nationalIdentifiers.NationalIdentifierNumber",
            "finder:TaxRegNum",
            "finder:Other",
        ]
    );
    assert_eq!(
        children(&u),
        [
            "fields:nationalIdentifiers",
            "fields:emails",
            "expand:invoiceLines",
            "expand:invoiceLines.invoiceDistributions",
        ]
    );
    assert_eq!(u.finders[0].name, "SupplierByTaxRegistration");
    assert!(u.inlines_children() && !u.expand_all);
}

#[test]
fn names_and_encodings_a_hostile_client_tries() {
    // Parameter names without case, percent-encoded, with '+' spaces.
    let u = analyse("EXPAND=nationalIdentifiers&%65xpand=sites&Q=TaxRegistrationNumber+%3D+'x'")
        .expect("reads");
    assert_eq!(children(&u), ["expand:nationalIdentifiers", "expand:sites"]);
    assert_eq!(attrs(&u), ["q:TaxRegistrationNumber"]);
    // Repeated parameters are all read.
    let u = analyse("fields=A&fields=B&q=C=1&q=D=2").expect("reads");
    assert_eq!(attrs(&u), ["fields:A", "fields:B", "q:C", "q:D"]);
    // expand=all in any case.
    assert!(analyse("expand=ALL").expect("reads").expand_all);
    // Unknown parameters are listed, decoded.
    assert_eq!(
        analyse("foo=1&%62ar=2&limit=3").expect("reads").unknown,
        ["foo", "bar"]
    );
}

#[test]
fn unreadable_queries_are_errors() {
    assert_eq!(analyse("q=%zz"), Err(QueryError::BadEscape));
    assert_eq!(analyse("q=%4"), Err(QueryError::BadEscape));
    assert_eq!(analyse("q=%ff%fe"), Err(QueryError::NotUtf8));
    assert_eq!(analyse("q=Status='A"), Err(QueryError::Malformed(Param::Q)));
    assert_eq!(
        analyse("orderBy=A:sideways"),
        Err(QueryError::Malformed(Param::OrderBy))
    );
    assert_eq!(
        analyse("expand=a..b"),
        Err(QueryError::Malformed(Param::Expand))
    );
    assert_eq!(
        analyse("fields=;:A"),
        Err(QueryError::Malformed(Param::Fields))
    );
    assert_eq!(
        analyse("finder=;x=1"),
        Err(QueryError::Malformed(Param::Finder))
    );
    // Paging and flags take their own values only.
    for bad in [
        "limit=5;q=TaxRegistrationNumber='x'",
        "limit=",
        "offset=-1",
        "limit=99999999999",
        "totalResults=true;q=x",
        "onlyData=yes",
    ] {
        assert!(
            matches!(analyse(bad), Err(QueryError::Malformed(_))),
            "{bad}"
        );
    }
    assert!(analyse("limit=%2025%20&offset=0&totalResults=TRUE&onlyData=false").is_ok());
    // Where a name is expected, only a name is taken.
    for bad in [
        "orderBy=UPPER(TaxRegistrationNumber)",
        "orderBy=%22TaxRegistrationNumber%22",
        "fields=Tax%C3%A9",
        "expand=a/child/b",
        "finder=F;Tax Reg=1",
    ] {
        assert!(
            matches!(analyse(bad), Err(QueryError::Malformed(_))),
            "{bad}"
        );
    }
    let names: Vec<String> = (0..=MAX_NAMES).map(|i| format!("A{i}")).collect();
    assert_eq!(
        analyse(&format!("fields={}", names.join(","))),
        Err(QueryError::TooManyNames)
    );
    assert!(analyse(&format!("fields={}", names[..MAX_NAMES].join(","))).is_ok());
    let many: Vec<String> = (0..=MAX_CHILDREN).map(|i| format!("c{i}")).collect();
    assert_eq!(
        analyse(&format!("expand={}", many.join(","))),
        Err(QueryError::TooManyChildren)
    );
}

#[test]
fn decode_borrows_when_it_can() {
    assert!(matches!(decode("plain"), Ok(Cow::Borrowed("plain"))));
    assert_eq!(decode("a+b%2Cc").expect("ok"), "a b,c");
}

#[test]
fn names_java_would_fold_are_the_parameter() {
    // `ı` (U+0131) is `I` to Java's equalsIgnoreCase; a zero-width space is no letter.
    let u = analyse("f%C4%B1elds=nationalIdentifiers:NationalIdentifierNumber").expect("reads");
    assert!(u.unknown.is_empty(), "{u:?}");
    assert_eq!(children(&u), ["fields:nationalIdentifiers"]);
    let u = analyse("expand%E2%80%8B=nationalIdentifiers").expect("reads");
    assert_eq!(children(&u), ["expand:nationalIdentifiers"]);
}

#[test]
fn dependency_names_the_attributes_it_sets() {
    let u = analyse("dependency=TaxRegistrationNumber%3DGB2,Status=A").expect("reads");
    assert_eq!(
        attrs(&u),
        ["dependency:TaxRegistrationNumber", "dependency:Status"]
    );
}

#[test]
fn every_parameter_name_is_recognised_in_any_case() {
    for p in Param::ALL {
        assert_eq!(Param::of(p.name()), Some(p));
        assert_eq!(Param::of(&p.name().to_ascii_uppercase()), Some(p));
    }
    assert_eq!(Param::of("qq"), None);
    assert_eq!(Param::of("totalresultsx"), None);
    assert_eq!(Param::of(""), None);
}
