//! The API of 项目规则.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use xiaobao_domain::ids::RulesProposalId;
use xiaobao_domain::{AcademicYear, Failure, Outcome, Refusal};
use xiaobao_programme::edit::{self, Field};
use xiaobao_programme::{
    AdmissionInput, Draft, InsurersView, ProposalDetail, ProposalView, Proposed, RulesYear,
    VersionView, YearSummary,
};

use super::{rules, version_of};
use crate::web::call::{ApiCall, path_id};
use crate::web::error::{ApiError, ErrorBody, bad_json};

/// A proposed change: the whole TOML document, or field changes applied to the version in
/// force — exactly one of the two — and why.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RulesProposalBody)]
pub(crate) struct ProposalBody {
    /// The complete rules document of the year (TOML).
    #[serde(default)]
    document: Option<String>,
    /// Field path → new value, e.g. `{"products[1].rates[1].rate_fen": 1200,
    /// "claims.settle_tiers[1].working_days": 4}`; paths as `GET …/fields` lists them, values as
    /// numbers, booleans or text (enumerated values by code or Chinese label; lists separated by
    /// commas); an empty text unsets an optional field.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    changes: Option<BTreeMap<String, serde_json::Value>>,
    /// Why the rules change (1–500 characters).
    #[serde(default)]
    reason: String,
}

/// The admitted insurers proposed for a year, and why.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RulesInsurersBody)]
pub(crate) struct InsurersBody {
    /// Every entry the year's rules are to list (an empty list: every company with a branch
    /// in the programme is admitted in its branch's region).
    #[serde(default)]
    entries: Vec<AdmissionInput>,
    /// Why they change (1–500 characters).
    #[serde(default)]
    reason: String,
}

/// A refusal's reason.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RulesRefusalBody)]
pub(crate) struct ReasonBody {
    /// Why the proposal is not approved (shown to the proposer; 1–500 characters).
    #[serde(default)]
    reason: String,
}

fn proposed(body: ProposalBody) -> Result<(Proposed, String), Failure> {
    let proposed = match (body.document, body.changes) {
        (Some(document), None) => Proposed::Document(document),
        (None, Some(changes)) => Proposed::Changes(
            changes
                .into_iter()
                .map(|(path, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::Array(items) => items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                            .collect::<Vec<_>>()
                            .join(","),
                        other => other.to_string(),
                    };
                    (path, text)
                })
                .collect(),
        ),
        _ => {
            return Err(Refusal::invalid_field(
                "document",
                "请提交完整的方案规则文件（document）或字段修改（changes），二者选其一",
            )
            .into());
        }
    };
    Ok((proposed, body.reason))
}

/// The academic years with rules or proposals, newest first.
#[utoipa::path(get, path = "/api/v1/t/{slug}/rules", operation_id = "list_rules_years", tag = "rules",
    params(("slug" = String, Path, description = "租户标识")),
    responses((status = 200, body = Vec<YearSummary>, description = "学年及现行版本")))]
pub(crate) async fn years(call: ApiCall) -> Result<Json<Vec<YearSummary>>, ApiError> {
    call.answer(rules(&call).years().await).await
}

/// A year's rules: the version in force, every version and the proposals.
#[utoipa::path(get, path = "/api/v1/t/{slug}/rules/{academic_year}/versions", operation_id = "get_rules_year", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("academic_year" = String, Path, description = "学年，如 2026-2027")),
    responses((status = 200, body = RulesYear), (status = 422, body = ErrorBody)))]
