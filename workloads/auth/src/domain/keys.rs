//! The signing keys of access tokens and their rotation: several Ed25519 keys are configured (files mounted
//! from a Secret, oldest first); one signs — the one named active, else the newest (last) — and all verify and
//! are published in the JWKS. To rotate without refusing any valid token: (1) append the new key while the
//! old one stays active, so it is published before it signs; (2) once the verifiers' JWKS cache has renewed
//! (`AUTH_JWKS_MAX_AGE_SECONDS`), make the new key active; (3) once the access-token lifetime has passed,
//! remove the old key. Keys are never logged; errors name the file, not the key.

use microfleet_common::jwt::{Jwks, KeySet, TokenSigner};
use microfleet_common::signing_key::parse_seed;

/// Why the configured keys were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// No key configured.
    #[error("SIGNING_KEY_FILES must name at least one key file")]
    None,
    /// A file could not be read.
    #[error("cannot read signing key file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file does not hold a key.
    #[error("signing key file {path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong (never the content).
        reason: String,
    },
    /// The active key is not one of the configured ones.
    #[error("ACTIVE_SIGNING_KEY_FILE {0} is not one of SIGNING_KEY_FILES")]
    UnknownActive(String),
    /// The same key twice.
    #[error("signing key file {path} repeats key {kid}")]
    Duplicate {
        /// The file.
        path: String,
        /// The repeated key id.
        kid: String,
    },
}

/// The configured keys, oldest first.
#[derive(Debug)]
pub struct SigningKeys {
    signers: Vec<TokenSigner>,
    active: usize,
    key_set: KeySet,
}

impl SigningKeys {
    /// Keys from (name, value) pairs, oldest first; the value is a PKCS#8 PEM or a base64 seed. `active`
    /// names the one that signs (default: the last).
    pub fn from_values(values: &[(String, String)], active: Option<&str>) -> Result<SigningKeys, KeysError> {
        let mut signers: Vec<TokenSigner> = Vec::new();
        for (path, value) in values {
            let seed = parse_seed(value)
                .map_err(|error| KeysError::Format { path: path.clone(), reason: error.to_string() })?;
            let signer = TokenSigner::from_seed(&seed);
            if signers.iter().any(|known| known.kid() == signer.kid()) {
                return Err(KeysError::Duplicate { path: path.clone(), kid: signer.kid().to_string() });
            }
            signers.push(signer);
        }
        if signers.is_empty() {
            return Err(KeysError::None);
        }
        let active = match active {
            Some(name) => values
                .iter()
                .position(|(path, _)| path == name)
                .ok_or_else(|| KeysError::UnknownActive(name.to_string()))?,
            None => signers.len() - 1,
        };
        let key_set = KeySet::of_signers(&signers);
        Ok(SigningKeys { signers, active, key_set })
    }

    /// Keys from files, oldest first; `active` names the file of the one that signs (default: the last).
    pub fn load(paths: &[String], active: Option<&str>) -> Result<SigningKeys, KeysError> {
        let mut values = Vec::new();
        for path in paths {
            let value = std::fs::read_to_string(path)
                .map_err(|error| KeysError::Unreadable { path: path.clone(), reason: error.kind().to_string() })?;
            values.push((path.clone(), value));
        }
        SigningKeys::from_values(&values, active)
    }

    /// The key that signs.
    pub fn signer(&self) -> &TokenSigner {
        &self.signers[self.active]
    }

    /// Every key, for verifying.
    pub fn key_set(&self) -> &KeySet {
        &self.key_set
    }

    /// Every public key, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks {
        Jwks { keys: self.signers.iter().map(TokenSigner::jwk).collect() }
    }

    /// The key ids, oldest first.
    pub fn kids(&self) -> Vec<&str> {
        self.signers.iter().map(TokenSigner::kid).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    fn value(name: &str, seed: u8) -> (String, String) {
        (name.to_string(), STANDARD.encode([seed; 32]))
    }

    #[test]
    fn the_active_or_newest_signs_and_every_key_is_published() {
        let published_ahead = SigningKeys::from_values(&[value("old", 1), value("new", 2)], Some("old")).unwrap();
        assert_eq!(published_ahead.signer().kid(), TokenSigner::from_seed(&[1; 32]).kid());
        assert!(published_ahead.key_set().contains(TokenSigner::from_seed(&[2; 32]).kid()));
        let unknown = SigningKeys::from_values(&[value("old", 1)], Some("new")).unwrap_err();
        assert_eq!(unknown, KeysError::UnknownActive("new".into()));
        let keys = SigningKeys::from_values(&[value("old", 1), value("new", 2)], None).unwrap();
        assert_eq!(keys.signer().kid(), TokenSigner::from_seed(&[2; 32]).kid());
        let jwks = keys.jwks();
        assert_eq!(jwks.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), keys.kids());
        assert!(keys.key_set().contains(TokenSigner::from_seed(&[1; 32]).kid()));
    }

    #[test]
    fn bad_key_lists_are_refused_naming_the_file_not_the_key() {
        let secret = STANDARD.encode([3u8; 16]);
        let cases = [
            ("none", vec![], KeysError::None.to_string()),
            ("short", vec![("k1".to_string(), secret.clone())], "k1".to_string()),
            ("duplicate", vec![value("a", 1), value("b", 1)], "b repeats".to_string()),
        ];
        for (case, values, expected) in cases {
            let error = SigningKeys::from_values(&values, None).unwrap_err().to_string();
            assert!(error.contains(&expected), "{case}: {error}");
            assert!(!error.contains(&secret), "{case}: {error}");
        }
        let missing = SigningKeys::load(&["/nonexistent/key.pem".to_string()], None).unwrap_err();
        assert!(matches!(missing, KeysError::Unreadable { .. }));
    }
}
