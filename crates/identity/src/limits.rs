//! Rate limits: fixed-window counters in Redis (shared by every instance) or, in the embedded
//! default without Redis, in this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use xiaobao_domain::Clock;

use crate::IdentityError;

/// A limit: at most `max` events per `window_secs` for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_secs: u64,
}

/// The outcome of counting one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; the window ends in this many seconds.
    Refused {
        retry_after_secs: u64,
    },
}

#[derive(Clone)]
enum Backend {
    Redis(redis::aio::ConnectionManager),
    Memory(Arc<Mutex<HashMap<String, (u64, u32)>>>),
}

/// Counts events per key and window.
#[derive(Clone)]
pub struct RateLimiter {
    backend: Backend,
    clock: Clock,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.backend {
            Backend::Redis(_) => "RateLimiter(redis)",
            Backend::Memory(_) => "RateLimiter(memory)",
        })
    }
}

impl RateLimiter {
    pub fn redis(conn: redis::aio::ConnectionManager) -> Self {
        Self {
            backend: Backend::Redis(conn),
            clock: Clock::system(),
        }
    }

    pub fn memory() -> Self {
        Self {
            backend: Backend::Memory(Arc::default()),
            clock: Clock::system(),
        }
    }

    /// The same limiter counting windows on `clock`.
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// Counts one event for `key` (e.g. `login:ip:203.0.113.7`) and says whether it is within
    /// `limit`. Keys must not contain personal data in clear: callers hash login names.
    pub async fn hit(&self, key: &str, limit: Limit) -> Result<Verdict, IdentityError> {
        let now = self.clock.now().timestamp().max(0) as u64;
        let window = limit.window_secs.max(1);
        let index = now / window;
        let retry_after_secs = (index + 1) * window - now;
        let count: u64 = match &self.backend {
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let k = format!("xb:rl:{key}:{index}");
                let (count,): (u64,) = redis::pipe()
                    .atomic()
                    .incr(&k, 1u64)
                    .expire(&k, (window + 1) as i64)
                    .ignore()
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| IdentityError::Limiter(e.to_string()))?;
                count
            }
            Backend::Memory(map) => {
                let mut map = map
                    .lock()
                    .map_err(|_| IdentityError::Limiter("poisoned".into()))?;
                if map.len() > 100_000 {
                    map.retain(|_, (w, _)| *w == index);
                }
                let entry = map.entry(format!("{key}:{window}")).or_insert((index, 0));
                if entry.0 != index {
                    *entry = (index, 0);
                }
                entry.1 = entry.1.saturating_add(1);
                u64::from(entry.1)
            }
        };
        Ok(if count > u64::from(limit.max) {
            Verdict::Refused { retry_after_secs }
        } else {
            Verdict::Allowed
        })
    }
}

/// "请 N 分钟后再试" for a refusal by a rate limit.
#[must_use]
pub fn retry_message(what: &str, retry_after_secs: u64) -> String {
    format!(
        "{what}过于频繁，请 {} 分钟后再试",
        retry_after_secs.div_ceil(60).max(1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_counts_per_key() {
        let l = RateLimiter::memory();
        let limit = Limit {
            max: 3,
            window_secs: 3600,
        };
        for _ in 0..3 {
            assert_eq!(l.hit("a", limit).await.expect("hit"), Verdict::Allowed);
        }
        assert!(matches!(
            l.hit("a", limit).await.expect("hit"),
            Verdict::Refused { .. }
        ));
        assert_eq!(l.hit("b", limit).await.expect("hit"), Verdict::Allowed);
    }
}
