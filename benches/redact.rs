//! Masker throughput on a realistic ~1 MB Fusion collection with 3 rules, fed in 16 KiB
//! chunks, against a plain copy of the same chunks; and with the `links[].href` origins
//! rewritten as well (the gateway does this whenever a tenant has a public origin).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use erpgate::redact::rules::LinkRewrite;
use erpgate::redact::{JsonMasker, MaskAction, MaskLimits, MaskRules, MaskStats, RuleSpec};

/// A Fusion supplier collection of about `bytes` bytes.
fn collection(bytes: usize) -> Vec<u8> {
    let mut items = Vec::new();
    let mut i = 0u64;
    let mut size = 0;
    while size < bytes {
        let item = serde_json::json!({
            "SupplierId": 1001 + i,
            "Supplier": format!("Supplier {} Industrial Holdings", 1001 + i),
            "SupplierNumber": format!("{}", 1001 + i),
            "TaxpayerId": format!("TX-{:09}", 100_000_000 + i * 7919),
            "BankAccountNumber": format!("{:012}", 400_000_000_000u64 + i * 7_777_777),
            "IBAN": format!("GB{:02}NWBK{:014}", 10 + i % 80, 60_161_331_926_819u64 + i),
            "Status": "ACTIVE",
            "CreationDate": "2024-03-01T10:15:00+00:00",
            "BusinessRelationship": "SPEND_AUTHORIZED",
            "links": [
                {"rel": "self", "href": format!("https://acme.fa.us2.oraclecloud.com:443/fscmRestApi/resources/11.13.18.05/suppliers/{}", 1001 + i), "name": "suppliers", "kind": "item"},
                {"rel": "child", "href": format!("https://acme.fa.us2.oraclecloud.com:443/fscmRestApi/resources/11.13.18.05/suppliers/{}/child/sites", 1001 + i), "name": "sites", "kind": "collection"}
            ]
        });
        size += item.to_string().len() + 1;
        items.push(item);
        i += 1;
    }
    serde_json::to_vec(
        &serde_json::json!({"items": items, "count": i, "hasMore": false, "limit": i, "offset": 0}),
    )
    .expect("json")
}

/// One response masked into `out`: a masker built, `doc` fed in chunks of `chunk` bytes,
/// finished.
fn mask(rules: &Arc<MaskRules>, doc: &[u8], chunk: usize, out: &mut Vec<u8>) -> MaskStats {
    out.clear();
    let mut m = JsonMasker::new(rules.clone(), MaskLimits::default());
    for part in doc.chunks(chunk) {
        m.feed(black_box(part), out).expect("feed");
    }
    m.finish(out).expect("finish")
}

fn benches(c: &mut Criterion) {
    let doc = collection(1_000_000);
    let rules = Arc::new(
        MaskRules::compile(
            &[
                RuleSpec {
                    path: "items[].BankAccountNumber".into(),
                    action: MaskAction::Mask,
                },
                RuleSpec {
                    path: "**.IBAN".into(),
                    action: MaskAction::Remove,
                },
                RuleSpec {
                    path: "items[].TaxpayerId".into(),
                    action: MaskAction::Last4,
                },
            ],
            "****",
        )
        .expect("rules"),
    );
    let mut g = c.benchmark_group("redact_1mb");
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("masker_3_rules_16k_chunks", |b| {
        let mut out = Vec::with_capacity(doc.len());
        b.iter(|| black_box(mask(&rules, &doc, 16 * 1024, &mut out)))
    });
    let with_links = Arc::new((*rules).clone().with_links(Some(LinkRewrite::new(
        vec![
            "https://acme.fa.us2.oraclecloud.com".into(),
            "https://acme.fa.us2.oraclecloud.com:443".into(),
        ],
        "https://erp-gw.example.com",
    ))));
    g.bench_function("masker_3_rules_links_16k_chunks", |b| {
        let mut out = Vec::with_capacity(doc.len());
        b.iter(|| {
            let stats = mask(&with_links, &doc, 16 * 1024, &mut out);
            assert!(stats.links_rewritten > 0);
            black_box(stats)
        })
    });
    g.bench_function("plain_copy_16k_chunks", |b| {
        let mut out = Vec::with_capacity(doc.len());
        b.iter(|| {
            out.clear();
            for chunk in doc.chunks(16 * 1024) {
                out.extend_from_slice(black_box(chunk));
            }
            black_box(out.len())
        })
    });
    g.finish();

    // The bound for redaction's cost: a 64 KiB answer, fed whole.
    let doc = collection(64 * 1024);
    let mut g = c.benchmark_group("redact_64k");
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("masker_3_rules_whole", |b| {
        let mut out = Vec::with_capacity(doc.len());
        b.iter(|| black_box(mask(&rules, &doc, doc.len(), &mut out)))
    });
    // Floors for any masker that validates what it passes: the same bytes only checked as JSON
    // by serde_json (nothing built, nothing written), and only searched for the rules' keys.
    g.bench_function("serde_json_validate_whole", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(
                &doc,
            )))
            .expect("valid")
        })
    });
    // The same bytes under a rule whose key they never name: searched end to end and checked
    // as JSON text, then passed unparsed (what the gateway does with such a body).
    let absent = Arc::new(
        MaskRules::compile(
            &[RuleSpec {
                path: "**.TaxRegistrationNumber".into(),
                action: MaskAction::Mask,
            }],
            "****",
        )
        .expect("rules"),
    );
    g.bench_function("searched_naming_no_rule_key", |b| {
        b.iter(|| assert!(absent.leaves_untouched(black_box(&doc))))
    });
    g.bench_function("plain_copy_whole", |b| {
        let mut out = Vec::with_capacity(doc.len());
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&doc));
            black_box(out.len())
        })
    });
    g.finish();
}

