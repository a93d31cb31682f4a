//! Key material for the load script's JWT variants: writes into DIR a Fusion signing
//! certificate (`fusion.pem`, trusted by the gateway for inbound user tokens) and a tenant key
//! pair (`tenant-key.pem`, `tenant-cert.pem`, imported into the gateway and registered with the
//! simulated Oracle), and prints an Oracle user token for USER valid for two hours.
//!
//!   mint_jwt DIR USER ISSUER

use erpgate::jwt::{b64, cert, SigningKey};

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, user, issuer] = args.as_slice() else {
        return Err("usage: mint_jwt DIR USER ISSUER".into());
    };
    let dir = std::path::Path::new(dir);
    let (fk, fc) = cert::generate("fusion-load", 2)?;
    let (tk, tc) = cert::generate("erpgate-load", 2)?;
    std::fs::write(dir.join("fusion.pem"), fc.to_pem()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("tenant-key.pem"), pem("PRIVATE KEY", &tk))
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("tenant-cert.pem"), tc.to_pem()).map_err(|e| e.to_string())?;
    let fusion = SigningKey::from_der(&fk, fc.clone())?;
    let now = chrono::Utc::now().timestamp();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": fc.x5t()});
    let claims = serde_json::json!({"iss": issuer, "prn": user, "sub": user, "iat": now, "exp": now + 7200, "aud": "erpgate-load"});
    let mut token = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(claims.to_string().as_bytes())
    );
    let sig = fusion.sign_rs256(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(&sig));
    println!("{token}");
    Ok(())
}
