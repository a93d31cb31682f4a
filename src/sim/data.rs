//! Deterministic seed data shaped like Oracle Fusion resources.

use serde_json::{json, Value};

/// One resource: its name, key field and items.
pub struct Resource {
    /// Resource name as in the URL (`invoices`).
    pub name: &'static str,
    /// The field whose value is the item id in the URL.
    pub key: &'static str,
    /// The items.
    pub items: Vec<Value>,
}

/// Invoices with InvoiceId 300100, 300101, …
pub fn invoices(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "InvoiceId": 300100 + i as i64,
                "InvoiceNumber": format!("INV-{:04}", i + 1),
                "InvoiceAmount": 1000.0 + (i as f64) * 12.5,
                "InvoiceCurrency": "USD",
                "InvoiceDate": format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
                "Supplier": format!("Supplier {}", 1001 + (i % 10)),
                "SupplierNumber": format!("{}", 1001 + (i % 10)),
                "BusinessUnit": "US1 Business Unit",
                "Description": format!("Office supplies batch {}", i + 1),
            })
        })
        .collect()
}

/// Invoice lines of one invoice.
pub fn invoice_lines(invoice_id: i64) -> Vec<Value> {
    (1..=3)
        .map(|n| json!({"LineNumber": n, "InvoiceId": invoice_id, "LineAmount": 100.0 * n as f64, "Description": format!("Line {n}")}))
        .collect()
}

/// Suppliers with SupplierId 1001, 1002, …; `twin` deals the `TaxRegistrationNumber`s out in
/// reverse order (the same set of values, held by other suppliers).
pub fn suppliers(n: usize, twin: bool) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let t = if twin { n - 1 - i } else { i };
            json!({
                "SupplierId": 1001 + i as i64,
                "Supplier": format!("Supplier {}", 1001 + i),
                "SupplierNumber": format!("{}", 1001 + i),
                "TaxpayerId": format!("TX-{:09}", 100_000_000 + i * 7919),
                "TaxRegistrationNumber": format!("GB{:09}", 200_000_000 + t * 104_729),
                "Status": "ACTIVE",
            })
        })
        .collect()
}

/// Supplier sites.
pub fn sites(supplier_id: i64) -> Vec<Value> {
    vec![
        json!({"SupplierSiteId": supplier_id * 10 + 1, "SupplierSite": "HQ", "ProcurementBU": "US1 Business Unit"}),
    ]
}

/// External bank accounts.
pub fn bank_accounts(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "BankAccountId": 5001 + i as i64,
                "BankAccountNumber": format!("{:012}", 400_000_000_000u64 + (i as u64) * 7_777_777),
                "IBAN": format!("GB{:02}NWBK{:014}", 10 + i, 60_161_331_926_819u64 + i as u64),
                "BankName": "National Bank",
                "CurrencyCode": "USD",
            })
        })
        .collect()
}

/// Workers (their national identifiers are the child collection [`national_identifiers`]).
pub fn workers(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "PersonId": 90001 + i as i64,
                "PersonNumber": format!("{}", 9001 + i),
                "DisplayName": format!("Worker {}", i + 1),
                "DateOfBirth": format!("19{:02}-0{}-1{}", 60 + i % 40, 1 + i % 9, i % 10),
            })
        })
        .collect()
}

/// The `nationalIdentifiers` child of the worker `person_id` (90001 + i): one SSN each.
pub fn national_identifiers(person_id: i64) -> Vec<Value> {
    let i = person_id - 90001;
    vec![json!({
        "NationalIdentifierId": 80001 + i,
        "NationalIdentifierType": "SSN",
        "NationalIdentifierNumber": format!("{:03}-{:02}-{:04}", 100 + i, 10 + i.rem_euclid(90), 1000 + i),
    })]
}

/// `n` seeded salary records (a resource whose amounts tests mask).
pub fn salaries(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"SalaryId": 7001 + i as i64, "PersonId": 90001 + i as i64, "SalaryAmount": 50_000 + i * 1_250, "CurrencyCode": "USD"}))
        .collect()
}
