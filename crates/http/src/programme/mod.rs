//! 项目规则: the programme authority's rules for each academic year — the version in force,
//! every version with its difference from the one before, a change proposed field by field or
//! as a whole TOML document, and its approval by a second authority account (maker-checker).
//!
//! Pages: `/t/{slug}/rules` (the years), `/t/{slug}/rules/{academic_year}` (versions and
//! proposals), `…/edit` (the form), `…/versions/{version}`, `…/insurers` (准入保险公司: the
//! admitted insurers by tender lot, and a form proposing a change of them),
//! `/t/{slug}/rule-proposals/{id}` with approve, refuse and withdraw.
//!
//! API: the same under `/api/v1/t/{slug}/…`; a proposal is a whole document or field changes
//! applied to the version in force. Every action is one call of [`xiaobao_programme::Rules`].

mod api;
mod insurers;
mod pages;

use axum::http::Method;
use utoipa_axum::routes;
use xiaobao_authz::Permission;
use xiaobao_domain::{AcademicYear, Failure};
use xiaobao_programme::Rules;

use crate::web::auth::Routes;
use crate::web::call::Called;

pub fn routes() -> Routes {
    use Permission as P;
    let (read, propose, decide) = (P::RULES_READ, P::RULES_PROPOSE, P::RULES_DECIDE);
    Routes::new()
        .page(Method::GET, "/t/{slug}/rules", read, pages::show_years)
        .page(
            Method::GET,
            "/t/{slug}/rules/{academic_year}",
            read,
            pages::show_year,
        )
        .page(
            Method::GET,
            "/t/{slug}/rules/{academic_year}/versions/{version}",
            read,
            pages::show_version,
        )
        .page(
            Method::GET,
            "/t/{slug}/rules/{academic_year}/edit",
            propose,
            pages::show_edit,
        )
        .page(
            Method::POST,
            "/t/{slug}/rules/{academic_year}/edit",
            propose,
            pages::submit_edit,
        )
        .page(
            Method::GET,
            "/t/{slug}/rules/{academic_year}/insurers",
            read,
            insurers::show,
        )
        .page(
            Method::POST,
            "/t/{slug}/rules/{academic_year}/insurers",
            propose,
            insurers::submit,
        )
        .page(
            Method::GET,
            "/t/{slug}/rule-proposals/{id}",
            read,
            pages::show_proposal,
        )
        .page(
            Method::POST,
            "/t/{slug}/rule-proposals/{id}/approve",
            decide,
            pages::submit_approve,
        )
        .page(
            Method::POST,
            "/t/{slug}/rule-proposals/{id}/refuse",
            decide,
            pages::submit_refuse,
        )
        .page(
            Method::POST,
            "/t/{slug}/rule-proposals/{id}/withdraw",
            propose,
            pages::submit_withdraw,
        )
        .api(read, routes!(api::years))
        .api(read, routes!(api::year))
        .api(read, routes!(api::version))
        .api(read, routes!(api::fields))
        .api(propose, routes!(api::draft))
        .api(propose, routes!(api::propose))
        .api(read, routes!(api::insurers))
        .api(propose, routes!(api::propose_insurers))
        .api(read, routes!(api::proposal))
        .api(decide, routes!(api::approve))
        .api(decide, routes!(api::refuse))
        .api(propose, routes!(api::withdraw))
}

fn rules(call: &impl Called) -> Rules {
    Rules::new(call.caller())
}

/// A version number from a path, or a miss of that version (404, audited as asked for).
pub(super) fn version_of(raw: &str, year: AcademicYear) -> Result<i32, Failure> {
    raw.parse::<i32>().ok().filter(|v| *v > 0).ok_or_else(|| {
        xiaobao_domain::Refusal::out_of_scope("rules_version", format!("{year}#{raw}")).into()
    })
}
