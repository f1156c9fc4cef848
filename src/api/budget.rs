//! The platform's rate-limit budget, as its answers report it: every response updates it
//! ([`super::retry::send`]), every wait paces itself by it ([`crate::wait::pause`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// The rate-limit budget as the platform last reported it (`X-RateLimit-Remaining` of
/// `X-RateLimit-Limit`); every response updates it.
#[derive(Debug, Default)]
pub struct Budget {
    remaining: AtomicU64,
    /// 0 while no response has told.
    limit: AtomicU64,
}

impl Budget {
    /// Notes the rate-limit headers of a response, if it has them.
    pub fn observe(&self, headers: &reqwest::header::HeaderMap) {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        if let (Some(remaining), Some(limit)) =
            (number("x-ratelimit-remaining"), number("x-ratelimit-limit"))
            && limit > 0
        {
            self.remaining.store(remaining, Ordering::Relaxed);
            self.limit.store(limit, Ordering::Relaxed);
        }
    }

    /// The share of the window left (0 to 1), as the last response with the headers told;
    /// `None` while none has.
    pub fn share_left(&self) -> Option<f64> {
        let limit = self.limit.load(Ordering::Relaxed);
        let remaining = self.remaining.load(Ordering::Relaxed);
        (limit > 0).then(|| (remaining as f64 / limit as f64).min(1.0))
    }
}
