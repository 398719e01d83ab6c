//! Secure params: a param whose definition (`params/<name>`) has `Secure: true` is sealed
//! with the cluster's key (XChaCha20-Poly1305, random nonce) by the member that receives the
//! write, before it is proposed. The Raft log, snapshots, the store, replies and change
//! events only ever hold the sealed form `{"Key","Nonce","Payload"}` (DRP's SecureData
//! shape). `?decode=true` opens it for a caller with a `getSecure` claim on the object.
//!
//! DRP's clients seal a secure value themselves: `GET /<collection>/<key>/pubkey` gives the
//! object's X25519 public key, and the client sends `crypto_box(value)` from a fresh key pair
//! as `{"Key": its public key, "Nonce", "Payload"}` (base64). The member receiving it opens it
//! with the object's secret key (a value that does not open is refused, 422) and seals it
//! with the cluster's key like any other, so the store holds one form only. Each object's
//! key pair is derived from the cluster's key and the object's collection and key: every
//! member gives the same public key without storing one per object.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::{json, Map, Value};
use sha2::Digest;

use crate::auth::roles::{self, Need};
use crate::command::{Op, Request};
use crate::node::Node;

mod error;
pub use error::SecureError;

const KEY_COLLECTION: &str = "_system";
const KEY_NAME: &str = "secure-params-key";
/// Names the key a value was sealed with (room for rotation).
const KEY_ID: &str = "cluster-1";

pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// The cluster's key, from which each object's box key pair is derived.
    key: [u8; 32],
}

/// The object a secure value belongs to: its box key pair is this object's.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub collection: &'a str,
    pub key: &'a str,
}

fn stored_key(node: &Node) -> Result<Option<Vec<u8>>, SecureError> {
    let Some(record) = node.store.get(KEY_COLLECTION, KEY_NAME)? else {
        return Ok(None);
    };
    let key = record
        .get("Key")
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .filter(|k| k.len() == 32)
        .ok_or_else(|| SecureError::Internal("the secure-params key record is corrupt".into()))?;
    Ok(Some(key))
}

impl Sealer {
    /// The cluster's sealer; the first member to need one creates the key (a `Seed`, so two
    /// members racing agree on whichever committed first).
    pub async fn get(node: &Node) -> Result<Sealer, SecureError> {
        if let Some(key) = stored_key(node)? {
            return Self::from_key(&key);
        }
        let fresh: [u8; 32] = rand::Rng::random(&mut rand::rng());
        node.write(Request {
            idempotency: None,
            at_ms: crate::clock::now_ms(),
            if_match: None,
            principal: None,
            op: Op::Seed {
                objects: vec![(
                    KEY_COLLECTION.into(),
                    KEY_NAME.into(),
                    json!({ "Key": hex::encode(fresh) }),
                )],
            },
        })
        .await?;
        node.read_barrier().await?;
        let key = stored_key(node)?.ok_or(SecureError::KeyNotCommitted)?;
        Self::from_key(&key)
    }

