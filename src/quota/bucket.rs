//! A token bucket in one atomic word: the generic cell rate algorithm.
//!
//! Instead of a token count and a last-refill time (two words that must
//! change together), the bucket keeps one number, the *theoretical arrival
//! time* (`tat_ns`): the moment at which everything admitted so far would
//! have been paid for at the configured rate. A charge of `cost` units adds
//! `cost / rate` seconds to it; the charge is admitted when the result lies
//! at most `burst` seconds ahead of now. A full bucket is a `tat_ns` at or
//! before now; refill is the clock moving on. So a token bucket of
//! capacity `rate * burst_seconds` refilled at `rate` per second is one
//! `AtomicU64` and one compare-and-swap per charge, with no lock and no
//! background refill task.
//!
//! Times are nanoseconds on the quota clock ([`clock_ns`], monotonic since
//! the process started); every function takes `now_ns` so tests inject a
//! clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Nanoseconds since the first call, monotonic (never steps back with the
/// wall clock).
pub fn clock_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos().min(u64::MAX as u128) as u64
}

/// A rate and the burst it allows: `per_second` units a second on
/// average, `per_second * burst_seconds` at once from a full bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Units (lines, bytes) a second; at least 1.
    pub per_second: u64,
    /// Seconds of the rate the bucket holds; at least 1.
    pub burst_seconds: u32,
}

impl Rate {
    /// Units a full bucket lets through at once.
    pub fn capacity(self) -> u64 {
        self.per_second.saturating_mul(self.burst_seconds as u64)
    }

    /// Nanoseconds `cost` units take at this rate, rounded up (so many
    /// small charges never add up to more than the rate).
    fn cost_ns(self, cost: u64) -> u64 {
        let nanos = (cost as u128 * NANOS_PER_SECOND as u128).div_ceil(self.per_second as u128);
        nanos.min(u64::MAX as u128) as u64
    }

    fn burst_ns(self) -> u64 {
        (self.burst_seconds as u64).saturating_mul(NANOS_PER_SECOND)
    }
}

/// Why a charge was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Admitted after this many nanoseconds, if nothing else is charged meanwhile.
    Wait { wait_ns: u64 },
    /// More than a full bucket holds: never admitted whole.
    NeverFits,
}

impl Refused {
    /// Whole seconds to tell a client (`Retry-After`): rounded up, at
    /// least 1 (a `Retry-After: 0` invites an immediate retry that fails).
    pub fn retry_after_seconds(self) -> u32 {
        match self {
            Refused::Wait { wait_ns } => {
                wait_ns.div_ceil(NANOS_PER_SECOND).clamp(1, u32::MAX as u64) as u32
            }
            Refused::NeverFits => 1,
        }
    }
}

/// One rate's state (see the module comment). Starts full.
#[derive(Debug, Default)]
pub struct Bucket {
    /// The theoretical arrival time, quota-clock nanoseconds.
    tat_ns: AtomicU64,
}

impl Bucket {
    pub fn new() -> Bucket {
        Bucket::default()
    }

    /// Takes `cost` units at `rate` at `now_ns`, or says how long to wait.
    /// A refused charge takes nothing.
    pub fn take(&self, cost: u64, rate: Rate, now_ns: u64) -> Result<(), Refused> {
        if cost > rate.capacity() {
            return Err(Refused::NeverFits);
        }
        let cost_ns = rate.cost_ns(cost);
        let burst_ns = rate.burst_ns();
        let mut tat_ns = self.tat_ns.load(Ordering::Relaxed);
        loop {
            let next_ns = tat_ns.max(now_ns).saturating_add(cost_ns);
            let ahead_ns = next_ns - now_ns;
            if ahead_ns > burst_ns {
                return Err(Refused::Wait {
                    wait_ns: ahead_ns - burst_ns,
                });
            }
            match self.tat_ns.compare_exchange_weak(
                tat_ns,
                next_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => tat_ns = current,
            }
        }
    }

