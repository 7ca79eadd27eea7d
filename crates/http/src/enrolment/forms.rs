//! What the enrolment forms and request bodies carry, parsed into the service's inputs; the
//! roster upload's multipart body (bounded) and its hourly limits.

use axum::extract::Request;
use axum::http::header;
use chrono::NaiveDate;
use futures::TryStreamExt;
use serde::Deserialize;
use utoipa::ToSchema;
use xiaobao_domain::ids::EnrolmentId;
use xiaobao_domain::{Failure, Refusal};
use xiaobao_enrolment::RosterUpload;
use xiaobao_enrolment::requests::ModificationInput;
use xiaobao_enrolment::school::DraftInput;
use xiaobao_enrolment::service::MAX_ROSTER_BYTES;

use crate::AppState;
use crate::web::auth::Current;

/// An optional number from a form field ("" is none).
fn opt_num<T: std::str::FromStr>(
    v: &Option<String>,
    field: &'static str,
    message: &str,
) -> Result<Option<T>, Failure> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| Refusal::invalid_field(field, message).into()),
    }
}

/// What a school enters for a product (form).
#[derive(Debug, Default, Deserialize)]
pub(super) struct DraftForm {
    #[serde(default)]
    headcount: Option<String>,
    #[serde(default)]
    company_id: Option<String>,
    #[serde(default)]
    cover_start: Option<String>,
    #[serde(default)]
    seq: Option<String>,
}

impl DraftForm {
    pub(super) fn input(&self) -> Result<(DraftInput, i16), Failure> {
        let headcount = opt_num(&self.headcount, "headcount", "投保人数应为整数")?;
        let company_id = opt_num(&self.company_id, "company_id", "请选择保险机构")?;
        let cover_start =
            match self.cover_start.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(s) => Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                    Refusal::invalid_field("cover_start", "日期格式应为 YYYY-MM-DD")
                })?),
            };
        let seq = opt_num(&self.seq, "seq", "险种序号无效")?.unwrap_or(1);
        Ok((
            DraftInput {
                headcount,
                company_id,
                cover_start,
            },
            seq,
        ))
    }
}

/// The JSON body of a draft: [`DraftInput`] and the enrolment's `seq` (1 unless a second
/// insurer's).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = EnrolmentDraft)]
pub(crate) struct DraftJson {
    /// Headcount insured.
    #[serde(default)]
    pub headcount: Option<u32>,
    /// The insurer (company id).
    #[serde(default)]
    pub company_id: Option<i64>,
    /// Cover start (`YYYY-MM-DD`).
    #[serde(default)]
    pub cover_start: Option<NaiveDate>,
    /// 1, or 2 for the enrolment with a second insurer (default 1).
    #[serde(default)]
    pub seq: Option<i16>,
}

impl DraftJson {
    pub(super) fn input(&self) -> (DraftInput, i16) {
        (
            DraftInput {
                headcount: self.headcount,
                company_id: self.company_id,
                cover_start: self.cover_start,
            },
            self.seq.unwrap_or(1),
        )
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ModificationForm {
    #[serde(default)]
    new_headcount: Option<String>,
    #[serde(default)]
    new_company_id: Option<String>,
    #[serde(default)]
    new_roster_id: Option<String>,
    #[serde(default)]
    reason: String,
}

impl ModificationForm {
    pub(super) fn input(&self) -> Result<ModificationInput, Failure> {
        Ok(ModificationInput {
            new_headcount: opt_num(&self.new_headcount, "new_headcount", "人数应为整数")?,
            new_company_id: opt_num(&self.new_company_id, "new_company_id", "请选择保险机构")?,
            new_roster_id: opt_num(&self.new_roster_id, "new_roster_id", "花名册编号无效")?,
            reason: self.reason.clone(),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SecondForm {
    #[serde(default)]
    company_id: Option<String>,
    #[serde(default)]
    pub reason: String,
}

impl SecondForm {
    /// The second insurer chosen.
    pub(super) fn company(&self) -> Result<i64, Failure> {
        opt_num(&self.company_id, "company_id", "请选择保险机构")?
            .ok_or_else(|| xiaobao_enrolment::Problem::NoInsurer.into())
    }
}

/// A request for a second insurer.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SecondInsurerInput)]
pub(crate) struct SecondJson {
    /// The second insurer (company id).
    pub company_id: i64,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Roster uploads one enrolment takes per hour.
const UPLOADS_PER_ENROLMENT_PER_HOUR: u32 = 20;
/// Roster uploads one account makes per hour (a central school or broker works for many).
const UPLOADS_PER_ACCOUNT_PER_HOUR: u32 = 120;

/// Counts one upload of the account to the enrolment; refused (429) when either is over its
/// hourly limit. Checked before the body is read.
pub(super) async fn upload_allowed(
    state: &AppState,
    slug: &str,
    current: &Current,
    enrolment_id: EnrolmentId,
) -> Result<(), Failure> {
    let hour = |max| xiaobao_identity::Limit {
        max,
        window_secs: 3600,
    };
    let account = current.viewer().account_id;
    let keys = [
        (
            format!("roster:enrolment:{slug}:{enrolment_id}"),
            hour(UPLOADS_PER_ENROLMENT_PER_HOUR),
        ),
        (
            format!("roster:account:{slug}:{account}"),
            hour(UPLOADS_PER_ACCOUNT_PER_HOUR),
        ),
    ];
    for (key, limit) in keys {
        match state.auth.limiter.hit(&key, limit).await {
            Ok(xiaobao_identity::Verdict::Allowed) => {}
            Ok(xiaobao_identity::Verdict::Refused { retry_after_secs }) => {
                let message = crate::identity::anon::retry_message("上传花名册", retry_after_secs);
                return Err(
                    Refusal::rate_limited("rate_limited", message, retry_after_secs)
                        .on("file")
                        .into(),
                );
            }
            Err(error) => return Err(Failure::Unavailable(Box::new(error))),
        }
    }
    Ok(())
}

/// Reads the multipart fields `headcount` and `file` (at most [`MAX_ROSTER_BYTES`]).
pub(super) async fn read_upload(request: Request) -> Result<RosterUpload, Failure> {
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| Refusal::invalid_field("file", "请以表单上传文件（multipart/form-data）"))?;
    let broken = || Refusal::invalid_field("file", "上传内容不完整，请重新上传");
    let stream = request.into_body().into_data_stream();
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut upload = RosterUpload::default();
    while let Some(mut field) = multipart.next_field().await.map_err(|_| broken())? {
        match field.name() {
            Some("headcount") => {
                upload.headcount = Some(field.text().await.map_err(|_| broken())?);
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                let mut bytes = Vec::new();
                while let Some(chunk) = field.try_next().await.map_err(|_| broken())? {
                    if bytes.len() + chunk.len() > MAX_ROSTER_BYTES {
                        return Err(Refusal::too_large("文件过大，花名册最大 20 MB")
                            .on("file")
                            .into());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if !bytes.is_empty() || !name.is_empty() {
                    upload.file = Some((name, bytes));
                }
            }
            _ => {}
        }
    }
    Ok(upload)
}