    fn from_key(key: &[u8]) -> Result<Sealer, SecureError> {
        let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| {
            SecureError::Internal("the secure-params key has the wrong length".into())
        })?;
        let key = <[u8; 32]>::try_from(key).map_err(|_| {
            SecureError::Internal("the secure-params key has the wrong length".into())
        })?;
        Ok(Sealer { cipher, key })
    }

    /// The object's box secret key: sha256 over a label, the cluster key and the object's name.
    fn box_secret(&self, target: Target) -> crypto_box::SecretKey {
        let mut h = sha2::Sha256::new();
        h.update(b"drp-object-box-key\0");
        h.update(self.key);
        h.update(target.collection.as_bytes());
        h.update(b"\0");
        h.update(target.key.as_bytes());
        crypto_box::SecretKey::from(<[u8; 32]>::from(h.finalize()))
    }

    /// The object's public key, as DRP's `/pubkey` route gives it (base64).
    pub fn public_key(&self, target: Target) -> String {
        B64.encode(self.box_secret(target).public_key().as_bytes())
    }

    /// Opens a value a client sealed to `target`'s public key. `None` when it does not open.
    fn open_client_box(&self, target: Target, sealed: &Value) -> Option<Value> {
        use crypto_box::aead::Aead as _;
        let field = |name: &str| sealed.get(name).and_then(Value::as_str);
        let theirs = <[u8; 32]>::try_from(B64.decode(field("Key")?).ok()?).ok()?;
        let nonce = B64.decode(field("Nonce")?).ok().filter(|n| n.len() == 24)?;
        let payload = B64.decode(field("Payload")?).ok()?;
        let salsa = crypto_box::SalsaBox::new(
            &crypto_box::PublicKey::from(theirs),
            &self.box_secret(target),
        );
        let plain = salsa
            .decrypt(
                crypto_box::aead::generic_array::GenericArray::from_slice(&nonce),
                payload.as_slice(),
            )
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }

    pub fn seal(&self, value: &Value) -> Result<Value, SecureError> {
        let nonce: [u8; 24] = rand::Rng::random(&mut rand::rng());
        let plain = serde_json::to_vec(value).map_err(|e| SecureError::Internal(e.to_string()))?;
        let payload = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
            .map_err(|_| SecureError::Internal("sealing a secure param failed".into()))?;
        Ok(json!({ "Key": KEY_ID, "Nonce": B64.encode(nonce), "Payload": B64.encode(payload) }))
    }

    pub fn open(&self, sealed: &Value) -> Option<Value> {
        let field = |name: &str| sealed.get(name).and_then(Value::as_str);
        if field("Key")? != KEY_ID {
            return None;
        }
        let nonce = B64.decode(field("Nonce")?).ok().filter(|n| n.len() == 24)?;
        let payload = B64.decode(field("Payload")?).ok()?;
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(&nonce), payload.as_slice())
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// A value already in the sealed form (sealed values are passed through, never re-sealed).
pub fn is_sealed(value: &Value) -> bool {
    value.as_object().is_some_and(|m| {
        m.len() == 3
            && ["Key", "Nonce", "Payload"]
                .iter()
                .all(|f| m.get(*f).is_some_and(Value::is_string))
    })
}

/// Whether `params/<name>` declares the param secure.
pub fn is_secure(node: &Node, name: &str) -> Result<bool, SecureError> {
    /// Only the field asked about: every param a write sets is looked up here.
    #[derive(serde::Deserialize)]
    struct ParamSecure {
        #[serde(rename = "Secure")]
        secure: Option<Value>,
    }
    let param: Option<ParamSecure> = node.store.get_as("params", name)?;
    Ok(param
        .and_then(|p| p.secure)
        .and_then(|s| s.as_bool())
        .unwrap_or(false))
}

/// A value a client sealed with `crypto_box` (its `Key` is a public key, not ours).
fn is_client_box(value: &Value) -> bool {
    is_sealed(value) && value.get("Key").and_then(Value::as_str) != Some(KEY_ID)
}

/// What is stored for param `name` of `target`: a client's box opened (422 when it does not
/// open with the object's key) and sealed with the cluster's key; a plain value sealed when
/// the param is secure; anything else as sent.
async fn sealed_value(
    node: &Node,
    sealer: &mut Option<Sealer>,
    target: Target<'_>,
    name: &str,
    value: Value,
) -> Result<Value, SecureError> {
    let client_box = is_client_box(&value);
    if !client_box && (is_sealed(&value) || !is_secure(node, name)?) {
        return Ok(value);
    }
    if sealer.is_none() {
        *sealer = Some(Sealer::get(node).await?);
    }
    let Some(s) = sealer.as_ref() else {
        return Err(SecureError::Internal("no secure-params key".into()));
    };
    if !client_box {
        return s.seal(&value);
    }
    match s.open_client_box(target, &value) {
        Some(plain) => s.seal(&plain),
        None => Err(SecureError::ClientBox {
            name: name.to_string(),
            collection: target.collection.to_string(),
            key: target.key.to_string(),
        }),
    }
}

/// Seals `value` when `name` is a secure param, or opens and reseals a client's box.
pub async fn seal_param(
    node: &Node,
    target: Target<'_>,
    name: &str,
    value: Value,
) -> Result<Value, SecureError> {
    sealed_value(node, &mut None, target, name, value).await
}

/// Seals the secure entries of a `Params` map in place.
pub async fn seal_params(
    node: &Node,
    target: Target<'_>,
    params: &mut Map<String, Value>,
) -> Result<(), SecureError> {
    let mut sealer = None;
    for (name, value) in params.iter_mut() {
        *value = sealed_value(node, &mut sealer, target, name, value.take()).await?;
    }
    Ok(())
}

/// Seals the secure params of an object's `Params` field.
pub async fn seal_object(
    node: &Node,
    target: Target<'_>,
    object: &mut Value,
) -> Result<(), SecureError> {
    match object.get_mut("Params").and_then(Value::as_object_mut) {
        Some(params) => seal_params(node, target, params).await,
        None => Ok(()),
    }
}

