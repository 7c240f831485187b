//! JSON Web Tokens as Microfleet's access tokens: compact JWS (RFC 7515/7519) signed with Ed25519
//! (`alg: EdDSA`, RFC 8037), the key named by `kid` in the header; the claims (iss, sub, aud, exp, iat, nbf,
//! jti, roles, scopes); the public keys as a JSON Web Key Set; and the checks a verifier makes — algorithm (only
//! EdDSA: `none`, `HS256` and every other value are refused before any key is looked at), known key,
//! signature, issuer, audience, validity times. It does no I/O and keeps no keys: the auth service signs,
//! every service verifies (`auth_client`). It never logs a token.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::signing_key::key_id;

/// The longest token accepted; a longer one is refused before decoding.
pub const MAX_TOKEN_LENGTH: usize = 8192;

/// The only algorithm accepted.
pub const ALGORITHM: &str = "EdDSA";

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer (the auth service's configured name).
    pub iss: String,
    /// The subject: the user's id.
    pub sub: String,
    /// The audience: the services it is meant for.
    pub aud: String,
    /// Expires at (Unix seconds, exclusive).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not valid before (Unix seconds).
    pub nbf: i64,
    /// The token's unique id.
    pub jti: String,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// What the user may do: the scopes of their roles (`crate::scopes`), the only thing services check.
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS with a JSON header and claims (or too long).
    #[error("not a well-formed token")]
    Malformed,
    /// The header names another algorithm than EdDSA (`none`, `HS256`, ...).
    #[error("the algorithm is not EdDSA")]
    Algorithm,
    /// Signed by a key that is not (or no longer) in the key set.
    #[error("signed by an unknown key")]
    UnknownKey,
    /// The signature does not match: forged or altered.
    #[error("bad signature")]
    BadSignature,
    /// Another issuer.
    #[error("issued by another issuer")]
    WrongIssuer,
    /// Meant for another audience.
    #[error("meant for another audience")]
    WrongAudience,
    /// Not valid yet (`nbf` in the future).
    #[error("not valid yet")]
    NotYetValid,
    /// Expired.
    #[error("expired")]
    Expired,
}

impl JwtError {
    /// A short label for metrics and audit rows (`expired`, `bad_signature`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JwtError::Malformed => "malformed",
            JwtError::Algorithm => "algorithm",
            JwtError::UnknownKey => "unknown_key",
            JwtError::BadSignature => "bad_signature",
            JwtError::WrongIssuer => "wrong_issuer",
            JwtError::WrongAudience => "wrong_audience",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::Expired => "expired",
        }
    }
}

/// A private key that signs tokens, with its key id.
pub struct TokenSigner {
    key: SigningKey,
    kid: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").field("kid", &self.kid).field("key", &"<redacted>").finish()
    }
}

impl TokenSigner {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> TokenSigner {
        let key = SigningKey::from_bytes(seed);
        let kid = key_id(&key.verifying_key());
        TokenSigner { key, kid }
    }

    /// The key id tokens name.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JSON Web Key.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            alg: ALGORITHM.into(),
            key_use: "sig".into(),
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
        }
    }

    /// Signs claims into a compact JWS.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header { alg: ALGORITHM.into(), typ: Some("JWT".into()), kid: Some(self.kid.clone()) };
        // serializing structs of strings and integers cannot fail
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{header}.{claims}");
        let signature = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// A public key (RFC 7517, OKP/Ed25519 per RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    #[serde(default)]
    pub crv: String,
    /// `EdDSA`.
    #[serde(default)]
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use", default)]
    pub key_use: String,
    /// The key id tokens name.
    #[serde(default)]
    pub kid: String,
    /// The public key, unpadded base64url.
    #[serde(default)]
    pub x: String,
}

