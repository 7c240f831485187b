//! Signed QR codes: the claims a code carries (kind, subject, event, area, validity, key id), signing them
//! with the service's Ed25519 key and verifying a scanned code — with no database read, so a forged or
//! altered code is refused first and a gate device can do the same offline with the public key
//! (`GET /v1/keys`). The code is `MF1.<claims>.<signature>` (unpadded base64url); a code that verified is
//! remembered (`code_memo`), so scanning it again skips the signature check. It owns the key material and
//! must never log or print the private key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use jiff::Timestamp;
use microfleet_common::signing_key::{key_id, parse_seed};
use serde::{Deserialize, Serialize};

use super::code_memo::{self, CodeMemo};

/// The prefix of every code (the format's version).
pub const PREFIX: &str = "MF1";

/// The longest code accepted; a longer one is refused before decoding.
pub const MAX_CODE_LENGTH: usize = 1024;

/// Whose code it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A ticket's code: the subject is the ticket id.
    #[serde(rename = "t")]
    Ticket,
    /// A staff member's code: the subject is the staff id.
    #[serde(rename = "s")]
    Staff,
}

impl Kind {
    /// The name in answers and the database (`ticket`, `staff`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::Staff => "staff",
        }
    }
}

/// What a code says, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Ticket or staff.
    #[serde(rename = "k")]
    pub kind: Kind,
    /// The ticket id (a UUID) or the staff id.
    pub sub: String,
    /// The event.
    #[serde(rename = "ev")]
    pub event_id: i64,
    /// The area a ticket admits to (none for staff).
    #[serde(rename = "ar", default, skip_serializing_if = "Option::is_none")]
    pub area_id: Option<i64>,
    /// Valid from (Unix seconds).
    pub nbf: i64,
    /// Valid until (Unix seconds, exclusive).
    pub exp: i64,
    /// The id of the key that signed it.
    pub kid: String,
}

/// Why a code is refused before any database read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a code of this format (wrong prefix, bad base64, bad claims, too long).
    #[error("not a code of this service")]
    Malformed,
    /// Signed by a key this service does not have.
    #[error("signed by an unknown key")]
    UnknownKey,
    /// The signature does not match the claims: forged or altered.
    #[error("bad signature")]
    BadSignature,
}

/// Why the signing key from the environment was refused (never containing the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Neither PKCS#8 PEM nor base64 of a 32-byte seed.
    #[error("SIGNING_KEY must be a PKCS#8 PEM Ed25519 private key or the base64 of its 32-byte seed: {0}")]
    Format(&'static str),
}

/// The service's Ed25519 key pair and its key id.
pub struct Keyring {
    signing: SigningKey,
    verifying: VerifyingKey,
    kid: String,
    verified: CodeMemo,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("kid", &self.kid).field("signing", &"<redacted>").finish()
    }
}

/// A public key as served at `GET /v1/keys` (a JSON Web Key, RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicKey {
    /// `OKP`.
    pub kty: &'static str,
    /// `Ed25519`.
    pub crv: &'static str,
    /// `EdDSA`.
    pub alg: &'static str,
    /// The key id codes name.
    pub kid: String,
    /// The public key, unpadded base64url.
    pub x: String,
}

impl Keyring {
    /// A keyring from a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Keyring {
        let signing = SigningKey::from_bytes(seed);
        let verifying = signing.verifying_key();
        let kid = key_id(&verifying);
        Keyring { signing, verifying, kid, verified: CodeMemo::new(code_memo::CAPACITY) }
    }

    /// A keyring from `SIGNING_KEY`'s value: a PKCS#8 PEM private key, or the base64 of a 32-byte seed.
    pub fn parse(value: &str) -> Result<Keyring, KeyError> {
        let seed = parse_seed(value).map_err(|error| KeyError::Format(error.0))?;
        Ok(Keyring::from_seed(&seed))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key, for gate devices.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            kty: "OKP",
            crv: "Ed25519",
            alg: "EdDSA",
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.verifying.as_bytes()),
        }
    }

    /// Signs claims (their `kid` is set to this key's) into a code.
    pub fn sign(&self, claims: &Claims) -> String {
        let claims = Claims { kid: self.kid.clone(), ..claims.clone() };
        // serializing a struct of strings and integers cannot fail
        let json = serde_json::to_vec(&claims).unwrap_or_default();
        let signed = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(json));
        let signature = self.signing.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// Verifies a code and returns its claims; validity times are checked separately ([`check_window`]). A
    /// code that verified before is answered from the memo.
    pub fn verify(&self, code: &str) -> Result<Claims, TokenError> {
        if code.len() > MAX_CODE_LENGTH {
            return Err(TokenError::Malformed);
        }
        self.verified.get_or_verify(code, || self.verify_signature(code))
    }

    fn verify_signature(&self, code: &str) -> Result<Claims, TokenError> {
        let (signed, signature) = code.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let encoded =
            signed.strip_prefix(PREFIX).and_then(|rest| rest.strip_prefix('.')).ok_or(TokenError::Malformed)?;
        let json = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.kid != self.kid {
            return Err(TokenError::UnknownKey);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::BadSignature)?;
        let signature = Signature::from_slice(&signature).map_err(|_| TokenError::BadSignature)?;
        self.verifying.verify_strict(signed.as_bytes(), &signature).map_err(|_| TokenError::BadSignature)?;
        Ok(claims)
    }
}

