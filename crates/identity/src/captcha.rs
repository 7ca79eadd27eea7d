//! A small self-contained image captcha: four characters drawn as distorted strokes in an SVG
//! with noise lines, no external service.
//!
//! Nothing is stored when a challenge is issued: its token (`<expiry>.<nonce>.<mac>`) carries
//! the expiry, a random nonce and an HMAC-SHA256 over the scope (the tenant), expiry, nonce
//! and answer. Checking recomputes the MAC with the typed answer. The caller makes a token
//! single-use by claiming its nonce once (Redis `SET NX` or in process) before checking.
//!
//! The glyphs are paths, not text, so the answer is not in the markup.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// Characters used: no 0/O, 1/I/L that people confuse.
pub const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Characters per challenge.
pub const LENGTH: usize = 4;
/// Image width (CSS pixels).
pub const WIDTH: f64 = 132.0;
/// Image height (CSS pixels).
pub const HEIGHT: f64 = 44.0;

/// A challenge to show.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Sent back with the answer (hidden form field).
    pub token: String,
    /// The image, an `<svg>` element to put into the page as is.
    pub svg: String,
    pub expires_at: DateTime<Utc>,
}

/// Why an answer was not accepted; `Display` is the Chinese message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptchaError {
    #[error("请输入验证码")]
    Missing,
    #[error("验证码错误，请重新输入")]
    Wrong,
    #[error("验证码已失效，请重新输入新的验证码")]
    ExpiredOrUsed,
}

/// Issues and checks challenges with one key.
#[derive(Clone)]
pub struct Captcha {
    key: Vec<u8>,
}

impl std::fmt::Debug for Captcha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Captcha(***)")
    }
}

/// The parts of a well-formed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenParts {
    /// After this instant the token is refused.
    pub expires_at: DateTime<Utc>,
    /// Random, URL-safe: the key of the single-use claim.
    pub nonce: String,
}

