//! Temporary stub; replaced by the real simulator.
#![allow(missing_docs)]
use std::net::SocketAddr;
pub struct SimConfig {
    pub basic_users: Vec<(String, String)>,
    pub api_keys: Vec<String>,
    pub api_key_header: String,
    pub invoices: usize,
    pub suppliers: usize,
}
impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            basic_users: vec![],
            api_keys: vec![],
            api_key_header: "x-api-key".into(),
            invoices: 25,
            suppliers: 10,
        }
    }
}
pub struct SimHandle {
    pub addr: SocketAddr,
}
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    pub authenticated_as: Option<String>,
}
impl SimHandle {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> Vec<RecordedRequest> {
        vec![]
    }
    pub fn request_count(&self) -> usize {
        0
    }
}
pub fn start_blocking(_c: SimConfig) -> std::io::Result<SimHandle> {
    Err(std::io::Error::other("stub"))
}
