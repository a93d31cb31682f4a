//! The one path every operation takes, offline (the CLI's): the change, then its record with
//! the actor and the hint; a refused change leaves no record; no secret reaches a record.

use serde_json::Value;

use super::*;
use crate::crypto::{PasswordHasher, PasswordParams};

fn store() -> Store {
    let mut s = Store::open_in_memory().expect("store");
    s.migrate().expect("migrate");
    s
}

fn records(store: &Store) -> Vec<Value> {
    crate::audit::query::select(store.conn(), &Default::default(), 1000)
        .expect("select")
        .iter()
        .map(|r| serde_json::from_str(r).expect("json"))
        .collect()
}

fn cli_actor() -> Actor {
    Actor {
        name: "cli:ops".into(),
        hint: Some("eve".into()),
    }
}

#[test]
fn an_operation_is_recorded_with_its_actor_and_hint_and_a_refused_one_is_not() {
    let mut s = store();
    let (master, _) = MasterKey::generate().expect("key");
    s.create_account("acct", "acme", None, None)
        .expect("account");
    let mut op = Operator::offline(&mut s, &master, cli_actor());
    let mut seen = None;
    let a = account::set_active(&mut op, "acct", false, |a| seen = Some(a.name.clone()))
        .expect("suspend");
    assert_eq!(seen.as_deref(), Some("acct"), "shown before it returns");
    assert_eq!(a.status, crate::store::AccountStatus::Suspended);
    let refused = account::set_active(&mut op, "nobody", true, |_| panic!("not shown"));
    assert!(matches!(
        refused,
        Err(ServiceError::Store(StoreError::NotFound { .. }))
    ));
    let recs = records(&s);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let r = &recs[0];
    assert_eq!(
        (&r["actor"], &r["method"], &r["path"], &r["decision"]),
        (
            &Value::from("cli:ops"),
            &Value::from("account.suspend"),
            &Value::from("acct"),
            &Value::from("ok")
        )
    );
    assert_eq!(r["note"]["sudo_user_hint"], "eve", "{r}");
}

#[test]
fn an_issued_credential_is_recorded_without_its_secrets() {
    let mut s = store();
    let (master, _) = MasterKey::generate().expect("key");
    s.create_account("acct", "acme", None, None)
        .expect("account");
    let hasher = PasswordHasher::new(PasswordParams {
        m_kib: 4096,
        t: 1,
        p: 1,
    });
    let mut op = Operator::offline(&mut s, &master, Actor::named("cli:ops"));
    let issued = credential::issue(&mut op, &hasher, "acct", |_| {}).expect("issue");
    assert!(matches!(
        credential::issue(&mut op, &hasher, "ghost", |_| {}),
        Err(ServiceError::NoSuchAccount(a)) if a == "ghost"
    ));
    let recs = records(&s);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let text = recs[0].to_string();
    assert!(!text.contains(issued.password.expose()) && !text.contains(issued.api_key.expose()));
    assert_eq!(recs[0]["note"]["account"], "acct");
    assert_eq!(
        recs[0]["note"]["username"],
        Value::from(issued.username.as_str())
    );
    assert!(recs[0]["note"].get("sudo_user_hint").is_none());
}

#[test]
fn the_hint_joins_an_object_note_or_becomes_one() {
    let a = cli_actor();
    assert_eq!(
        a.annotate(None),
        Some(serde_json::json!({"sudo_user_hint": "eve"}))
    );
    assert_eq!(
        a.annotate(Some(serde_json::json!({"x": 1}))),
        Some(serde_json::json!({"x": 1, "sudo_user_hint": "eve"}))
    );
    assert_eq!(Actor::named("admin:x").annotate(None), None);
}
