//! The private PostgreSQL cluster the multi-node store tests run on (`support::postgres`):
//! started from the distribution's binaries on a loopback port (as `nobody` when the tests
//! run as root, since PostgreSQL refuses root), password-authenticated, stoppable mid-test
//! and restartable on the same port, gone when dropped.

mod support;

use std::net::TcpStream;

use support::postgres::Postgres;

#[test]
fn a_private_cluster_starts_authenticates_stops_and_restarts() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    let version = pg
        .psql("postgres", "show server_version_num")
        .expect("query");
    assert!(
        version.parse::<u32>().is_ok_and(|v| v >= 130000),
        "PostgreSQL 13 or later: {version}"
    );
    // A role for a gateway, as an operator would create it.
    pg.psql("postgres", "create role gw login password 'gw-secret'")
        .expect("create role");
    pg.psql("postgres", "create database erpgate owner gw")
        .expect("create db");
    assert_eq!(
        pg.psql_as("gw", "gw-secret", "erpgate", "select current_user")
            .expect("login"),
        "gw"
    );
    let wrong = pg.psql_as("gw", "not-it", "erpgate", "select 1");
    assert!(
        wrong
            .as_ref()
            .is_err_and(|e| e.contains("password authentication failed")),
        "{wrong:?}"
    );

    // Stopped mid-test: refused; started again on the same port: back, data intact.
    pg.psql_as(
        "gw",
        "gw-secret",
        "erpgate",
        "create table t (x int); insert into t values (7)",
    )
    .expect("write");
    pg.stop().expect("stop");
    assert!(TcpStream::connect(("127.0.0.1", pg.port)).is_err());
    assert!(pg
        .psql_as("gw", "gw-secret", "erpgate", "select 1")
        .is_err());
    pg.restart().expect("restart");
    assert_eq!(
        pg.psql_as("gw", "gw-secret", "erpgate", "select x from t")
            .expect("read"),
        "7"
    );

    let port = pg.port;
    drop(pg);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the cluster is gone when dropped"
    );
}
