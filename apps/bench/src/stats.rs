//! Summaries of measured samples.

use std::time::Duration;

use serde_json::json;

/// Min, median, mean and max of a set of durations, in seconds, and the first and last
/// sample in measurement order (to show a trend as the database fills).
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub mean: f64,
    pub max: f64,
    pub first: f64,
    pub last: f64,
}

impl Spread {
    /// `None` for no samples.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let first = samples.first()?.as_secs_f64();
        let last = samples.last()?.as_secs_f64();
        let mut secs: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        secs.sort_by(f64::total_cmp);
        let (&min, &max) = (secs.first()?, secs.last()?);
        let mid = secs.len() / 2;
        let median = if secs.len() % 2 == 1 {
            secs[mid]
        } else {
            f64::midpoint(secs[mid - 1], secs[mid])
        };
        let mean = secs.iter().sum::<f64>() / secs.len() as f64;
        Some(Self {
            min,
            median,
            mean,
            max,
            first,
            last,
        })
    }

    /// One line of text: `min 0.041 s, median …`.
    pub fn line(&self) -> String {
        format!(
            "min {:.3} s, median {:.3} s, mean {:.3} s, max {:.3} s (first {:.3} s, last {:.3} s)",
            self.min, self.median, self.mean, self.max, self.first, self.last
        )
    }

    pub fn to_json(self) -> serde_json::Value {
        json!({
            "min": self.min, "median": self.median, "mean": self.mean, "max": self.max,
            "first": self.first, "last": self.last,
        })
    }
}

/// Latency percentiles over per-request samples in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
}

impl Latency {
    /// Sorts `samples` in place; `None` for no samples.
    pub fn of(samples: &mut [u32]) -> Option<Self> {
        samples.sort_unstable();
        Some(Self {
            p50: nearest_rank(samples, 50)?,
            p90: nearest_rank(samples, 90)?,
            p99: nearest_rank(samples, 99)?,
            max: *samples.last()?,
        })
    }

    /// One line of text, in milliseconds.
    pub fn line(&self) -> String {
        let ms = |us: u32| f64::from(us) / 1000.0;
        format!(
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }

    pub fn to_json(self) -> serde_json::Value {
        json!({ "p50": self.p50, "p90": self.p90, "p99": self.p99, "max": self.max })
    }
}

/// The nearest-rank percentile of sorted samples.
fn nearest_rank(sorted: &[u32], percent: usize) -> Option<u32> {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<u32> = (1..=100).rev().collect();
        let latency = Latency::of(&mut samples).expect("samples");
        assert_eq!(
            (latency.p50, latency.p90, latency.p99, latency.max),
            (50, 90, 99, 100)
        );
        assert!(Latency::of(&mut []).is_none());
    }

    #[test]
    fn spread_has_an_even_median() {
        let samples = [3, 1, 10, 2].map(Duration::from_secs);
        let spread = Spread::of(&samples).expect("samples");
        assert!((spread.median - 2.5).abs() < 1e-9);
        assert!((spread.first - 3.0).abs() < 1e-9 && (spread.last - 2.0).abs() < 1e-9);
        assert!((spread.mean - 4.0).abs() < 1e-9);
        assert!((spread.max - 10.0).abs() < 1e-9);
    }
}
