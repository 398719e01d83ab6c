//! A token bucket per key (a source address, a user): `rate` tokens a second up to `burst`.
//! Buckets that have refilled are forgotten once there are many keys, so the map stays bounded
//! by the keys active in the last `burst / rate` seconds.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept before refilled buckets are pruned.
const PRUNE_AT: usize = 50_000;

/// Token buckets keyed by `K`: `rate` tokens a second up to `burst` per key.
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` per second, bursts of `burst` (at least one).
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refilled).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// `Retry-After` in whole seconds (at least 1), as HTTP wants it.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_with_a_wait_then_refill() {
        let r = RateLimiter::new(10.0, 3.0);
        for _ in 0..3 {
            assert!(r.check(&"a").is_ok());
        }
        let wait = r.check(&"a").unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(r.check(&"b").is_ok(), "keys are independent");
        std::thread::sleep(Duration::from_millis(120));
        assert!(r.check(&"a").is_ok());
        assert_eq!(retry_after_secs(Duration::from_millis(20)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
    }
}
