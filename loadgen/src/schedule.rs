//! When each batch is sent, and from when its latency is measured.
//!
//! Closed loop: every connection sends its next batch as soon as the previous
//! one is answered, and latency runs from the actual send.
//!
//! Open loop: batch `i` is *due* at `start + i × interval`, whichever
//! connection takes it, and its latency runs from that due time, not from
//! when it was actually sent. When the server stalls, the batches that
//! should have been sent during the stall wait on the client; measuring from
//! the due time charges that wait to the server, as a user sending at a fixed
//! rate would experience it. Measuring from the actual send would hide it:
//! this is the "coordinated omission" correction (Gil Tene; wrk2 does the
//! same). A connection that falls behind sends back to back until it catches
//! up instead of skipping batches, so the offered load stays the stated rate.
//!
//! All times are offsets from the run's start, so the same logic runs
//! against the real clock and, in tests, against a simulated one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How batches are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the server answers.
    Closed,
    /// One batch due every `interval`, across all connections.
    Open { interval: Duration },
}

impl Pace {
    /// The open-loop pace for `lines_per_sec` in batches of `batch` lines.
    pub fn open(lines_per_sec: f64, batch: u64) -> Pace {
        let interval = Duration::from_secs_f64(batch as f64 / lines_per_sec);
        Pace::Open { interval }
    }
}

/// When the run stops handing out batches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stop {
    /// No batch is started (closed) or due (open) at or after this offset.
    pub after: Option<Duration>,
    /// No more than this many batches in total.
    pub batches: Option<u64>,
}

/// The shared schedule: hands out batch indices to connections.
pub struct Schedule {
    pace: Pace,
    stop: Stop,
    next: AtomicU64,
}

/// One batch taken from the schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot {
    pub batch: u64,
    /// When it is due (open loop) or `None` (closed loop: send now).
    pub due: Option<Duration>,
}

/// The timing of one completed batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    pub batch: u64,
    /// From when latency is measured: the due time in an open loop, the
    /// actual send in a closed loop.
    pub intended: Duration,
    pub sent: Duration,
    pub finished: Duration,
}

impl Timing {
    /// Latency as a user at the stated rate experiences it.
    pub fn latency(&self) -> Duration {
        self.finished.saturating_sub(self.intended)
    }

    /// How long the batch waited on the client because every connection
    /// was busy (always zero in a closed loop).
    pub fn queued(&self) -> Duration {
        self.sent.saturating_sub(self.intended)
    }
}

impl Schedule {
    pub fn new(pace: Pace, stop: Stop) -> Schedule {
        Schedule {
            pace,
            stop,
            next: AtomicU64::new(0),
        }
    }

    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// Takes the next batch, or `None` when the run is over. `now` is the
    /// caller's current offset (used by the closed loop's time limit).
    pub fn take(&self, now: Duration) -> Option<Slot> {
        if let (Pace::Closed, Some(after)) = (self.pace, self.stop.after) {
            if now >= after {
                return None;
            }
        }
        let batch = self.next.fetch_add(1, Ordering::Relaxed);
        if self.stop.batches.is_some_and(|limit| batch >= limit) {
            return None;
        }
        match self.pace {
            Pace::Closed => Some(Slot { batch, due: None }),
            Pace::Open { interval } => {
                // Exact integer nanoseconds, so rounding never accumulates.
                let due_ns = interval.as_nanos().saturating_mul(u128::from(batch));
                let due = Duration::from_nanos(u64::try_from(due_ns).unwrap_or(u64::MAX));
                if self.stop.after.is_some_and(|after| due >= after) {
                    return None;
                }
                Some(Slot {
                    batch,
                    due: Some(due),
                })
            }
        }
    }
}

/// A source of time as offsets from the run's start.
pub trait Clock {
    fn now(&self) -> Duration;
    fn sleep_until(&self, offset: Duration);
}

/// The real clock.
pub struct RealClock {
    start: Instant,
}

