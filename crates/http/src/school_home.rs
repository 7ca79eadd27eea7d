//! 系统首页 of a school (seed 001, 一、学校操作 (二)): the two panels of 保险数据上传 for the
//! academic year containing today — 投保数据 (per product: the deadline, the status and
//! 前往操作 to the enrolment page) and 承保数据 (per product: 已承保 / 待承保 / 未投保, the
//! insurer, endorsements owed or issued, and 查看). Before that year is opened the panels say
//! so and show the previous year (上一学年), read-only. Read through the enrolment service
//! with the school's own scope; a year never opened at all is said plainly.

use xiaobao_domain::ids::OrgId;
use xiaobao_domain::{EndorsementStatus, EnrolmentStage};
use xiaobao_enrolment::{EnrolmentStatus, Enrolments};
use xiaobao_identity::Caller;

use crate::web::tenant::PageTenant;

/// One product's line in a panel.
pub(crate) struct PanelRow {
    pub product: String,
    pub status: &'static str,
    pub detail: String,
    /// The status is a warning (a deadline passed without submitting).
    pub urgent: bool,
}

/// The two panels.
pub(crate) struct SchoolPanels {
    /// The academic year shown.
    pub year: String,
    /// Set when the year containing today is not open: the note saying so.
    pub not_open: Option<String>,
    /// "9月30日前" — the enrolment deadline of the year shown.
    pub deadline: String,
    pub enrolment_open: bool,
    pub enrolment: Vec<PanelRow>,
    pub underwriting: Vec<PanelRow>,
    /// 前往操作 / 查看: the enrolment page.
    pub href: String,
    /// Nothing to show: no year was ever opened.
    pub empty: Option<String>,
}

/// The panels of the caller's own school.
pub(crate) async fn panels(page: &PageTenant, caller: &Caller) -> SchoolPanels {
    let service = Enrolments::new(caller.clone());
    let href = page.href("enrolment");
    let Ok(o) = service.overview(OrgId(caller.viewer.org_id)).await else {
        let year = xiaobao_domain::AcademicYear::containing_date(caller.clock.today());
        return SchoolPanels {
            year: year.to_string(),
            not_open: None,
            deadline: String::new(),
            enrolment_open: false,
            enrolment: Vec::new(),
            underwriting: Vec::new(),
            href,
            empty: Some(format!(
                "{year} 学年尚未开放投保，开放后即可在“投保数据”中填写投保信息。"
            )),
        };
    };
    let endorsements = service.endorsements().await.unwrap_or_default();
    let deadline = format!(
        "{}月{}日前",
        chrono::Datelike::month(&o.deadline),
        chrono::Datelike::day(&o.deadline)
    );
    let not_open = o.not_open_year.map(|y| {
        format!(
            "{y} 学年尚未开放投保，开放后即可投保。以下为上一学年（{}）的数据，仅供查看。",
            o.academic_year
        )
    });
    let mut enrolment = Vec::new();
    let mut underwriting = Vec::new();
    for p in o.products.iter().filter(|p| p.eligible) {
        let (detail, urgent) = match p.status {
            EnrolmentStatus::NotSubmitted if o.open => (
                format!("{deadline}，填写投保信息并上传投保《花名册》。"),
                false,
            ),
            EnrolmentStatus::NotSubmitted if o.not_open_year.is_some() => {
                ("上一学年未投保。".to_string(), false)
            }
            EnrolmentStatus::NotSubmitted => (
                format!(
                    "投保截止日期（{}）已过，请联系教育主管部门重新开放。",
                    o.deadline.format("%Y年%-m月%-d日")
                ),
                true,
            ),
            EnrolmentStatus::Submitted => ("投保数据已提交。".to_string(), false),
            EnrolmentStatus::UnderReview => ("修改申请审核中。".to_string(), false),
            EnrolmentStatus::Underwritten => ("投保数据已提交并承保。".to_string(), false),
        };
        enrolment.push(PanelRow {
            product: p.name.clone(),
            status: p.status.label(),
            detail,
            urgent,
        });
        let first = p.enrolments.first();
        let (status, mut detail) = match first.map(|e| e.status) {
            Some(EnrolmentStage::Underwritten) => (
                "已承保",
                format!(
                    "{}已承保{}。",
                    first
                        .and_then(|e| e.company_name.clone())
                        .unwrap_or_default(),
                    first
                        .and_then(|e| e.received_at)
                        .map(|t| format!(
                            "（{}）",
                            crate::web::time::to_cst(t).format("%Y年%-m月%-d日")
                        ))
                        .unwrap_or_default()
                ),
            ),
            Some(EnrolmentStage::Submitted) => ("待承保", "等待保险公司承保。".to_string()),
            _ => ("未投保", "尚未提交投保数据。".to_string()),
        };
        let ids: Vec<i64> = p.enrolments.iter().map(|e| e.enrolment_id).collect();
        let owed = endorsements
            .iter()
            .filter(|d| ids.contains(&d.enrolment_id))
            .fold((0, 0), |(pending, issued), d| match d.status {
                EndorsementStatus::Pending => (pending + 1, issued),
                EndorsementStatus::Issued => (pending, issued + 1),
            });
        if owed.0 > 0 {
            detail.push_str(&format!("批单待出具 {} 份。", owed.0));
        }
        if owed.1 > 0 {
            detail.push_str(&format!("已出具批单 {} 份。", owed.1));
        }
        underwriting.push(PanelRow {
            product: p.name.clone(),
            status,
            detail,
            urgent: false,
        });
    }
    SchoolPanels {
        year: o.academic_year.to_string(),
        not_open,
        deadline,
        enrolment_open: o.open,
        enrolment,
        underwriting,
        href,
        empty: None,
    }
}
