//! watchdog: "has this client stopped sending, or stopped reading, for too
//! long?"
//!
//! hyper's own header timeout needs a `Send` timer, and glommio's timers are
//! not `Send`; it would not cover bodies or idle keep-alive connections
//! either. So each connection task races hyper's connection future against
//! one glommio [`Timer`] whose deadline follows what the connection is doing
//! ([`Activity`], updated by `io::HyperStream` and the service):
//!
//! | phase                                   | deadline                                 |
//! |-----------------------------------------|------------------------------------------|
//! | reading a body                          | last body byte + `body_read_timeout`     |
//! | a request head has begun                | its first byte + `header_read_timeout`   |
//! | a response is being produced or written | none, unless a write has been blocked:   |
//! |                                         | blocked since + `idle_timeout`           |
//! | waiting for the first request           | accept + `header_read_timeout`           |
//! | waiting for the next request            | last response done + `idle_timeout`      |
//!
//! Only reads are timed: a live tail or a streaming query that writes
//! nothing for minutes is busy, not idle, and is never cut; a client that
//! reads none of its response for `idle_timeout` is.
//!
//! The timer is armed lazily: progress only moves a deadline later, so the
//! armed instant is kept until it fires and then moved to the real deadline
//! (body bytes cost a `Cell` write each, not a timer update).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use glommio::timer::Timer;

use crate::config::connections::ConnectionsConfig;

/// Why a connection was cut; a label of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A request head (or, for a new connection, its first byte) was too slow.
    HeaderRead,
    /// No byte of a request body for `body_read_timeout`.
    BodyRead,
    /// No next request on a keep-alive connection for `idle_timeout`.
    Idle,
    /// The client read nothing of its response for `idle_timeout`.
    WriteStall,
}

impl Expiry {
    pub const ALL: [Expiry; 4] = [
        Expiry::HeaderRead,
        Expiry::BodyRead,
        Expiry::Idle,
        Expiry::WriteStall,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Expiry::HeaderRead => "header_read",
            Expiry::BodyRead => "body_read",
            Expiry::Idle => "idle",
            Expiry::WriteStall => "write_stall",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The three timeouts, copied out of the configuration once per connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub body_read: Duration,
    pub idle: Duration,
}

impl Timeouts {
    pub fn from_config(config: &ConnectionsConfig) -> Timeouts {
        Timeouts {
            header_read: config.header_read_timeout,
            body_read: config.body_read_timeout,
            idle: config.idle_timeout,
        }
    }
}

/// What one connection is doing and since when. Written by the read side
/// and the service, read by the [`Watchdog`]; all in the connection's task.
#[derive(Debug)]
pub struct Activity {
    /// When the current request head's first byte arrived; `None` between heads.
    head_started: Cell<Option<Instant>>,
    /// Since when hyper has wanted body bytes the client has not sent;
    /// `None` outside a body, or while bytes flow, or while the handler is
    /// busy elsewhere and reads nothing (then only the server is slow).
    body_stalled: Cell<Option<Instant>>,
    /// Responses the service has begun and hyper has not yet finished writing.
    responses_in_flight: Cell<u32>,
    /// When the last response finished (or the connection was accepted).
    idle_since: Cell<Instant>,
    /// Whether any request has begun: the first waits `header_read`, later ones `idle`.
    any_request: Cell<bool>,
    /// When a write started waiting for the client to read; `None` when writes flow.
    write_blocked: Cell<Option<Instant>>,
}

impl Activity {
    pub fn new(now: Instant) -> Activity {
        Activity {
            head_started: Cell::new(None),
            body_stalled: Cell::new(None),
            responses_in_flight: Cell::new(0),
            idle_since: Cell::new(now),
            any_request: Cell::new(false),
            write_blocked: Cell::new(None),
        }
    }

    /// Bytes of a request head arrived (the first of them starts its clock).
    pub fn head_bytes(&self) {
        if self.head_started.get().is_none() {
            self.head_started.set(Some(Instant::now()));
            self.any_request.set(true);
        }
    }

    /// A whole head was read.
    pub fn head_complete(&self) {
        self.head_started.set(None);
        self.any_request.set(true);
    }

    /// hyper asked for body bytes and none had arrived.
    pub fn body_wanted(&self) {
        if self.body_stalled.get().is_none() {
            self.body_stalled.set(Some(Instant::now()));
        }
    }

    /// Body bytes were handed to hyper (or the body ended).
    pub fn body_bytes(&self) {
        self.body_stalled.set(None);
    }

    pub fn response_started(&self) {
        self.responses_in_flight
            .set(self.responses_in_flight.get() + 1);
    }

    pub fn response_finished(&self) {
        let left = self.responses_in_flight.get().saturating_sub(1);
        self.responses_in_flight.set(left);
        if left == 0 {
            self.idle_since.set(Instant::now());
        }
    }

    /// A write could not go on until the client reads (`Pending`).
    pub fn write_blocked(&self) {
        if self.write_blocked.get().is_none() {
            self.write_blocked.set(Some(Instant::now()));
        }
    }

    pub fn write_flowed(&self) {
        self.write_blocked.set(None);
    }

