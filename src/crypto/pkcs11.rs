//! Tenant signing keys held in a PKCS#11 token (an HSM, or SoftHSM2 for trying it): generated
//! or imported there as sensitive and non-extractable, used to sign (`CKM_SHA256_RSA_PKCS`)
//! and never read out. The database holds only a [`KeyRef`] (module, token label, key label)
//! and the certificate.
//!
//! A module is loaded (and `C_Initialize`d) once per process, and only from the path the
//! configuration names for the tenant: a reference in the database can never make the gateway
//! load another library. The PIN is a secret: it lives in a zeroising [`SecretString`] and is
//! never in an error, a log line or `Debug` output. Every failure is an [`HsmError`] whose text
//! names the module, token or key, never the PIN.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use super::SecretString;

/// Where a key lives: stored in the database instead of the key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    /// The PKCS#11 module (shared library) path.
    pub module: String,
    /// The token's label.
    pub token: String,
    /// The private key's `CKA_LABEL`.
    pub label: String,
}

impl KeyRef {
    /// The stored text form (JSON).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the stored text form.
    pub fn from_text(text: &str) -> Result<KeyRef, HsmError> {
        serde_json::from_str(text).map_err(|e| HsmError(format!("stored key reference: {e}")))
    }
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "key \"{}\" in token \"{}\" of {}",
            self.label, self.token, self.module
        )
    }
}

/// How a tenant reaches its token: the module the configuration names (the only library a
/// stored reference may load) and the user PIN (read from a file or the environment).
#[derive(Clone, Debug)]
pub struct TokenAccess {
    /// The module path.
    pub module: String,
    /// The user PIN (zeroised on drop, never printed).
    pub pin: SecretString,
}

impl TokenAccess {
    /// The PIN for reference `r`, if `r` names this module (else an error naming both: a
    /// database row must never choose the library the gateway loads).
    pub fn pin_for(&self, r: &KeyRef) -> Result<&SecretString, HsmError> {
        if r.module == self.module {
            Ok(&self.pin)
        } else {
            Err(HsmError(format!(
                "the stored key names module {}, the configuration {}: refused (a database row never chooses the library loaded)",
                r.module, self.module
            )))
        }
    }
}

/// A PKCS#11 failure (never carries the PIN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HsmError(pub String);

impl std::fmt::Display for HsmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HsmError {}

fn err(what: &str, r: &KeyRef, e: impl std::fmt::Display) -> HsmError {
    HsmError(format!("{what} ({r}): {e}"))
}

/// What the token says about a private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFacts {
    /// `CKA_EXTRACTABLE`.
    pub extractable: bool,
    /// `CKA_SENSITIVE`.
    pub sensitive: bool,
    /// The RSA modulus (big-endian).
    pub modulus: Vec<u8>,
    /// The RSA public exponent (big-endian).
    pub exponent: Vec<u8>,
}

/// The process's loaded modules, by path.
fn modules() -> &'static Mutex<HashMap<String, Pkcs11>> {
    static M: OnceLock<Mutex<HashMap<String, Pkcs11>>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The module at `r.module`, loaded and initialised once per process.
fn module(r: &KeyRef) -> Result<Pkcs11, HsmError> {
    let mut loaded = modules()
        .lock()
        .map_err(|_| HsmError("PKCS#11 module table poisoned".into()))?;
    if let Some(m) = loaded.get(&r.module) {
        return Ok(m.clone());
    }
    let m = Pkcs11::new(&r.module).map_err(|e| err("cannot load the PKCS#11 module", r, e))?;
    match m.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(e) => return Err(err("cannot initialise the PKCS#11 module", r, e)),
    }
    loaded.insert(r.module.clone(), m.clone());
    Ok(m)
}