/// `GET /<collection>/<key>/pubkey`: the object's public key for sealing a secure value.
pub async fn public_key(node: &Node, target: Target<'_>) -> Result<String, SecureError> {
    Ok(Sealer::get(node).await?.public_key(target))
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Seals the values a JSON Patch puts into `Params` (`/Params/<name>` or all of `/Params`).
pub async fn seal_patch(
    node: &Node,
    target: Target<'_>,
    patch: &mut Value,
) -> Result<(), SecureError> {
    for op in patch.as_array_mut().into_iter().flatten() {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "add" | "replace") {
            continue;
        }
        let path = op.get("path").and_then(Value::as_str).unwrap_or_default();
        if let Some((first, _)) = path
            .strip_prefix("/Params/")
            .and_then(|t| t.split_once('/'))
        {
            let name = unescape(first);
            if is_secure(node, &name)? {
                return Err(SecureError::InsideSealed {
                    name,
                    path: path.to_string(),
                });
            }
        }
        // `/Params/<name>` only: a deeper path edits inside a value, not the whole value.
        let param = path
            .strip_prefix("/Params/")
            .filter(|token| !token.contains('/'))
            .map(unescape);
        let whole = path == "/Params";
        let Some(value) = op.get_mut("value") else {
            continue;
        };
        match param {
            Some(name) => {
                *value = seal_param(node, target, &name, value.take()).await?;
            }
            _ if whole => {
                if let Some(params) = value.as_object_mut() {
                    seal_params(node, target, params).await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `?decode=true`: opens the sealed params of `scope/key` in `params` for a caller with
/// `getSecure` on it; 403 otherwise.
pub async fn decode_params(
    node: &Node,
    scope: &str,
    key: &str,
    params: &mut Value,
) -> Result<(), SecureError> {
    let Some(map) = params.as_object_mut() else {
        return Ok(());
    };
    if !map.values().any(is_sealed) {
        return Ok(());
    }
    let need = Need {
        scope: scope.to_string(),
        action: "getSecure",
        specific: key.to_string(),
    };
    let user = crate::auth::current_user().unwrap_or_default();
    if !roles::allowed(&node.store, &user, &need) {
        return Err(SecureError::Forbidden {
            user,
            need: need.to_string(),
            scope: scope.to_string(),
            key: key.to_string(),
        });
    }
    let sealer = Sealer::get(node).await?;
    for value in map.values_mut().filter(|v| is_sealed(v)) {
        match sealer.open(value) {
            Some(plain) => *value = plain,
            None => {
                return Err(SecureError::Internal(
                    "a sealed param does not open with the cluster's key".into(),
                ))
            }
        }
    }
    Ok(())
}

/// Whether the query string asks for `decode=true` (any case: Python clients send `True`).
pub fn wants_decode(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "decode" && crate::flag::is_set(Some(&v)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let s = Sealer::from_key(&[7u8; 32]).expect("key");
        let v = json!({"user": "ipmi", "password": "hunter2"});
        let sealed = s.seal(&v).expect("seal");
        assert!(is_sealed(&sealed));
        assert!(!sealed.to_string().contains("hunter2"));
        assert_eq!(s.open(&sealed), Some(v.clone()));
        assert_ne!(
            s.seal(&v).expect("seal"),
            sealed,
            "a fresh nonce every time"
        );
        let other = Sealer::from_key(&[8u8; 32]).expect("key");
        assert_eq!(other.open(&sealed), None, "another key does not open it");
        let machine = Target {
            collection: "machines",
            key: "m1",
        };
        let theirs = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        let ours = B64.decode(s.public_key(machine)).expect("base64");
        let ours = crypto_box::PublicKey::from(<[u8; 32]>::try_from(ours).expect("32 bytes"));
        let nonce = [3u8; 24];
        let payload = {
            use crypto_box::aead::Aead as _;
            crypto_box::SalsaBox::new(&ours, &theirs)
                .encrypt((&nonce).into(), br#""hunter2""#.as_slice())
                .expect("encrypt")
        };
        let boxed = json!({"Key": B64.encode(theirs.public_key().as_bytes()),
                           "Nonce": B64.encode(nonce), "Payload": B64.encode(payload)});
        assert_eq!(s.open_client_box(machine, &boxed), Some(json!("hunter2")));
        let other = Target {
            collection: "machines",
            key: "m2",
        };
        assert_eq!(
            s.open_client_box(other, &boxed),
            None,
            "sealed to another object"
        );
        let mut tampered = sealed.clone();
        tampered["Payload"] = json!(B64.encode(b"not the payload at all"));
        assert_eq!(s.open(&tampered), None);
    }
}
