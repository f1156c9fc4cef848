//! Rate limiting: one fixed window over all platform requests, and the `X-RateLimit-*` headers
//! that describe it.

use std::time::{Duration, Instant};

/// A fixed window: simple, and what the `X-RateLimit-Reset` header describes.
pub(crate) struct RateWindow {
    pub(crate) started: Instant,
    pub(crate) used: u32,
}

/// Whether a request is within the limit, and the headers that say how much is left.
pub(crate) struct RateVerdict {
    pub(crate) allowed: bool,
    pub(crate) headers: [(&'static str, String); 3],
}

impl RateWindow {
    pub(crate) fn admit(&mut self, limit: u32, window: Duration, now: Instant) -> RateVerdict {
        if now.duration_since(self.started) >= window {
            self.started = now;
            self.used = 0;
        }
        self.used = self.used.saturating_add(1);
        let allowed = self.used <= limit;
        let left = window.saturating_sub(now.duration_since(self.started));
        let reset = left.as_millis().div_ceil(1000);
        RateVerdict {
            allowed,
            headers: [
                ("x-ratelimit-limit", limit.to_string()),
                (
                    "x-ratelimit-remaining",
                    limit.saturating_sub(self.used).to_string(),
                ),
                ("x-ratelimit-reset", reset.to_string()),
            ],
        }
    }
}