/// Where an instant falls against a validity window `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Before `from`.
    NotYetValid,
    /// Within.
    Valid,
    /// At or after `until`.
    Expired,
}

/// Where `at` falls against `[from, until)`.
pub fn check_window(from: Timestamp, until: Timestamp, at: Timestamp) -> Window {
    if at < from {
        Window::NotYetValid
    } else if at >= until {
        Window::Expired
    } else {
        Window::Valid
    }
}

impl Claims {
    /// Where `at` falls against the code's own validity.
    pub fn window(&self, at: Timestamp) -> Window {
        let from = Timestamp::from_second(self.nbf).unwrap_or(Timestamp::MAX);
        let until = Timestamp::from_second(self.exp).unwrap_or(Timestamp::MIN);
        check_window(from, until, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn claims() -> Claims {
        Claims {
            kind: Kind::Ticket,
            sub: "7a1e3c2e-4a47-4c5e-9a0a-2f6f3f0c9b10".into(),
            event_id: 1,
            area_id: Some(2),
            nbf: 1_900_000_000,
            exp: 1_900_086_400,
            kid: String::new(),
        }
    }

    /// Replaces the claims segment of a code, keeping its signature.
    fn with_claims(code: &str, json: &str) -> String {
        let signature = code.rsplit_once('.').unwrap().1;
        format!("{PREFIX}.{}.{signature}", URL_SAFE_NO_PAD.encode(json))
    }

    #[test]
    fn verify_accepts_only_codes_signed_by_this_key_and_unaltered() {
        let keys = Keyring::from_seed(&[7; 32]);
        let other = Keyring::from_seed(&[8; 32]);
        let code = keys.sign(&claims());
        let signed = Claims { kid: keys.kid().to_string(), ..claims() };
        let altered_json = serde_json::to_string(&Claims { area_id: Some(3), ..signed.clone() }).unwrap();
        let other_code = other.sign(&claims());
        let other_with_our_kid = with_claims(&other_code, &serde_json::to_string(&signed).unwrap());
        let mut flipped = code.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let cases: Vec<(&str, String, Result<Claims, TokenError>)> = vec![
            ("valid", code.clone(), Ok(signed.clone())),
            ("altered_area", with_claims(&code, &altered_json), Err(TokenError::BadSignature)),
            ("signature_flipped", String::from_utf8(flipped).unwrap(), Err(TokenError::BadSignature)),
            ("wrong_key_own_kid", other_code, Err(TokenError::UnknownKey)),
            ("wrong_key_our_kid", other_with_our_kid, Err(TokenError::BadSignature)),
            ("no_signature", code.rsplit_once('.').unwrap().0.to_string(), Err(TokenError::Malformed)),
            ("other_prefix", code.replacen(PREFIX, "MF2", 1), Err(TokenError::Malformed)),
            ("garbage", "hello".into(), Err(TokenError::Malformed)),
            ("too_long", format!("{code}{}", "A".repeat(MAX_CODE_LENGTH)), Err(TokenError::Malformed)),
            ("valid_again_from_the_memo", code.clone(), Ok(signed.clone())),
        ];
        for (case, code, expected) in cases {
            assert_eq!(keys.verify(&code), expected, "{case}");
        }
    }

    #[test]
    fn signing_is_deterministic_so_a_prepared_code_is_always_the_same() {
        let keys = Keyring::from_seed(&[7; 32]);
        assert_eq!(keys.sign(&claims()), keys.sign(&claims()));
    }

    #[test]
    fn window_places_the_scan_time() {
        let at = |second| Timestamp::from_second(second).unwrap();
        let cases = [
            ("before", 1_899_999_999, Window::NotYetValid),
            ("at_start", 1_900_000_000, Window::Valid),
            ("inside", 1_900_050_000, Window::Valid),
            ("at_end", 1_900_086_400, Window::Expired),
            ("after", 1_900_100_000, Window::Expired),
        ];
        for (case, second, expected) in cases {
            assert_eq!(claims().window(at(second)), expected, "{case}");
        }
    }

    #[test]
    fn keys_parse_from_base64_seeds_and_pem_and_errors_never_show_them() {
        let seed = [9u8; 32];
        let base64 = STANDARD.encode(seed);
        // PKCS#8 v1 of an Ed25519 seed: the fixed 16-byte prefix, then the seed (RFC 8410)
        let mut der =
            vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        der.extend_from_slice(&seed);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der));
        let expected = Keyring::from_seed(&seed).kid().to_string();
        assert_eq!(Keyring::parse(&base64).unwrap().kid(), expected, "base64");
        assert_eq!(Keyring::parse(&URL_SAFE_NO_PAD.encode(seed)).unwrap().kid(), expected, "base64url");
        assert_eq!(Keyring::parse(&pem).unwrap().kid(), expected, "pem");
        let short = STANDARD.encode([1u8; 16]);
        let cases = [("short_seed", short.as_str()), ("not_base64", "not a key!"), ("bad_pem", "-----BEGIN x")];
        for (case, value) in cases {
            let error = Keyring::parse(value).unwrap_err().to_string();
            assert!(!error.contains(value), "{case}: {error}");
        }
        assert!(!format!("{:?}", Keyring::from_seed(&seed)).contains(&base64));
    }
}
