//! Demo programme rules for the three tenants of the seed documents, embedded as TOML.
//!
//! The files live in `crates/domain/programmes/`; values the source documents do not give are
//! marked there as “配置值，由主管部门确认”.

/// Tenant slugs that have demo rules.
pub const DEMO_SLUGS: [&str; 3] = ["henan", "liupanshui", "shanghai"];

const HENAN: &str = include_str!("../programmes/henan-2025-2026.toml");
const LIUPANSHUI: &str = include_str!("../programmes/liupanshui-2025-2026.toml");
const SHANGHAI: &str = include_str!("../programmes/shanghai-2025-2026.toml");

/// The demo rules TOML (academic year 2025-2026) for a tenant slug. Accepts the bare slug
/// (`"henan"`, `"liupanshui"`, `"shanghai"`) or the file stem (`"henan-2025-2026"`); `None` for
/// anything else. Parse with [`ProgrammeRules::from_toml_str`](crate::rules::ProgrammeRules::from_toml_str).
#[must_use]
pub fn demo_rules(slug: &str) -> Option<&'static str> {
    match slug {
        "henan" | "henan-2025-2026" => Some(HENAN),
        "liupanshui" | "liupanshui-2025-2026" => Some(LIUPANSHUI),
        "shanghai" | "shanghai-2025-2026" => Some(SHANGHAI),
        _ => None,
    }
}
