//! A token bucket per agent socket on `message` frames, so one flooding agent cannot take the
//! store and the fan-out from the others. Over it a frame is refused (`RATE_LIMITED`), never
//! queued or dropped silently, and the socket is not read until the next token is due, so
//! refusing a flood costs the hub no more than the flood's rate allows.

use std::time::{Duration, Instant};

pub struct TokenBucket {
    /// Tokens added per second; `None` is unlimited.
    rate: Option<f64>,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `per_sec` 0 is unlimited; a burst below one still admits single messages.
    pub fn new(per_sec: u64, burst: u64) -> Self {
        let burst = burst.max(1) as f64;
        TokenBucket { rate: (per_sec > 0).then_some(per_sec as f64), burst, tokens: burst, last: Instant::now() }
    }

    pub fn unlimited() -> Self {
        Self::new(0, 1)
    }

    /// Takes one token if there is one; otherwise says how long until the next is due.
    pub fn try_take(&mut self) -> Result<(), Duration> {
        let Some(rate) = self.rate else { return Ok(()) };
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_burst_then_the_rate() {
        let mut b = TokenBucket::new(1, 3);
        assert_eq!((0..5).filter(|_| b.try_take().is_ok()).count(), 3);
        b.last -= Duration::from_millis(1500);
        assert!(b.try_take().is_ok());
        let wait = b.try_take().unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_secs(1), "{wait:?}");
        let mut free = TokenBucket::unlimited();
        assert!((0..10_000).all(|_| free.try_take().is_ok()));
    }
}
