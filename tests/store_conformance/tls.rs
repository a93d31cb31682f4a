//! TLS to PostgreSQL: `sslmode=require` is verified TLS (the chain to the configured CA and
//! the host name, libpq's `verify-full`), and the session really is encrypted.

use erpgate::store::{Database, Store};

use crate::support::pki::Ca;
use crate::support::postgres::Postgres;

#[test]
fn the_store_speaks_verified_tls_to_postgres() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path(), "pg");
    pg.enable_tls(&ca, &["127.0.0.1"]).expect("tls");
    pg.psql("postgres", "create role gw login password 'gw-tls-secret'")
        .expect("role");
    pg.psql("postgres", "create database tlsdb owner gw")
        .expect("database");
    std::fs::write(dir.path().join("pg.pass"), "gw-tls-secret\n").expect("password");
    let other = tempfile::tempdir().expect("dir");
    let stranger = Ca::new(other.path(), "stranger");
    let target = |host: &str, ca: &std::path::Path| {
        Database::parse(
            &format!("postgres://gw@{host}:{}/tlsdb?sslmode=require", pg.port),
            dir.path(),
            Some("pg.pass"),
            Some(ca.to_str().expect("path")),
        )
        .expect("target")
    };

    let mut s = Store::connect(&target("127.0.0.1", &ca.file)).expect("TLS connection");
    s.migrate().expect("migrate over TLS");
    let row = s
        .conn()
        .query_one(
            "SELECT ssl::text, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl");
    assert_eq!(
        row.text(0).expect("ssl"),
        "true",
        "the session is encrypted"
    );
    assert!(row.text(1).expect("version").starts_with("TLSv1."));

    // A server whose certificate another CA signed, or that is not the name connected to, is
    // refused before a password is sent.
    let e = Store::connect(&target("127.0.0.1", &stranger.file))
        .err()
        .expect("an unknown CA is refused");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    let e = Store::connect(&target("localhost", &ca.file))
        .err()
        .expect("a name the certificate does not carry is refused");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    assert!(!e.to_string().contains("gw-tls-secret"));
    assert!(
        !pg.log().contains("password authentication failed"),
        "no password reached the server over an unverified connection"
    );
}
