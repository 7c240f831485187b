//! The one format of Microfleet's API keys — `mf_<8 hex prefix>_<64 hex secret>`, the prefix visible and
//! stored, the whole key stored by the auth service as SHA-256 only — and its generation from the operating
//! system's randomness. The auth service issues keys through its API and registers pre-provisioned service
//! keys with it; the operator generates the service keys of a TicketingService with it; the verifiers tell a
//! key from a token by [`API_KEY_PREFIX`]. Nothing here stores, logs or sends a key.

/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "mf_";
/// The format, as error messages show it.
pub const API_KEY_FORMAT: &str = "mf_<8 hex digits>_<64 hex digits>";

/// No randomness could be had from the operating system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no randomness from the operating system: {0}")]
pub struct RandomError(String);

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| RandomError(error.to_string()))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A new random API key and its visible prefix: (key, prefix).
pub fn new_api_key() -> Result<(String, String), RandomError> {
    let prefix = hex(&random_bytes::<4>()?);
    let secret = hex(&random_bytes::<32>()?);
    Ok((format!("{API_KEY_PREFIX}{prefix}_{secret}"), prefix))
}

/// The prefix of a well-formed API key, else `None` (wrong shape, not hex, wrong lengths).
pub fn api_key_prefix(key: &str) -> Option<&str> {
    let (prefix, secret) = key.strip_prefix(API_KEY_PREFIX)?.split_once('_')?;
    let hex = |text: &str, length: usize| text.len() == length && text.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(prefix, 8) && hex(secret, 64)).then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_api_keys_parse_and_malformed_ones_do_not() {
        let (key, prefix) = new_api_key().unwrap();
        assert_eq!(api_key_prefix(&key), Some(prefix.as_str()));
        assert_eq!(key.len(), API_KEY_PREFIX.len() + 8 + 1 + 64);
        let good_secret = "a".repeat(64);
        let cases = [
            ("no_prefix", format!("1234abcd_{good_secret}")),
            ("short_prefix", format!("mf_1234abc_{good_secret}")),
            ("not_hex", format!("mf_1234abcz_{good_secret}")),
            ("short_secret", "mf_1234abcd_abcdef".to_string()),
            ("long_secret", format!("mf_1234abcd_{good_secret}0")),
            ("no_secret", "mf_1234abcd".to_string()),
            ("refresh_token", "mfr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string()),
        ];
        for (case, key) in cases {
            assert_eq!(api_key_prefix(&key), None, "{case}");
        }
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(new_api_key().unwrap(), new_api_key().unwrap());
        assert_ne!(random_bytes::<16>().unwrap(), random_bytes::<16>().unwrap());
    }
}