    /// The next deadline and what passing it means; `None` while only the
    /// server has work to do.
    pub fn deadline(&self, timeouts: &Timeouts) -> Option<(Instant, Expiry)> {
        if let Some(stalled) = self.body_stalled.get() {
            return Some((stalled + timeouts.body_read, Expiry::BodyRead));
        }
        if let Some(started) = self.head_started.get() {
            return Some((started + timeouts.header_read, Expiry::HeaderRead));
        }
        if let Some(blocked) = self.write_blocked.get() {
            return Some((blocked + timeouts.idle, Expiry::WriteStall));
        }
        if self.responses_in_flight.get() > 0 {
            return None;
        }
        let since = self.idle_since.get();
        Some(match self.any_request.get() {
            false => (since + timeouts.header_read, Expiry::HeaderRead),
            true => (since + timeouts.idle, Expiry::Idle),
        })
    }

    /// Whether a request head had begun arriving (a timeout then answers 408).
    pub fn inside_head(&self) -> bool {
        self.head_started.get().is_some()
    }
}

/// What the watchdog found when it was polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// A deadline passed: the connection is to be cut for this reason.
    Expired(Expiry),
    /// The connection was cut `grace` ago and has still not ended: drop it.
    Abandon,
}

/// One connection's timer.
pub struct Watchdog {
    timeouts: Timeouts,
    timer: Option<Timer>,
    /// The instant the timer is set to fire at.
    armed: Option<Instant>,
    /// Once expired: when the connection is dropped whatever it is doing.
    hard_stop: Option<Instant>,
    /// How long a cut connection may take to answer and close.
    grace: Duration,
}

impl Watchdog {
    pub fn new(timeouts: Timeouts, grace: Duration) -> Watchdog {
        Watchdog {
            timeouts,
            timer: None,
            armed: None,
            hard_stop: None,
            grace,
        }
    }

    /// Checks the deadline and (re)arms the timer so this task is woken when
    /// it passes. Call after every poll of the connection.
    pub fn poll(&mut self, cx: &mut Context<'_>, activity: &Activity) -> Option<Alarm> {
        let now = Instant::now();
        let (deadline, alarm) = match self.hard_stop {
            Some(stop) => (stop, Alarm::Abandon),
            None => match activity.deadline(&self.timeouts) {
                Some((deadline, expiry)) => (deadline, Alarm::Expired(expiry)),
                None => return None,
            },
        };
        if now >= deadline {
            if alarm != Alarm::Abandon {
                self.hard_stop = Some(now + self.grace);
                self.arm(cx, now, now + self.grace);
            }
            return Some(alarm);
        }
        // Progress only delays a deadline: keep an earlier timer until it fires.
        let fired = self.armed.is_none_or(|armed| armed <= now);
        if fired || self.armed.is_some_and(|armed| deadline < armed) {
            self.arm(cx, now, deadline);
        }
        None
    }

    fn arm(&mut self, cx: &mut Context<'_>, now: Instant, at: Instant) {
        let wait = at.saturating_duration_since(now);
        let timer = self.timer.get_or_insert_with(|| Timer::new(wait));
        timer.reset(wait);
        self.armed = Some(at);
        // Registers the timer with this task's waker; it is not due yet.
        let _ = Pin::new(timer).poll(cx);
    }
}

/// A response body that tells [`Activity`] when hyper is done with it
/// (finished or dropped), through the guard it carries.
pub struct TrackedBody<B, G> {
    pub body: B,
    pub guard: G,
}

impl<B: hyper::body::Body + Unpin, G: Unpin> hyper::body::Body for TrackedBody<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_new_connection_waits_the_header_timeout_then_the_idle_one() {
        let start = Instant::now();
        let activity = Activity::new(start);
        let (deadline, expiry) = activity.deadline(&timeouts()).expect("timed");
        assert_eq!(
            (deadline, expiry),
            (start + timeouts().header_read, Expiry::HeaderRead)
        );
        activity.head_bytes();
        assert!(activity.inside_head());
        activity.head_complete();
        activity.response_started();
        assert_eq!(activity.deadline(&timeouts()), None, "busy is never timed");
        activity.response_finished();
        let (_, expiry) = activity.deadline(&timeouts()).expect("timed");
        assert_eq!(expiry, Expiry::Idle);
    }

    #[test]
    fn a_body_is_timed_only_while_the_server_waits_for_it() {
        let activity = Activity::new(Instant::now());
        activity.head_bytes();
        activity.head_complete();
        activity.response_started();
        assert_eq!(
            activity.deadline(&timeouts()),
            None,
            "the handler has not asked yet"
        );
        activity.body_wanted();
        let (first, expiry) = activity.deadline(&timeouts()).expect("timed");
        assert_eq!(expiry, Expiry::BodyRead);
        activity.body_wanted();
        assert_eq!(
            activity.deadline(&timeouts()).map(|d| d.0),
            Some(first),
            "still the first wait"
        );
        activity.body_bytes();
        assert_eq!(activity.deadline(&timeouts()), None);
        std::thread::sleep(Duration::from_millis(2));
        activity.body_wanted();
        let (later, _) = activity.deadline(&timeouts()).expect("timed");
        assert!(later > first, "progress moves the deadline");
    }

    #[test]
    fn a_blocked_write_is_timed_but_a_quiet_stream_is_not() {
        let activity = Activity::new(Instant::now());
        activity.head_complete();
        activity.response_started();
        assert_eq!(activity.deadline(&timeouts()), None);
        activity.write_blocked();
        let (_, expiry) = activity.deadline(&timeouts()).expect("timed");
        assert_eq!(expiry, Expiry::WriteStall);
        activity.write_flowed();
        assert_eq!(activity.deadline(&timeouts()), None);
    }
}
