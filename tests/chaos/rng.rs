//! The chaos test's seeded random numbers (SplitMix64): the same seed gives the same workload plan and the
//! same fault schedule, so a failing run can be replayed with `CHAOS_SEED`. Not for anything but tests.

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The seed of this run: `CHAOS_SEED` when set, else one from the clock.
    pub fn seed() -> u64 {
        match std::env::var("CHAOS_SEED") {
            Ok(value) => value.trim().parse().unwrap_or_else(|_| panic!("CHAOS_SEED={value:?} is not a u64")),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or(42),
        }
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `range` (half-open, not empty).
    pub fn range(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next() % (range.end - range.start)
    }

    /// `true` with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(0..100) < percent
    }

    /// An independent generator for a sub-task (its stream depends on this one's seed and `stream`).
    pub fn fork(&mut self, stream: u64) -> Rng {
        Rng::new(self.next() ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93))
    }
}
