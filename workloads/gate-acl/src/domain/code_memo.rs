//! A bounded memo of the QR codes that verified, so a code scanned again (an exit, a re-entry, a re-sent
//! scan) skips the Ed25519 check, the costliest step of a scan. It stays correct because verifying is a pure
//! function of the code's exact bytes and the key, and the key never changes in a process: an entry is
//! found only by the SHA-256 of the exact code, so a forged or altered code (other bytes) never finds one;
//! only codes that verified are kept; the validity window and revocation are checked on every scan, after
//! it. Two generations of at most `capacity` entries each: when the newer one is full it becomes the older
//! one and the oldest is dropped, so the memory stays bounded and recently scanned codes stay. It decides
//! nothing itself and holds no key.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::token::Claims;

/// Entries per generation in a service (two generations: at most twice this many codes are remembered).
pub const CAPACITY: usize = 32_768;

/// The memo; share one per key.
#[derive(Debug)]
pub struct CodeMemo {
    capacity: usize,
    generations: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    newer: HashMap<[u8; 32], Claims>,
    older: HashMap<[u8; 32], Claims>,
}

impl CodeMemo {
    /// An empty memo of at most `capacity` (at least 1) entries per generation.
    pub fn new(capacity: usize) -> CodeMemo {
        CodeMemo { capacity: capacity.max(1), generations: Mutex::new(Generations::default()) }
    }

    /// The claims of `code` if it verified before; `verify` (called outside the lock) otherwise, whose
    /// success is remembered.
    pub fn get_or_verify<E>(&self, code: &str, verify: impl FnOnce() -> Result<Claims, E>) -> Result<Claims, E> {
        let digest: [u8; 32] = Sha256::digest(code.as_bytes()).into();
        if let Some(claims) = self.lookup(&digest) {
            return Ok(claims);
        }
        let claims = verify()?;
        self.remember(digest, claims.clone());
        Ok(claims)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lookup(&self, digest: &[u8; 32]) -> Option<Claims> {
        let generations = self.lock();
        generations.newer.get(digest).or_else(|| generations.older.get(digest)).cloned()
    }

    fn remember(&self, digest: [u8; 32], claims: Claims) {
        let mut generations = self.lock();
        if generations.newer.len() >= self.capacity {
            generations.older = std::mem::take(&mut generations.newer);
        }
        generations.newer.insert(digest, claims);
    }

    /// How many codes it remembers (at most twice the capacity).
    pub fn len(&self) -> usize {
        let generations = self.lock();
        generations.newer.len() + generations.older.len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::Kind;

    fn claims(sub: &str) -> Claims {
        Claims { kind: Kind::Ticket, sub: sub.into(), event_id: 1, area_id: Some(2), nbf: 0, exp: 1, kid: "k".into() }
    }

    #[test]
    fn a_code_that_verified_is_not_verified_again_and_a_refused_one_always_is() {
        let memo = CodeMemo::new(8);
        let mut calls = 0;
        let mut verify = |code: &str, ok: bool| {
            memo.get_or_verify(code, || {
                calls += 1;
                if ok {
                    Ok(claims(code))
                } else {
                    Err("refused")
                }
            })
        };
        assert_eq!(verify("a", true), Ok(claims("a")));
        assert_eq!(verify("a", false), Ok(claims("a")), "remembered: not verified again");
        assert_eq!(verify("b", false), Err("refused"));
        assert_eq!(verify("b", false), Err("refused"), "a refusal is not remembered");
        assert_eq!(verify("a ", false), Err("refused"), "other bytes never find an entry");
        assert_eq!(calls, 4);
    }

    #[test]
    fn it_keeps_at_most_two_generations_and_the_recent_codes() {
        let memo = CodeMemo::new(3);
        for n in 0..10 {
            let code = n.to_string();
            memo.get_or_verify(&code, || Ok::<_, ()>(claims(&code))).unwrap();
            assert!(memo.len() <= 6, "after {n}: {}", memo.len());
        }
        let refused = |code: &str| memo.get_or_verify(code, || Err(()));
        assert_eq!(refused("9"), Ok(claims("9")), "the newest is kept");
        assert_eq!(refused("7"), Ok(claims("7")), "the older generation is kept");
        assert_eq!(refused("0"), Err(()), "the oldest was dropped");
    }
}
