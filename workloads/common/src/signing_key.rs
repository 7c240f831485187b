//! Ed25519 private keys as a service receives them from a Secret: a PKCS#8 PEM (`openssl genpkey -algorithm
//! ed25519`) or the base64 (standard or URL-safe) of the 32-byte seed; and the short key id (`kid`) derived
//! from the public key. It parses; it never logs, prints or returns the key in an error.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Why a key value was refused; the message names the problem, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFormatError(pub &'static str);

impl std::fmt::Display for KeyFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected a PKCS#8 PEM Ed25519 private key or the base64 of its 32-byte seed: {}", self.0)
    }
}

impl std::error::Error for KeyFormatError {}

/// The 32-byte seed of a PKCS#8 PEM private key or of a base64 seed.
pub fn parse_seed(value: &str) -> Result<[u8; 32], KeyFormatError> {
    let value = value.trim();
    if value.starts_with("-----BEGIN") {
        let signing = SigningKey::from_pkcs8_pem(value).map_err(|_| KeyFormatError("the PEM does not parse"))?;
        return Ok(signing.to_bytes());
    }
    let bytes =
        STANDARD.decode(value).or_else(|_| URL_SAFE_NO_PAD.decode(value)).map_err(|_| KeyFormatError("not base64"))?;
    bytes.try_into().map_err(|_| KeyFormatError("the seed is not 32 bytes"))
}

/// The key id of a public key: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(verifying: &VerifyingKey) -> String {
    Sha256::digest(verifying.as_bytes())[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_from_base64_and_pem_and_errors_never_show_them() {
        let seed = [9u8; 32];
        // PKCS#8 v1 of an Ed25519 seed: the fixed 16-byte prefix, then the seed (RFC 8410)
        let mut der =
            vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        der.extend_from_slice(&seed);
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der));
        for (case, value) in
            [("base64", STANDARD.encode(seed)), ("base64url", URL_SAFE_NO_PAD.encode(seed)), ("pem", pem)]
        {
            assert_eq!(parse_seed(&value), Ok(seed), "{case}");
        }
        let short = STANDARD.encode([1u8; 16]);
        for (case, value) in [("short_seed", short.as_str()), ("not_base64", "not a key!"), ("bad_pem", "-----BEGIN x")]
        {
            let error = parse_seed(value).unwrap_err().to_string();
            assert!(!error.contains(value), "{case}: {error}");
        }
    }

    #[test]
    fn key_ids_differ_between_keys_and_are_stable() {
        let a = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let b = SigningKey::from_bytes(&[2; 32]).verifying_key();
        assert_eq!(key_id(&a), key_id(&a));
        assert_ne!(key_id(&a), key_id(&b));
        assert_eq!(key_id(&a).len(), 16);
    }
}