/// A JSON Web Key Set, as served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// The public keys a verifier accepts, by key id.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl KeySet {
    /// The public keys of these signers.
    pub fn of_signers<'a>(signers: impl IntoIterator<Item = &'a TokenSigner>) -> KeySet {
        KeySet { keys: signers.into_iter().map(|signer| (signer.kid.clone(), signer.key.verifying_key())).collect() }
    }

    /// The Ed25519 keys of a JWKS; keys of other types or that do not decode are skipped.
    pub fn from_jwks(jwks: &Jwks) -> KeySet {
        let keys = jwks
            .keys
            .iter()
            .filter(|jwk| jwk.kty == "OKP" && jwk.crv == "Ed25519")
            .filter_map(|jwk| {
                let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(&jwk.x).ok()?.try_into().ok()?;
                Some((jwk.kid.clone(), VerifyingKey::from_bytes(&bytes).ok()?))
            })
            .collect();
        KeySet { keys }
    }

    /// Whether a key id is in the set.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }
}

/// What a verifier requires of a token besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The issuer.
    pub issuer: String,
    /// The audience.
    pub audience: String,
    /// Seconds of clock difference tolerated on `exp` and `nbf`.
    pub leeway_seconds: i64,
}

/// Verifies a token at `now` (Unix seconds) and returns its claims.
pub fn verify(token: &str, keys: &KeySet, expect: &Expectations, now: i64) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decoded = URL_SAFE_NO_PAD.decode(header).map_err(|_| JwtError::Malformed)?;
    let parsed: Header = serde_json::from_slice(&decoded).map_err(|_| JwtError::Malformed)?;
    if parsed.alg != ALGORITHM {
        return Err(JwtError::Algorithm);
    }
    let key = parsed.kid.as_deref().and_then(|kid| keys.keys.get(kid)).ok_or(JwtError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| JwtError::BadSignature)?;
    let signature = Signature::from_slice(&signature).map_err(|_| JwtError::BadSignature)?;
    let signed_len = header.len() + 1 + claims.len();
    key.verify_strict(&token.as_bytes()[..signed_len], &signature).map_err(|_| JwtError::BadSignature)?;
    let decoded = URL_SAFE_NO_PAD.decode(claims).map_err(|_| JwtError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&decoded).map_err(|_| JwtError::Malformed)?;
    if claims.iss != expect.issuer {
        return Err(JwtError::WrongIssuer);
    }
    if claims.aud != expect.audience {
        return Err(JwtError::WrongAudience);
    }
    if now + expect.leeway_seconds < claims.nbf {
        return Err(JwtError::NotYetValid);
    }
    if now - expect.leeway_seconds >= claims.exp {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000;

    fn expect() -> Expectations {
        Expectations { issuer: "microfleet-auth".into(), audience: "microfleet".into(), leeway_seconds: 5 }
    }

    fn claims() -> Claims {
        Claims {
            iss: "microfleet-auth".into(),
            sub: "42".into(),
            aud: "microfleet".into(),
            exp: NOW + 300,
            iat: NOW,
            nbf: NOW,
            jti: "j1".into(),
            roles: vec!["admin".into()],
            scopes: vec!["gate:scan".into()],
        }
    }

    fn encode(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// Replaces one of the three segments of a token.
    fn with_segment(token: &str, index: usize, segment: &str) -> String {
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[index] = segment;
        parts.join(".")
    }

    #[test]
    fn verify_refuses_every_kind_of_bad_token() {
        let key = TokenSigner::from_seed(&[1; 32]);
        let other = TokenSigner::from_seed(&[2; 32]);
        let keys = KeySet::of_signers([&key]);
        let token = key.sign(&claims());
        let kid = key.kid().to_string();
        let tampered_claims =
            encode(&serde_json::to_value(Claims { scopes: vec!["ticketing:admin".into()], ..claims() }).unwrap());
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let none_header = encode(&serde_json::json!({"alg": "none", "kid": kid}));
        let hs256_header = encode(&serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid}));
        let forged_with_our_kid = with_segment(&other.sign(&claims()), 0, token.split('.').next().unwrap());
        let cases: Vec<(&str, String, Result<Claims, JwtError>)> = vec![
            ("valid", token.clone(), Ok(claims())),
            ("expired", key.sign(&Claims { exp: NOW - 10, ..claims() }), Err(JwtError::Expired)),
            (
                "expired_within_leeway",
                key.sign(&Claims { exp: NOW - 2, ..claims() }),
                Ok(Claims { exp: NOW - 2, ..claims() }),
            ),
            ("not_yet_valid", key.sign(&Claims { nbf: NOW + 60, ..claims() }), Err(JwtError::NotYetValid)),
            ("wrong_audience", key.sign(&Claims { aud: "other".into(), ..claims() }), Err(JwtError::WrongAudience)),
            ("wrong_issuer", key.sign(&Claims { iss: "evil".into(), ..claims() }), Err(JwtError::WrongIssuer)),
            ("wrong_key", other.sign(&claims()), Err(JwtError::UnknownKey)),
            ("wrong_key_our_kid", forged_with_our_kid, Err(JwtError::BadSignature)),
            ("tampered_payload", with_segment(&token, 1, &tampered_claims), Err(JwtError::BadSignature)),
            ("tampered_signature", String::from_utf8(flipped).unwrap(), Err(JwtError::BadSignature)),
            (
                "alg_none_no_signature",
                with_segment(&with_segment(&token, 0, &none_header), 2, ""),
                Err(JwtError::Algorithm),
            ),
            ("alg_hs256", with_segment(&token, 0, &hs256_header), Err(JwtError::Algorithm)),
            ("two_segments", token.rsplit_once('.').unwrap().0.to_string(), Err(JwtError::Malformed)),
            ("four_segments", format!("{token}.x"), Err(JwtError::Malformed)),
            ("garbage", "hello".into(), Err(JwtError::Malformed)),
            ("too_long", format!("{token}{}", "A".repeat(MAX_TOKEN_LENGTH)), Err(JwtError::Malformed)),
        ];
        for (case, token, expected) in cases {
            assert_eq!(verify(&token, &keys, &expect(), NOW), expected, "{case}");
        }
    }

    #[test]
    fn during_a_rotation_old_and_new_keys_verify_and_after_it_only_the_new() {
        let old = TokenSigner::from_seed(&[1; 32]);
        let new = TokenSigner::from_seed(&[2; 32]);
        let old_token = old.sign(&claims());
        let new_token = new.sign(&claims());
        let overlap = KeySet::of_signers([&old, &new]);
        let after = KeySet::of_signers([&new]);
        let cases = [
            ("old_token_during_overlap", &old_token, &overlap, Ok(claims())),
            ("new_token_during_overlap", &new_token, &overlap, Ok(claims())),
            ("old_token_after_removal", &old_token, &after, Err(JwtError::UnknownKey)),
            ("new_token_after_removal", &new_token, &after, Ok(claims())),
        ];
        for (case, token, keys, expected) in cases {
            assert_eq!(verify(token, keys, &expect(), NOW), expected, "{case}");
        }
    }

    #[test]
    fn a_jwks_round_trip_gives_the_same_keys() {
        let keys = [TokenSigner::from_seed(&[1; 32]), TokenSigner::from_seed(&[2; 32])];
        let jwks = Jwks { keys: keys.iter().map(TokenSigner::jwk).collect() };
        let parsed: Jwks = serde_json::from_str(&serde_json::to_string(&jwks).unwrap()).unwrap();
        let set = KeySet::from_jwks(&parsed);
        for key in &keys {
            assert!(set.contains(key.kid()));
            assert_eq!(verify(&key.sign(&claims()), &set, &expect(), NOW), Ok(claims()));
        }
        assert!(!format!("{:?}", keys[0]).contains("[1"), "the private key is never shown");
    }
}