/// A session on the token labelled `r.token`, logged in as the user.
fn session(r: &KeyRef, pin: &SecretString, rw: bool) -> Result<Session, HsmError> {
    let m = module(r)?;
    let slots = m
        .get_slots_with_token()
        .map_err(|e| err("cannot list the tokens", r, e))?;
    let slot = slots
        .into_iter()
        .find(|s| {
            m.get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == r.token)
        })
        .ok_or_else(|| HsmError(format!("no token labelled \"{}\" in {}", r.token, r.module)))?;
    let s = if rw {
        m.open_rw_session(slot)
    } else {
        m.open_ro_session(slot)
    }
    .map_err(|e| err("cannot open a session", r, e))?;
    let pin = AuthPin::new(pin.expose().clone().into());
    match s.login(UserType::User, Some(&pin)) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
            Ok(s)
        }
        Err(e) => Err(err("the token refused the login", r, e)),
    }
}

/// The one private key labelled `r.label` on the session's token.
fn private_key(s: &Session, r: &KeyRef) -> Result<ObjectHandle, HsmError> {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(r.label.as_bytes().to_vec()),
        ])
        .map_err(|e| err("cannot search the token", r, e))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(HsmError(format!(
            "no private key labelled \"{}\" in token \"{}\"",
            r.label, r.token
        ))),
        _ => Err(HsmError(format!(
            "several private keys labelled \"{}\" in token \"{}\"; labels must be unique",
            r.label, r.token
        ))),
    }
}

/// The attributes every key we put in a token carries: private, sensitive, never
/// extractable, for signing only.
fn private_template(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(label.as_bytes().to_vec()),
    ]
}

/// Generates an RSA-2048 key pair in the token, the private half non-extractable. Refuses a
/// label already in use. Returns the public modulus and exponent.
pub fn generate(r: &KeyRef, pin: &SecretString) -> Result<(Vec<u8>, Vec<u8>), HsmError> {
    let s = session(r, pin, true)?;
    if private_key(&s, r).is_ok() {
        return Err(HsmError(format!(
            "token \"{}\" already holds a key labelled \"{}\"; choose another --key-label",
            r.token, r.label
        )));
    }
    let public = [
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::ModulusBits(2048.into()),
        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
        Attribute::Label(r.label.as_bytes().to_vec()),
        Attribute::Id(r.label.as_bytes().to_vec()),
    ];
    let (public, _private) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &public,
            &private_template(&r.label),
        )
        .map_err(|e| err("cannot generate the key pair", r, e))?;
    let attrs = s
        .get_attributes(
            public,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .map_err(|e| err("cannot read the public key", r, e))?;
    let (mut n, mut e) = (Vec::new(), Vec::new());
    for a in attrs {
        match a {
            Attribute::Modulus(v) => n = v,
            Attribute::PublicExponent(v) => e = v,
            _ => {}
        }
    }
    Ok((n, e))
}