pub(crate) async fn year(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<RulesYear>, ApiError> {
    let outcome = async { rules(&call).year(AcademicYear::asked(&path.1)?).await }.await;
    call.answer(outcome).await
}

/// One version of a year's rules with its TOML document.
#[utoipa::path(get, path = "/api/v1/t/{slug}/rules/{academic_year}/versions/{version}", operation_id = "get_rules_version", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("academic_year" = String, Path, description = "学年，如 2026-2027"),
        ("version" = i32, Path, description = "版本号")),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn version(
    call: ApiCall,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<VersionView>, ApiError> {
    let (_, year, version) = path;
    let outcome = async {
        let year = AcademicYear::asked(&year)?;
        let v = version_of(&version, year)?;
        rules(&call).version(year, Some(v)).await
    }
    .await;
    call.answer(outcome).await
}

/// The editable fields of the version in force (for a year without rules, of the copy of the
/// year before), with the paths a proposal's `changes` use.
#[utoipa::path(get, path = "/api/v1/t/{slug}/rules/{academic_year}/fields", operation_id = "get_rules_fields", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("academic_year" = String, Path, description = "学年，如 2026-2027")),
    responses((status = 200, body = Vec<Field>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn fields(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<Vec<Field>>, ApiError> {
    let outcome: Outcome<Vec<Field>> = async {
        let current = rules(&call).draft(AcademicYear::asked(&path.1)?).await?;
        edit::fields(&current.document)
            .map_err(|p| xiaobao_programme::Problem::Invalid(vec![p]).into())
    }
    .await;
    call.answer(outcome).await
}

/// What a change of a year's rules starts from: the version in force, or for a year without
/// rules the latest version of the year before copied to it (开启新学年).
#[utoipa::path(get, path = "/api/v1/t/{slug}/rules/{academic_year}/draft", operation_id = "get_rules_draft", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("academic_year" = String, Path, description = "学年，如 2026-2027")),
    responses((status = 200, body = Draft), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn draft(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<Draft>, ApiError> {
    let outcome = async { rules(&call).draft(AcademicYear::asked(&path.1)?).await }.await;
    call.answer(outcome).await
}

/// Proposes a change of a year's rules; it takes effect when another authority account
/// approves it. Refused when the year already has a pending proposal (409), or on the first
/// invalid field (422, `field` = its path, the message listing every problem).
#[utoipa::path(post, path = "/api/v1/t/{slug}/rules/{academic_year}/proposals", operation_id = "propose_rules_change", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("academic_year" = String, Path, description = "学年，如 2026-2027")),
    request_body = ProposalBody,
    responses((status = 201, body = ProposalView, description = "已提交，待审核"),
        (status = 409, body = ErrorBody, description = "已有待审核的修改"), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn propose(
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<ProposalBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ProposalView>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = async {
        let year = AcademicYear::asked(&path.1)?;
        let (proposed, reason) = proposed(body)?;
        rules(&call).propose(year, proposed, &reason).await
    }
    .await;
    let Json(view) = call.answer(outcome).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One proposal with its changes against the version it was written for.
#[utoipa::path(get, path = "/api/v1/t/{slug}/rule-proposals/{id}", operation_id = "get_rules_proposal", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "修改编号")),
    responses((status = 200, body = ProposalDetail), (status = 404, body = ErrorBody)))]
pub(crate) async fn proposal(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<ProposalDetail>, ApiError> {
    let outcome = async {
        rules(&call)
            .proposal(path_id::<RulesProposalId>(&path.1)?)
            .await
    }
    .await;
    call.answer(outcome).await
}

/// Approves another account's proposal: its document becomes the year's new version. One's
/// own proposal is refused (403 `self_decision`); a proposal written against an older version
/// is refused (409 `proposal_stale`).
#[utoipa::path(post, path = "/api/v1/t/{slug}/rule-proposals/{id}/approve", operation_id = "approve_rules_proposal", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "修改编号")),
    responses((status = 200, body = ProposalView, description = "已生效"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn approve(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<ProposalView>, ApiError> {
    let outcome = async {
        rules(&call)
            .approve(path_id::<RulesProposalId>(&path.1)?)
            .await
    }
    .await;
    call.answer(outcome).await
}

/// Refuses another account's proposal with a reason.
#[utoipa::path(post, path = "/api/v1/t/{slug}/rule-proposals/{id}/refuse", operation_id = "refuse_rules_proposal", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "修改编号")),
    request_body = ReasonBody,
    responses((status = 200, body = ProposalView, description = "未通过"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn refuse(
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<ReasonBody>, JsonRejection>,
) -> Result<Json<ProposalView>, ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = async {
        rules(&call)
            .refuse(path_id::<RulesProposalId>(&path.1)?, &body.reason)
            .await
    }
    .await;
    call.answer(outcome).await
}

/// Withdraws one's own pending proposal.
#[utoipa::path(post, path = "/api/v1/t/{slug}/rule-proposals/{id}/withdraw", operation_id = "withdraw_rules_proposal", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("id" = i64, Path, description = "修改编号")),
    responses((status = 200, body = ProposalView, description = "已撤回"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn withdraw(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<ProposalView>, ApiError> {
    let outcome = async {
        rules(&call)
            .withdraw(path_id::<RulesProposalId>(&path.1)?)
            .await
    }
    .await;
    call.answer(outcome).await
}

/// The admitted insurers of a year's rules (the version in force, or a new year's draft with
/// the tenders that still cover it), with the insurer companies and regions to choose from.
#[utoipa::path(get, path = "/api/v1/t/{slug}/rules/{academic_year}/insurers", operation_id = "get_rules_insurers", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("academic_year" = String, Path, description = "学年，如 2026-2027")),
    responses((status = 200, body = InsurersView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn insurers(
    call: ApiCall,
    Path(path): Path<(String, String)>,
) -> Result<Json<InsurersView>, ApiError> {
    let outcome = async { rules(&call).insurers(AcademicYear::asked(&path.1)?).await }.await;
    call.answer(outcome).await
}

/// Proposes the admitted insurers of a year: the rules document with its
/// `[[enrolment.insurers]]` replaced by `entries`, as a proposal another authority account
/// approves. For an opened year, removing an admission that an enrolment uses is refused (409
/// `admission_in_use`); an unknown company or region is 422.
#[utoipa::path(put, path = "/api/v1/t/{slug}/rules/{academic_year}/insurers", operation_id = "propose_rules_insurers", tag = "rules",
    params(("slug" = String, Path, description = "租户标识"), ("academic_year" = String, Path, description = "学年，如 2026-2027")),
    request_body = InsurersBody,
    responses((status = 201, body = ProposalView, description = "已提交，待审核"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn propose_insurers(
    call: ApiCall,
    Path(path): Path<(String, String)>,
    body: Result<Json<InsurersBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ProposalView>), ApiError> {
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let outcome = async {
        let year = AcademicYear::asked(&path.1)?;
        rules(&call)
            .propose_insurers(year, &body.entries, &body.reason)
            .await
    }
    .await;
    let Json(view) = call.answer(outcome).await?;
    Ok((StatusCode::CREATED, Json(view)))
}