impl RealClock {
    pub fn starting_at(start: Instant) -> RealClock {
        RealClock { start }
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep_until(&self, offset: Duration) {
        let now = self.now();
        if offset > now {
            std::thread::sleep(offset - now);
        }
    }
}

/// What one connection does with each batch it takes from the schedule.
pub trait Connection {
    type Result;
    /// Builds the request. Runs before waiting for the due time, so
    /// building is never charged to the server.
    fn prepare(&mut self, batch: u64);
    /// Sends it and waits for the answer.
    fn send(&mut self, batch: u64) -> Self::Result;
    /// Takes the batch's timing and result; `false` ends this connection.
    fn record(&mut self, timing: Timing, result: Self::Result) -> bool;
}

/// One connection's loop: take a batch, prepare it, wait until it is due,
/// send it, record its timing; until the schedule ends.
pub fn drive<C: Clock, N: Connection>(schedule: &Schedule, clock: &C, connection: &mut N) {
    while let Some(slot) = schedule.take(clock.now()) {
        connection.prepare(slot.batch);
        if let Some(due) = slot.due {
            clock.sleep_until(due);
        }
        let sent = clock.now();
        let result = connection.send(slot.batch);
        let finished = clock.now();
        let timing = Timing {
            batch: slot.batch,
            intended: slot.due.unwrap_or(sent),
            sent,
            finished,
        };
        if !connection.record(timing, result) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Simulated time: sleeping and serving advance it instantly.
    struct SimClock(Cell<Duration>);

    impl SimClock {
        fn advance(&self, by: Duration) {
            self.0.set(self.0.get() + by);
        }
    }

    impl Clock for SimClock {
        fn now(&self) -> Duration {
            self.0.get()
        }
        fn sleep_until(&self, offset: Duration) {
            if offset > self.0.get() {
                self.0.set(offset);
            }
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A connection to a simulated server whose service time for each
    /// batch is `service(batch)`.
    struct SimConnection<'a, F> {
        clock: &'a SimClock,
        service: F,
        timings: Vec<Timing>,
    }

    impl<F: Fn(u64) -> Duration> Connection for SimConnection<'_, F> {
        type Result = ();
        fn prepare(&mut self, _batch: u64) {}
        fn send(&mut self, batch: u64) {
            self.clock.advance((self.service)(batch));
        }
        fn record(&mut self, timing: Timing, (): ()) -> bool {
            self.timings.push(timing);
            true
        }
    }

    /// Runs one connection against the simulated server; returns the
    /// recorded timings.
    fn simulate(pace: Pace, stop: Stop, service: impl Fn(u64) -> Duration) -> Vec<Timing> {
        let schedule = Schedule::new(pace, stop);
        let clock = SimClock(Cell::new(Duration::ZERO));
        let mut connection = SimConnection {
            clock: &clock,
            service,
            timings: Vec::new(),
        };
        drive(&schedule, &clock, &mut connection);
        connection.timings
    }

    fn stall_at_5(batch: u64) -> Duration {
        if batch == 5 {
            ms(1000)
        } else {
            ms(1)
        }
    }

    #[test]
    fn open_loop_charges_a_stall_to_every_batch_it_delayed() {
        let stop = Stop {
            after: None,
            batches: Some(200),
        };
        let timings = simulate(Pace::Open { interval: ms(10) }, stop, stall_at_5);
        assert_eq!(timings.len(), 200);
        // Before the stall: sent on time, 1 ms each.
        for t in &timings[..5] {
            assert_eq!(t.queued(), Duration::ZERO);
            assert_eq!(t.latency(), ms(1));
        }
        // The stalled batch itself.
        assert_eq!(timings[5].latency(), ms(1000));
        // Batch 6 was due at 60 ms but could only go out at 1050 ms.
        assert_eq!(timings[6].intended, ms(60));
        assert_eq!(timings[6].sent, ms(1050));
        assert_eq!(timings[6].latency(), ms(991));
        assert_eq!(timings[7].latency(), ms(982));
        // Catching up back to back, 9 ms gained per batch: batch 6 + k is
        // sent at 1050 + k and due at 60 + 10k, so the backlog is gone once
        // 1050 + k <= 60 + 10k, at k = 110.
        let caught_up = timings
            .iter()
            .position(|t| t.batch > 5 && t.queued() == Duration::ZERO);
        assert_eq!(caught_up, Some(116));
        // Every batch between was charged more than its 1 ms service time:
        // a measurement from the actual send would have reported 1 ms.
        let over = timings.iter().filter(|t| t.latency() > ms(1)).count();
        assert_eq!(over, 1 + 110);
        // And none was skipped.
        let batches: Vec<u64> = timings.iter().map(|t| t.batch).collect();
        assert_eq!(batches, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn closed_loop_measures_from_the_actual_send() {
        let stop = Stop {
            after: None,
            batches: Some(20),
        };
        let timings = simulate(Pace::Closed, stop, stall_at_5);
        assert_eq!(timings[5].latency(), ms(1000));
        assert_eq!(timings[6].latency(), ms(1));
        assert!(timings.iter().all(|t| t.queued() == Duration::ZERO));
        assert_eq!(timings[6].sent, ms(1005));
    }

    #[test]
    fn open_loop_waits_for_due_times_when_the_server_keeps_up() {
        let stop = Stop {
            after: Some(ms(100)),
            batches: None,
        };
        let timings = simulate(Pace::Open { interval: ms(10) }, stop, |_| ms(2));
        // Due at 0, 10, ..., 90: the batch due at 100 is past the stop.
        assert_eq!(timings.len(), 10);
        for (i, t) in timings.iter().enumerate() {
            assert_eq!(t.sent, ms(10 * i as u64));
            assert_eq!(t.latency(), ms(2));
        }
    }

    #[test]
    fn closed_loop_stops_at_the_time_limit() {
        let stop = Stop {
            after: Some(ms(10)),
            batches: None,
        };
        let timings = simulate(Pace::Closed, stop, |_| ms(3));
        // Sent at 0, 3, 6, 9; at 12 the time is up.
        assert_eq!(timings.len(), 4);
    }

    #[test]
    fn connections_share_one_sequence_of_batches() {
        let schedule = Schedule::new(
            Pace::Open { interval: ms(1) },
            Stop {
                after: None,
                batches: Some(1000),
            },
        );
        let taken: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        while let Some(slot) = schedule.take(Duration::ZERO) {
                            assert_eq!(slot.due, Some(ms(slot.batch)));
                            mine.push(slot.batch);
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut sorted = taken.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn rate_to_interval() {
        assert_eq!(Pace::open(100_000.0, 1000), Pace::Open { interval: ms(10) });
    }
}