/// Imports an RSA private key (its components, from PKCS#8 or PKCS#1 DER) into the token as
/// sensitive and non-extractable. Refuses a label already in use.
pub fn import(r: &KeyRef, pin: &SecretString, der: &[u8]) -> Result<(), HsmError> {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
    use zeroize::Zeroizing;
    let key = rsa::RsaPrivateKey::from_pkcs8_der(der)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_der(der))
        .map_err(|_| HsmError("not an RSA private key (PKCS#8 or PKCS#1)".into()))?;
    let primes = key.primes();
    let (Some(p), Some(q), Some(dp), Some(dq), Some(qinv)) = (
        primes.first(),
        primes.get(1),
        key.dp(),
        key.dq(),
        key.crt_coefficient(),
    ) else {
        return Err(HsmError("the RSA key lacks its CRT components".into()));
    };
    let part = |v: &rsa::BigUint| Zeroizing::new(v.to_bytes_be());
    let (d, p, q, dp, dq, qinv) = (
        part(key.d()),
        part(p),
        part(q),
        part(dp),
        part(dq),
        part(&qinv),
    );
    let s = session(r, pin, true)?;
    if private_key(&s, r).is_ok() {
        return Err(HsmError(format!(
            "token \"{}\" already holds a key labelled \"{}\"; choose another --key-label",
            r.token, r.label
        )));
    }
    let mut template = private_template(&r.label);
    template.extend([
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(key.n().to_bytes_be()),
        Attribute::PublicExponent(key.e().to_bytes_be()),
        Attribute::PrivateExponent(d.to_vec()),
        Attribute::Prime1(p.to_vec()),
        Attribute::Prime2(q.to_vec()),
        Attribute::Exponent1(dp.to_vec()),
        Attribute::Exponent2(dq.to_vec()),
        Attribute::Coefficient(qinv.to_vec()),
    ]);
    let created = s.create_object(&template);
    // The template's copies of the private parts are wiped before anything else happens.
    for a in &mut template {
        if let Attribute::PrivateExponent(v)
        | Attribute::Prime1(v)
        | Attribute::Prime2(v)
        | Attribute::Exponent1(v)
        | Attribute::Exponent2(v)
        | Attribute::Coefficient(v) = a
        {
            zeroize::Zeroize::zeroize(v);
        }
    }
    created.map_err(|e| err("cannot import the key", r, e))?;
    Ok(())
}

/// Signs `message` with the key (`CKM_SHA256_RSA_PKCS`: RS256).
pub fn sign(r: &KeyRef, pin: &SecretString, message: &[u8]) -> Result<Vec<u8>, HsmError> {
    let s = session(r, pin, false)?;
    let key = private_key(&s, r)?;
    s.sign(&Mechanism::Sha256RsaPkcs, key, message)
        .map_err(|e| err("the token did not sign", r, e))
}

/// What the token says about the key (its flags and public half).
pub fn describe(r: &KeyRef, pin: &SecretString) -> Result<KeyFacts, HsmError> {
    let s = session(r, pin, false)?;
    let key = private_key(&s, r)?;
    let attrs = s
        .get_attributes(
            key,
            &[
                AttributeType::Extractable,
                AttributeType::Sensitive,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(|e| err("cannot read the key's attributes", r, e))?;
    let mut f = KeyFacts {
        extractable: true,
        sensitive: false,
        modulus: Vec::new(),
        exponent: Vec::new(),
    };
    for a in attrs {
        match a {
            Attribute::Extractable(v) => f.extractable = v,
            Attribute::Sensitive(v) => f.sensitive = v,
            Attribute::Modulus(v) => f.modulus = v,
            Attribute::PublicExponent(v) => f.exponent = v,
            _ => {}
        }
    }
    Ok(f)
}

/// The PKCS#1 `RSAPublicKey` DER of modulus `n` and exponent `e` (what a certificate holds).
pub fn rsa_public_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, HsmError> {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(n),
        rsa::BigUint::from_bytes_be(e),
    )
    .map_err(|e| HsmError(format!("the token's public key is not usable: {e}")))?;
    key.to_pkcs1_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| HsmError(format!("cannot encode the public key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_never_need_a_pin() {
        let r = KeyRef {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token: "erpgate".into(),
            label: "acme-2026".into(),
        };
        assert_eq!(KeyRef::from_text(&r.to_text()), Ok(r.clone()));
        assert!(KeyRef::from_text("{\"module\":\"m\"}").is_err());
        assert!(r.to_string().contains("acme-2026"));
    }

    #[test]
    fn a_module_that_is_not_there_is_a_clear_error() {
        let r = KeyRef {
            module: "/nonexistent/libpkcs11.so".into(),
            token: "t".into(),
            label: "k".into(),
        };
        let pin = SecretString::new("1234".into());
        let e = sign(&r, &pin, b"x").expect_err("no module");
        assert!(e.0.contains("cannot load the PKCS#11 module"), "{e}");
        assert!(!e.0.contains("1234"));
    }
}
