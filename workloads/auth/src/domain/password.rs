//! Passwords: the policy a new password must meet, and Argon2id hashing (PHC strings with a random 16-byte
//! salt) at a configurable cost — OWASP's recommendation (19 MiB, 2 passes, 1 lane) by default, cheaper in
//! tests. A password is never logged, stored or put in an error.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use super::secrets::random_bytes;
use super::DomainError;

/// The shortest password accepted.
pub const MIN_PASSWORD_LENGTH: usize = 12;
/// The longest password accepted (hashing cost is bounded).
pub const MAX_PASSWORD_LENGTH: usize = 256;

/// The Argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashCost {
    /// OWASP's recommended Argon2id cost: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: HashCost = HashCost { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
}

/// Why hashing failed (a cost Argon2 refuses, or no randomness).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing: {0}")]
pub struct HashError(String);

/// Hashes passwords at a cost.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
}

impl PasswordHashing {
    /// A hasher at `cost`; refused when Argon2 does not accept it (e.g. memory below 8 KiB per lane).
    pub fn new(cost: HashCost) -> Result<PasswordHashing, HashError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|error| HashError(error.to_string()))?;
        Ok(PasswordHashing { params })
    }

    /// The PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) of a password.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt = random_bytes::<16>().map_err(|error| HashError(error.to_string()))?;
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let hash =
            hasher.hash_password_with_salt(password.as_bytes(), &salt).map_err(|error| HashError(error.to_string()))?;
        Ok(hash.to_string())
    }

    /// Whether a password matches a PHC string (at the cost stored in the string); a malformed string matches
    /// nothing.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        let verifier = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        verifier.verify_password(password.as_bytes(), phc).is_ok()
    }
}

/// Checks a new password against the policy (length only, as NIST SP 800-63B advises).
pub fn check_password(field: &str, password: &str) -> Result<(), DomainError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_LENGTH {
        return Err(DomainError::invalid(field, format!("must have at least {MIN_PASSWORD_LENGTH} characters"))
            .fix("use a longer passphrase"));
    }
    if length > MAX_PASSWORD_LENGTH {
        return Err(DomainError::invalid(field, format!("must have at most {MAX_PASSWORD_LENGTH} characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };

    #[test]
    fn a_hash_verifies_its_password_only_and_never_contains_it() {
        let hashing = PasswordHashing::new(CHEAP).unwrap();
        let hash = hashing.hash("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert_ne!(hash, hashing.hash("correct horse battery").unwrap(), "a fresh salt every time");
        let cases = [
            ("right", "correct horse battery", hash.as_str(), true),
            ("wrong", "correct horse battery!", hash.as_str(), false),
            ("empty", "", hash.as_str(), false),
            ("malformed_hash", "correct horse battery", "$argon2id$nonsense", false),
        ];
        for (case, password, phc, expected) in cases {
            assert_eq!(hashing.verify(password, phc), expected, "{case}");
        }
    }

    #[test]
    fn the_default_cost_is_owasps_and_a_too_small_cost_is_refused() {
        assert_eq!(HashCost::OWASP, HashCost { memory_kib: 19456, iterations: 2, parallelism: 1 });
        assert!(PasswordHashing::new(HashCost { memory_kib: 1, iterations: 1, parallelism: 1 }).is_err());
    }

    #[test]
    fn the_policy_bounds_the_length() {
        let cases =
            [("short", "elevenchars", false), ("enough", "twelve chars", true), ("long", &"x".repeat(257), false)];
        for (case, password, ok) in cases {
            assert_eq!(check_password("password", password).is_ok(), ok, "{case}");
        }
    }
}
