//! Oracle-aware policy: what Oracle's REST framework does with the query string, the request
//! headers and a batch body is part of the request. Each bypass is first shown to work
//! against the simulated Oracle directly, then refused through the gateway (with nothing
//! reaching Oracle); what was legitimate before still passes.

mod support;

use support::oracle::{detail, direct, enc, refused, start, H, V};

#[test]
fn masked_fields_cannot_be_read_back_through_the_query() {
    let (gw, creds) = start(&["vendor"]);
    let vendor = &creds[0];
    let hidden = gw.sim.unmasked_values("suppliers", "TaxRegistrationNumber");
    let known = hidden.first().expect("seeded").clone();
    let wrong = "GB999999999";

    // Against Oracle itself, a filter on the field is a yes/no oracle for a guessed value.
    let guess = |v: &str| {
        format!(
            "{V}/suppliers?q={}&totalResults=true",
            enc(&format!("TaxRegistrationNumber='{v}'"))
        )
    };
    let yes = direct(&gw, "GET", &guess(&known), &[], None);
    let no = direct(&gw, "GET", &guess(wrong), &[], None);
    assert_eq!(
        (
            yes.json()["totalResults"].as_i64(),
            no.json()["totalResults"].as_i64()
        ),
        (Some(1), Some(0))
    );

    // Through the gateway every spelling of it is refused, and Oracle sees none of them.
    let masked_uses = [
        guess(&known),
        guess(wrong),
        format!(
            "{V}/suppliers?q={}",
            enc("TaxRegistrationNumber LIKE 'GB2%'")
        ),
        format!("{V}/suppliers?q={}", enc("taxregistrationnumber>'GB2'")),
        format!("{V}/suppliers?Q={}", enc("TaxRegistrationNumber='x'")),
        format!("{V}/suppliers?%71={}", enc("TaxRegistrationNumber='x'")),
        format!("{V}/suppliers?q={}", enc("\"TaxRegistrationNumber\" = 'x'")),
        format!(
            "{V}/suppliers?q={}",
            enc(&format!("TaxRegistrationNumber={known}"))
        ),
        format!(
            "{V}/suppliers?q={}",
            enc("Status='ACTIVE' OR UPPER(TaxRegistrationNumber)='X'")
        ),
        format!("{V}/suppliers?q=TaxRegistrationNumber%3D'x'"),
        format!("{V}/suppliers?orderBy=TaxRegistrationNumber:desc"),
        format!("{V}/suppliers?fields=SupplierId,TaxRegistrationNumber"),
        format!(
            "{V}/suppliers?finder={}",
            enc(&format!("SupplierByTaxRegistration;TaxRegNum={known}"))
        ),
        format!(
            "{V}/suppliers/1001/child/sites?q={}",
            enc("TaxRegistrationNumber='x'")
        ),
    ];
    for target in &masked_uses {
        let before = gw.sim.request_count();
        let r = gw.get_as(vendor, target);
        let rec = refused(&gw, &r, 403, "query.masked_field", before);
        assert!(
            detail(&rec)
                .to_ascii_lowercase()
                .contains("taxregistration"),
            "{target}: {rec}"
        );
        // The guessed value is never kept in the record.
        let q = rec["query"].as_str().unwrap_or("");
        assert!(!q.contains(&known) && !q.contains("GB2"), "{target}: {q}");
    }

    // Parameters that cannot be judged are refused rather than relayed.
    for (target, status, code) in [
        (
            format!("{V}/suppliers?finder={}", enc("SupplierByName;Name=x")),
            403,
            "query.parameter_denied",
        ),
        (
            format!("{V}/suppliers?foo=1"),
            403,
            "query.parameter_denied",
        ),
        (
            format!("{V}/suppliers?q={}", enc("Status='ACTIVE")),
            400,
            "query.malformed",
        ),
        (format!("{V}/suppliers?q=%zz"), 400, "query.malformed"),
        (format!("{V}/suppliers?q=%C0%AF"), 400, "query.malformed"),
    ] {
        let before = gw.sim.request_count();
        let r = gw.get_as(vendor, &target);
        refused(&gw, &r, status, code, before);
    }

    // What was legitimate still is: filters, sorting, paging and finders on unmasked fields.
    let r = gw.get_as(vendor, &format!("{V}/suppliers?q={}&totalResults=true&limit=3&offset=1&onlyData=true&orderBy=SupplierId:desc", enc("Status='ACTIVE'")));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["totalResults"].as_i64(), Some(hidden.len() as i64));
    assert_eq!(v["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["items"][0]["TaxRegistrationNumber"], "****");
    let r = gw.get_as(
        vendor,
        &format!("{V}/suppliers?finder={}", enc("PrimaryKey;SupplierId=1001")),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["items"][0]["SupplierId"].as_i64(), Some(1001));
    let body = r.text();
    assert!(hidden.iter().all(|h| !body.contains(h.as_str())), "{body}");
}

#[test]
fn ungranted_children_stay_out_of_reach() {
    let (gw, creds) = start(&["directory", "hr-ids"]);
    let (directory, hr) = (&creds[0], &creds[1]);
    let ssns = gw
        .sim
        .child_values("workers", "nationalIdentifiers", "NationalIdentifierNumber");
    let ssn = ssns.first().expect("seeded").clone();

    // Oracle inlines a child for `expand` and for `fields`.
    let inline = format!(
        "{H}/workers/90001?expand=nationalIdentifiers&fields={}",
        enc("PersonId;nationalIdentifiers:NationalIdentifierNumber")
    );
    let d = direct(&gw, "GET", &inline, &[], None);
    assert_eq!(d.status, 200, "{}", d.text());
    assert!(
        d.text().contains(&ssn),
        "the simulator inlines the child: {}",
        d.text()
    );

    // Through the gateway, a child is reached only as a direct request to it would be.
    for (target, status, code, named) in [
        (
            format!("{H}/workers/90001/child/nationalIdentifiers"),
            403,
            "policy.denied",
            "",
        ),
        (inline.clone(), 403, "policy.denied", "nationalIdentifiers"),
        (
            format!("{H}/workers/90001?expand=nationalIdentifiers"),
            403,
            "policy.denied",
            "expand=nationalIdentifiers (endpoint workers.nationalIdentifiers)",
        ),
        (
            format!("{H}/workers?expand=nationalIdentifiers"),
            403,
            "policy.denied",
            "child_not_granted",
        ),
        (
            format!(
                "{H}/workers/90001?fields={}",
                enc("PersonId;nationalIdentifiers:NationalIdentifierNumber")
            ),
            403,
            "policy.denied",
            "fields=nationalIdentifiers",
        ),
        (
            format!(
                "{H}/workers/90001?fields={}",
                enc("PersonId;nationalIdentifiers")
            ),
            403,
            "policy.denied",
            "fields=nationalIdentifiers",
        ),
        (
            format!("{H}/workers/90001?EXPAND=%6EationalIdentifiers"),
            403,
            "policy.denied",
            "nationalIdentifiers",
        ),
        (
            format!(
                "{H}/workers?q={}",
                enc("nationalIdentifiers.NationalIdentifierNumber='1'")
            ),
            403,
            "policy.denied",
            "q=nationalIdentifiers",
        ),
        (
            format!("{H}/workers/90001?expand=photos"),
            403,
            "policy.denied",
            "child_unknown",
        ),
        (
            format!("{H}/workers/90001?expand=all"),
            403,
            "query.parameter_denied",
            "expand=all",
        ),
        (
            format!("{H}/workers/90001?expand=ALL"),
            403,
            "query.parameter_denied",
            "expand=all",
        ),
    ] {
        let before = gw.sim.request_count();
        let r = gw.get_as(directory, &target);
        let rec = refused(&gw, &r, status, code, before);
        assert!(detail(&rec).contains(named), "{target}: {rec}");
    }

    // Granted children may be inlined, and the child's own masking follows it into the
    // parent's response, though its rule was written for the child's shape.
    let r = gw.get_as(hr, &format!("{H}/workers/90001?expand=nationalIdentifiers"));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(ssns.iter().all(|s| !body.contains(s.as_str())), "{body}");
    let shown = r.json()["nationalIdentifiers"][0]["NationalIdentifierNumber"]
        .as_str()
        .map(str::to_string);
    assert_eq!(shown, Some(format!("****{}", &ssn[ssn.len() - 4..])));
    let r = gw.get_as(hr, &format!("{H}/workers/90001/child/nationalIdentifiers"));
    assert_eq!(r.status, 200, "{}", r.text());

    // Plain reads of what is granted are untouched.
    let r = gw.get_as(
        directory,
        &format!("{H}/workers/90001?fields=PersonId,DisplayName&onlyData=true"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().get("nationalIdentifiers").is_none());
    assert_eq!(
        gw.get_as(directory, &format!("{H}/workers?limit=2&offset=2"))
            .status,
        200
    );

    // `check` says which children a parent's grant cannot reach.
    let out = gw.ok(&["check"]);
    assert!(
        out.contains("warning: endpoint \"workers.item\" is granted to account:directory but its child \"workers.nationalIdentifiers\" is not"),
        "{out}"
    );
}