/// The simulator's answers that `benches/load/instructions.sh` and `run.sh` mask: an invoice
/// (731 bytes) and ten suppliers (6,440 bytes), as `erpgate sim` sends them, under the load
/// configuration's three rules and the rewrite of the simulator's origin in `links`. Each
/// iteration is one response: a masker built, fed the body whole, finished.
fn responses(c: &mut Criterion) {
    let rules = Arc::new(
        MaskRules::compile(
            &[
                RuleSpec {
                    path: "items[].TaxpayerId".into(),
                    action: MaskAction::Last4,
                },
                RuleSpec {
                    path: "**.TaxRegistrationNumber".into(),
                    action: MaskAction::Mask,
                },
                RuleSpec {
                    path: "**.BankAccountNumber".into(),
                    action: MaskAction::Remove,
                },
            ],
            "****",
        )
        .expect("rules")
        .with_links(Some(LinkRewrite::new(
            vec!["http://127.0.0.1:18991".into()],
            "https://erp-gw.example.com",
        ))),
    );
    let mut g = c.benchmark_group("redact_response");
    for (name, doc) in [
        ("invoice_item", &include_bytes!("data/sim_invoice.json")[..]),
        (
            "suppliers_10",
            &include_bytes!("data/sim_suppliers_10.json")[..],
        ),
    ] {
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_function(name, |b| {
            let mut out = Vec::with_capacity(doc.len());
            b.iter(|| {
                let stats = mask(&rules, doc, doc.len(), &mut out);
                assert!(stats.links_rewritten > 0);
                black_box(stats)
            })
        });
    }
    // The same invoice under the same rules without link rewriting (no public base URL, as in
    // the load configuration): it names none of the rules' keys, so the gateway searches it
    // and passes it unparsed (`redact::needles`) instead of masking it.
    let plain = Arc::new((*rules).clone().with_links(None));
    let doc = &include_bytes!("data/sim_invoice.json")[..];
    g.throughput(Throughput::Bytes(doc.len() as u64));
    g.bench_function("invoice_item_searched", |b| {
        b.iter(|| assert!(plain.leaves_untouched(black_box(doc))))
    });
    g.bench_function("invoice_item_masked_without_links", |b| {
        let mut out = Vec::with_capacity(doc.len());
        b.iter(|| black_box(mask(&plain, doc, doc.len(), &mut out)))
    });
    g.finish();

    // What the search costs to set up: the rules compiled, and compiled then searched once
    // (the first search builds the needles).
    let specs = [
        ("items[].TaxpayerId", MaskAction::Last4),
        ("**.TaxRegistrationNumber", MaskAction::Mask),
        ("**.BankAccountNumber", MaskAction::Remove),
    ]
    .map(|(path, action)| RuleSpec {
        path: path.into(),
        action,
    });
    let mut g = c.benchmark_group("redact_rules");
    g.bench_function("compile_3_rules", |b| {
        b.iter(|| black_box(MaskRules::compile(black_box(&specs), "****").expect("rules")))
    });
    g.bench_function("compile_3_rules_and_first_search", |b| {
        b.iter(|| {
            let rules = MaskRules::compile(black_box(&specs), "****").expect("rules");
            black_box(rules.leaves_untouched(doc))
        })
    });
    g.finish();
}

criterion_group! {
    name = redact;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(3)).sample_size(30);
    targets = benches, responses
}
criterion_main!(redact);
