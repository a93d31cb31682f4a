//! erpgate: a security gateway for Oracle ERP Cloud REST APIs, on Pingora.
//!
//! A request reads like a sentence — *canonical path → who is calling → may they → is it
//! open → relay with our credential → redact → record* — and each word is a module:
//! [`path`], [`auth`], [`policy`], [`upstream`], [`redact`]. [`gateway`] is the Pingora
//! service that calls them in order; [`app`] holds the shared state; [`snapshot`] and
//! [`config`] turn files into an immutable, atomically swapped configuration; [`directory`]
//! mirrors the [`store`] for the request path; [`crypto`] holds every key and secret type.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod allocator;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod directory;
pub mod explain;
pub mod gateway;
pub mod html;
pub mod ids;
pub mod json_text;
pub mod jwt;
pub mod listen;
pub mod metrics;
pub mod net;
pub mod oracle;
pub mod path;
pub mod policy;
pub mod portal;
pub mod redact;
pub mod refusal;
pub mod service;
pub mod session;
pub mod sim;
pub mod snapshot;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tls;
pub mod upstream;