impl Captcha {
    /// `key` is any secret of the service; it is used only under a captcha-specific label.
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, scope: &str, expiry: i64, nonce: &str, answer: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        mac.update(b"xiaobao captcha v1\x1f");
        mac.update(scope.as_bytes());
        mac.update(b"\x1f");
        mac.update(expiry.to_string().as_bytes());
        mac.update(b"\x1f");
        mac.update(nonce.as_bytes());
        mac.update(b"\x1f");
        mac.update(normalise(answer).as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new random challenge for `scope`, valid for `ttl` from `now`.
    pub fn issue(&self, scope: &str, now: DateTime<Utc>, ttl: Duration) -> Challenge {
        let mut rng = rand::rng();
        let answer: String = (0..LENGTH)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        self.issue_with_answer(scope, &answer, now, ttl)
    }

    /// A challenge whose answer is `answer` (tests make known challenges with it).
    pub fn issue_with_answer(
        &self,
        scope: &str,
        answer: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Challenge {
        let expires_at = now + ttl;
        let expiry = expires_at.timestamp();
        let nonce = hex::encode(rand::random::<[u8; 12]>());
        let mac = self.mac(scope, expiry, &nonce, answer);
        Challenge {
            token: format!("{expiry}.{nonce}.{mac}"),
            svg: render_svg(&normalise(answer)),
            expires_at,
        }
    }

    /// The expiry and nonce of a well-formed token (`None` otherwise).
    pub fn parts(token: &str) -> Option<TokenParts> {
        let mut it = token.split('.');
        let (expiry, nonce, mac) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some()
            || nonce.len() != 24
            || !nonce.bytes().all(|b| b.is_ascii_hexdigit())
            || mac.len() != 64
        {
            return None;
        }
        let expiry: i64 = expiry.parse().ok()?;
        Some(TokenParts {
            expires_at: DateTime::from_timestamp(expiry, 0)?,
            nonce: nonce.to_string(),
        })
    }

    /// Checks `answer` against the token at `now` (case and spaces do not matter). Claiming
    /// the nonce (single use) is the caller's part and comes first.
    pub fn check(
        &self,
        scope: &str,
        token: &str,
        answer: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CaptchaError> {
        let parts = Self::parts(token).ok_or(CaptchaError::ExpiredOrUsed)?;
        if parts.expires_at <= now {
            return Err(CaptchaError::ExpiredOrUsed);
        }
        if normalise(answer).is_empty() {
            return Err(CaptchaError::Missing);
        }
        let Some(given) = token.rsplit('.').next() else {
            return Err(CaptchaError::ExpiredOrUsed);
        };
        let expected = self.mac(scope, parts.expires_at.timestamp(), &parts.nonce, answer);
        if constant_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(CaptchaError::Wrong)
        }
    }
}

/// Upper case, without spaces; full-width letters and digits made half-width.
fn normalise(answer: &str) -> String {
    answer
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_uppercase)
        .take(16)
        .collect()
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The strokes of a glyph on a 4 × 6 grid (y down), one polyline per stroke.
fn strokes(c: char) -> &'static [&'static [(f64, f64)]] {
    match c {
        'A' => &[&[(0., 6.), (2., 0.), (4., 6.)], &[(1., 4.), (3., 4.)]],
        'B' => &[
            &[
                (0., 0.),
                (0., 6.),
                (3., 6.),
                (4., 5.),
                (4., 4.),
                (3., 3.),
                (0., 3.),
            ],
            &[(0., 0.), (3., 0.), (4., 1.), (4., 2.), (3., 3.)],
        ],
        'C' => &[&[
            (4., 1.),
            (3., 0.),
            (1., 0.),
            (0., 1.),
            (0., 5.),
            (1., 6.),
            (3., 6.),
            (4., 5.),
        ]],
        'D' => &[&[
            (0., 0.),
            (0., 6.),
            (2., 6.),
            (4., 4.),
            (4., 2.),
            (2., 0.),
            (0., 0.),
        ]],
        'E' => &[
            &[(4., 0.), (0., 0.), (0., 6.), (4., 6.)],
            &[(0., 3.), (3., 3.)],
        ],
        'F' => &[&[(4., 0.), (0., 0.), (0., 6.)], &[(0., 3.), (3., 3.)]],
        'G' => &[&[
            (4., 1.),
            (3., 0.),
            (1., 0.),
            (0., 1.),
            (0., 5.),
            (1., 6.),
            (3., 6.),
            (4., 5.),
            (4., 3.),
            (2., 3.),
        ]],
        'H' => &[
            &[(0., 0.), (0., 6.)],
            &[(4., 0.), (4., 6.)],
            &[(0., 3.), (4., 3.)],
        ],
        'J' => &[
            &[(1., 0.), (4., 0.)],
            &[(3., 0.), (3., 5.), (2., 6.), (1., 6.), (0., 5.)],
        ],
        'K' => &[
            &[(0., 0.), (0., 6.)],
            &[(4., 0.), (0., 4.)],
            &[(1., 3.), (4., 6.)],
        ],
        'M' => &[&[(0., 6.), (0., 0.), (2., 3.), (4., 0.), (4., 6.)]],
        'N' => &[&[(0., 6.), (0., 0.), (4., 6.), (4., 0.)]],
        'P' => &[&[
            (0., 6.),
            (0., 0.),
            (3., 0.),
            (4., 1.),
            (4., 2.),
            (3., 3.),
            (0., 3.),
        ]],
        'Q' => &[
            &[
                (1., 0.),
                (0., 1.),
                (0., 5.),
                (1., 6.),
                (3., 6.),
                (4., 5.),
                (4., 1.),
                (3., 0.),
                (1., 0.),
            ],
            &[(2., 4.), (4., 6.)],
        ],
        'R' => &[
            &[
                (0., 6.),
                (0., 0.),
                (3., 0.),
                (4., 1.),
                (4., 2.),
                (3., 3.),
                (0., 3.),
            ],
            &[(2., 3.), (4., 6.)],
        ],
        'S' => &[&[
            (4., 1.),
            (3., 0.),
            (1., 0.),
            (0., 1.),
            (0., 2.),
            (1., 3.),
            (3., 3.),
            (4., 4.),
            (4., 5.),
            (3., 6.),
            (1., 6.),
            (0., 5.),
        ]],
        'T' => &[&[(0., 0.), (4., 0.)], &[(2., 0.), (2., 6.)]],
        'U' => &[&[(0., 0.), (0., 5.), (1., 6.), (3., 6.), (4., 5.), (4., 0.)]],
        'V' => &[&[(0., 0.), (2., 6.), (4., 0.)]],
        'W' => &[&[(0., 0.), (1., 6.), (2., 3.), (3., 6.), (4., 0.)]],
        'X' => &[&[(0., 0.), (4., 6.)], &[(4., 0.), (0., 6.)]],
        'Y' => &[&[(0., 0.), (2., 3.), (4., 0.)], &[(2., 3.), (2., 6.)]],
        'Z' => &[&[(0., 0.), (4., 0.), (0., 6.), (4., 6.)]],
        '2' => &[&[
            (0., 1.),
            (1., 0.),
            (3., 0.),
            (4., 1.),
            (4., 2.),
            (0., 6.),
            (4., 6.),
        ]],
        '3' => &[
            &[
                (0., 1.),
                (1., 0.),
                (3., 0.),
                (4., 1.),
                (4., 2.),
                (3., 3.),
                (4., 4.),
                (4., 5.),
                (3., 6.),
                (1., 6.),
                (0., 5.),
            ],
            &[(1., 3.), (3., 3.)],
        ],
        '4' => &[&[(3., 6.), (3., 0.), (0., 4.), (4., 4.)]],
        '5' => &[&[
            (4., 0.),
            (0., 0.),
            (0., 3.),
            (3., 3.),
            (4., 4.),
            (4., 5.),
            (3., 6.),
            (0., 6.),
        ]],
        '6' => &[&[
            (3., 0.),
            (1., 0.),
            (0., 1.),
            (0., 5.),
            (1., 6.),
            (3., 6.),
            (4., 5.),
            (4., 4.),
            (3., 3.),
            (0., 3.),
        ]],
        '7' => &[&[(0., 0.), (4., 0.), (1., 6.)]],
        '8' => &[
            &[
                (1., 0.),
                (3., 0.),
                (4., 1.),
                (4., 2.),
                (3., 3.),
                (1., 3.),
                (0., 4.),
                (0., 5.),
                (1., 6.),
                (3., 6.),
                (4., 5.),
                (4., 4.),
                (3., 3.),
            ],
            &[(1., 3.), (0., 2.), (0., 1.), (1., 0.)],
        ],
        '9' => &[&[
            (4., 3.),
            (1., 3.),
            (0., 2.),
            (0., 1.),
            (1., 0.),
            (3., 0.),
            (4., 1.),
            (4., 5.),
            (3., 6.),
            (1., 6.),
        ]],
        _ => &[],
    }
}

const INKS: [&str; 5] = ["#1d3f72", "#7a1f1f", "#1f5e3a", "#5a2d82", "#7a4d00"];

/// The SVG of `answer`: each glyph scaled, rotated, shifted and its points jittered, over a
/// light background with noise curves and dots in the glyphs' colours.
fn render_svg(answer: &str) -> String {
    let mut rng = rand::rng();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"captcha\" width=\"{WIDTH}\" \
         height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"图形验证码\"><rect width=\"100%\" height=\"100%\" fill=\"#f3f6fa\"/>"
    );
    let noise = |rng: &mut rand::rngs::ThreadRng, out: &mut String| {
        let ink = INKS[rng.random_range(0..INKS.len())];
        out.push_str(&format!(
            "<path d=\"M{:.1} {:.1} Q{:.1} {:.1} {:.1} {:.1}\" stroke=\"{ink}\" \
             stroke-width=\"{:.1}\" fill=\"none\" opacity=\"0.55\"/>",
            rng.random_range(0.0..20.0),
            rng.random_range(4.0..HEIGHT - 4.0),
            rng.random_range(30.0..WIDTH - 30.0),
            rng.random_range(-10.0..HEIGHT + 10.0),
            rng.random_range(WIDTH - 20.0..WIDTH),
            rng.random_range(4.0..HEIGHT - 4.0),
            rng.random_range(0.8..1.6),
        ));
    };
    for _ in 0..3 {
        noise(&mut rng, &mut out);
    }
    let cell = (WIDTH - 16.0) / answer.chars().count().max(1) as f64;
    for (i, c) in answer.chars().enumerate() {
        let ink = INKS[rng.random_range(0..INKS.len())];
        let sx = rng.random_range(3.6..4.6);
        let sy = rng.random_range(4.2..5.0);
        let angle = rng.random_range(-0.35f64..0.35);
        let (sin, cos) = angle.sin_cos();
        let cx = 8.0 + cell * (i as f64 + 0.5) + rng.random_range(-3.0..3.0);
        let cy = HEIGHT / 2.0 + rng.random_range(-3.0..3.0);
        let mut d = String::new();
        for stroke in strokes(c) {
            for (k, (x, y)) in stroke.iter().enumerate() {
                // Centre the 4 × 6 grid, scale, rotate, then jitter the point a little.
                let (px, py) = ((x - 2.0) * sx, (y - 3.0) * sy);
                let rx = px * cos - py * sin + cx + rng.random_range(-0.8..0.8);
                let ry = px * sin + py * cos + cy + rng.random_range(-0.8..0.8);
                d.push_str(&format!(
                    "{}{rx:.1} {ry:.1}",
                    if k == 0 { "M" } else { " L" }
                ));
            }
            d.push(' ');
        }
        out.push_str(&format!(
            "<path d=\"{}\" stroke=\"{ink}\" stroke-width=\"{:.1}\" fill=\"none\" \
             stroke-linecap=\"round\" stroke-linejoin=\"round\"/>",
            d.trim_end(),
            rng.random_range(2.0..2.8),
        ));
    }
    for _ in 0..2 {
        noise(&mut rng, &mut out);
    }
    for _ in 0..18 {
        out.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{:.1}\" fill=\"{}\" opacity=\"0.5\"/>",
            rng.random_range(0.0..WIDTH),
            rng.random_range(0.0..HEIGHT),
            rng.random_range(0.5..1.3),
            INKS[rng.random_range(0..INKS.len())],
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use xiaobao_domain::Clock;

    #[test]
    fn every_character_has_strokes() {
        for c in ALPHABET {
            assert!(!strokes(char::from(*c)).is_empty(), "{}", char::from(*c));
        }
    }

    #[test]
    fn an_answer_is_checked_against_its_token_only() {
        let captcha = Captcha::new(b"key of the test");
        let now = Clock::at_china("2025-09-15 10:00").expect("moment").now();
        let ch = captcha.issue_with_answer("henan", "AB7K", now, Duration::minutes(5));
        assert!(ch.svg.starts_with("<svg") && ch.svg.ends_with("</svg>"));
        assert!(!ch.svg.contains("AB7K"), "the answer is not in the markup");
        assert_eq!(captcha.check("henan", &ch.token, " ab7k ", now), Ok(()));
        assert_eq!(
            captcha.check("henan", &ch.token, "AB7X", now),
            Err(CaptchaError::Wrong)
        );
        assert_eq!(
            captcha.check("shanghai", &ch.token, "AB7K", now),
            Err(CaptchaError::Wrong),
            "another tenant's token"
        );
        assert_eq!(
            captcha.check("henan", &ch.token, "", now),
            Err(CaptchaError::Missing)
        );
        assert_eq!(
            captcha.check("henan", &ch.token, "AB7K", now + Duration::minutes(6)),
            Err(CaptchaError::ExpiredOrUsed)
        );
        let other = Captcha::new(b"another key");
        assert_eq!(
            other.check("henan", &ch.token, "AB7K", now),
            Err(CaptchaError::Wrong)
        );
        // A changed expiry breaks the MAC.
        let (_, rest) = ch.token.split_once('.').expect("token");
        let later = format!("{}.{rest}", now.timestamp() + 3600);
        assert_eq!(
            captcha.check("henan", &later, "AB7K", now),
            Err(CaptchaError::Wrong)
        );
        assert_eq!(
            captcha.check("henan", "garbage", "AB7K", now),
            Err(CaptchaError::ExpiredOrUsed)
        );
    }

    #[test]
    fn random_challenges_differ() {
        let captcha = Captcha::new(b"k");
        let now = Clock::at_china("2025-09-15 10:00").expect("moment").now();
        let a = captcha.issue("t", now, Duration::minutes(5));
        let b = captcha.issue("t", now, Duration::minutes(5));
        assert_ne!(a.token, b.token);
        assert_ne!(a.svg, b.svg);
        assert_eq!(
            Captcha::parts(&a.token).map(|p| p.expires_at.timestamp()),
            Some(a.expires_at.timestamp())
        );
    }
}