    /// Gives back `cost` units taken at `rate` (a request admitted on one
    /// rate and refused on another is not charged at all).
    pub fn give_back(&self, cost: u64, rate: Rate) {
        let cost_ns = rate.cost_ns(cost);
        // fetch_update with a closure that always returns Some cannot fail.
        let _ = self
            .tat_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat_ns| {
                Some(tat_ns.saturating_sub(cost_ns))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = NANOS_PER_SECOND;

    fn rate(per_second: u64, burst_seconds: u32) -> Rate {
        Rate {
            per_second,
            burst_seconds,
        }
    }

    #[test]
    fn a_full_bucket_admits_its_burst_and_then_refuses() {
        let bucket = Bucket::new();
        let now = 100 * SECOND;
        let rate = rate(100, 2);
        assert_eq!(bucket.take(200, rate, now), Ok(()));
        assert_eq!(
            bucket.take(1, rate, now),
            Err(Refused::Wait {
                wait_ns: SECOND / 100
            })
        );
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let bucket = Bucket::new();
        let rate = rate(10, 1);
        let start = 5 * SECOND;
        assert_eq!(bucket.take(10, rate, start), Ok(()));
        assert!(bucket.take(1, rate, start).is_err());
        // Half a second later, five lines' worth has come back, not six.
        let later = start + SECOND / 2;
        assert_eq!(bucket.take(5, rate, later), Ok(()));
        assert!(bucket.take(1, rate, later).is_err());
        // Refill stops at the burst: a long pause does not bank more.
        let much_later = later + 3600 * SECOND;
        assert_eq!(bucket.take(10, rate, much_later), Ok(()));
        assert!(bucket.take(1, rate, much_later).is_err());
    }

    #[test]
    fn a_steady_sender_at_the_rate_is_never_refused() {
        let bucket = Bucket::new();
        let rate = rate(1000, 1);
        for tick in 0..10_000u64 {
            // 100 lines every 100 ms: exactly the rate.
            let now = SECOND + tick * SECOND / 10;
            assert_eq!(bucket.take(100, rate, now), Ok(()), "tick {tick}");
        }
    }

    #[test]
    fn a_refused_charge_takes_nothing_and_a_given_back_one_returns() {
        let bucket = Bucket::new();
        let rate = rate(10, 1);
        let now = SECOND;
        assert_eq!(bucket.take(8, rate, now), Ok(()));
        assert!(bucket.take(5, rate, now).is_err());
        assert_eq!(
            bucket.take(2, rate, now),
            Ok(()),
            "the refusal took nothing"
        );
        bucket.give_back(4, rate);
        assert_eq!(bucket.take(4, rate, now), Ok(()));
        assert!(bucket.take(1, rate, now).is_err());
    }

    #[test]
    fn more_than_the_burst_never_fits() {
        let bucket = Bucket::new();
        assert_eq!(
            bucket.take(301, rate(100, 3), SECOND),
            Err(Refused::NeverFits)
        );
        assert_eq!(bucket.take(300, rate(100, 3), SECOND), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() {
        let wait = |wait_ns| Refused::Wait { wait_ns }.retry_after_seconds();
        assert_eq!(wait(1), 1);
        assert_eq!(wait(SECOND), 1);
        assert_eq!(wait(SECOND + 1), 2);
        assert_eq!(wait(10 * SECOND - 1), 10);
        assert_eq!(Refused::NeverFits.retry_after_seconds(), 1);
    }

    #[test]
    fn retry_after_is_when_the_charge_would_fit() {
        let bucket = Bucket::new();
        let rate = rate(2, 1);
        let now = 7 * SECOND;
        assert_eq!(bucket.take(2, rate, now), Ok(()));
        let Err(refused) = bucket.take(2, rate, now) else {
            panic!("an empty bucket admitted a charge");
        };
        assert_eq!(refused.retry_after_seconds(), 1);
        let at = now + SECOND;
        assert_eq!(bucket.take(2, rate, at), Ok(()), "admitted when promised");
    }

    #[test]
    fn charges_from_many_threads_add_up_exactly() {
        let bucket = std::sync::Arc::new(Bucket::new());
        let rate = rate(1_000, 1);
        let now = SECOND;
        let admitted: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let bucket = bucket.clone();
                    scope.spawn(move || {
                        (0..1000)
                            .filter(|_| bucket.take(1, rate, now).is_ok())
                            .count() as u64
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        assert_eq!(admitted, 1_000, "one burst, however many cores charge it");
    }
}
