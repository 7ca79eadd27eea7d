//! 待办事项: what a signed-in account has to do now, on its home page — deadlines, decisions
//! waiting for it, items due — each with a link to where it is done. Read through the
//! contexts' services with the account's own scope; a part that cannot be read (no year open,
//! a permission the role lacks) is left out or said plainly, never an error page.

use xiaobao_authz::Permission;
use xiaobao_domain::ids::OrgId;
use xiaobao_domain::{EndorsementStatus, EnrolmentStage, OrgStatus, Role};
use xiaobao_enrolment::underwriting::ListFilter;
use xiaobao_enrolment::{EnrolmentStatus, Enrolments};
use xiaobao_identity::Caller;
use xiaobao_identity::service::Reviews;
use xiaobao_programme::Rules;

use crate::AppState;
use crate::web::tenant::PageTenant;

/// One thing to do (or to know) now.
pub(crate) struct Todo {
    pub text: String,
    pub href: Option<String>,
    /// Shown as a warning (a deadline passed, cover about to lapse, an item overdue).
    pub urgent: bool,
}

fn todo(text: String, href: Option<String>, urgent: bool) -> Todo {
    Todo { text, href, urgent }
}

/// What the caller's role has to do now.
pub(crate) async fn for_caller(
    state: &AppState,
    page: &PageTenant,
    caller: Caller,
    role: Role,
) -> Vec<Todo> {
    let allows = |p: Permission| state.auth.authz.allows(&caller.viewer.roles, p);
    let mut out = Vec::new();
    match role {
        Role::School | Role::CentralSchool => school(page, &caller, &mut out).await,
        Role::CityDepartment | Role::CountyDepartment => {
            progress(page, &caller, &mut out).await;
            if allows(Permission::REGISTRATIONS_DECIDE) {
                registrations(page, &caller, &mut out).await;
            }
            if allows(Permission::ENROLMENT_REQUESTS_DECIDE) {
                requests(page, &caller, &mut out).await;
            }
        }
        Role::ProgrammeAuthority => {
            rule_proposals(page, &caller, &mut out).await;
            years(page, &caller, &mut out).await;
            progress(page, &caller, &mut out).await;
        }
        Role::InsurerProvince | Role::InsurerCity | Role::InsurerCounty => {
            underwriting(page, &caller, &mut out).await;
            if allows(Permission::ENROLMENT_REQUESTS_DECIDE) {
                requests(page, &caller, &mut out).await;
            }
        }
        Role::Broker | Role::PlatformOperator => {}
    }
    out
}

async fn school(page: &PageTenant, caller: &Caller, out: &mut Vec<Todo>) {
    let service = Enrolments::new(caller.clone());
    let Ok(o) = service.overview(OrgId(caller.viewer.org_id)).await else {
        out.push(todo(
            "本学年尚未开放投保，开放后即可在“投保数据”中投保。".into(),
            None,
            false,
        ));
        return;
    };
    let href = Some(page.href("enrolment"));
    if let Some(y) = o.not_open_year {
        out.push(todo(
            format!(
                "{y} 学年尚未开放投保，开放后即可投保；可在“投保数据”中查看上一学年（{}）的投保。",
                o.academic_year
            ),
            href,
            false,
        ));
        return;
    }
    if !o.lapsing.is_empty() {
        out.push(todo(
            format!(
                "上一学年已投保的{}本学年尚未提交，请在 {} 前完成投保，避免断保。",
                o.lapsing.join("、"),
                o.deadline
            ),
            href.clone(),
            true,
        ));
    }
    for p in o.products.iter().filter(|p| p.eligible) {
        let (text, urgent) = match p.status {
            EnrolmentStatus::NotSubmitted if o.open => (
                format!(
                    "投保数据：{} 尚未提交，投保截止 {}，前往操作。",
                    p.name, o.deadline
                ),
                false,
            ),
            EnrolmentStatus::NotSubmitted => (
                format!(
                    "投保数据：{} 尚未提交，投保截止日期（{}）已过，请联系教育主管部门重新开放。",
                    p.name, o.deadline
                ),
                true,
            ),
            EnrolmentStatus::Submitted => (
                format!("承保数据：{} 已提交，等待保险机构承保。", p.name),
                false,
            ),
            EnrolmentStatus::UnderReview => {
                (format!("承保数据：{} 的修改申请审核中。", p.name), false)
            }
            EnrolmentStatus::Underwritten => {
                (format!("承保数据：{} 已承保，查看。", p.name), false)
            }
        };
        out.push(todo(text, href.clone(), urgent));
    }
}

async fn progress(page: &PageTenant, caller: &Caller, out: &mut Vec<Todo>) {
    let service = Enrolments::new(caller.clone());
    let Ok(p) = service.progress(None, None).await else {
        return;
    };
    let href = Some(page.href("enrolment/progress"));
    if let Some(y) = p.not_open_year {
        out.push(todo(
            format!(
                "{y} 学年尚未开放投保；投保进度显示上一学年（{}）。",
                p.academic_year
            ),
            href,
            false,
        ));
        return;
    }
    let schools: i64 = p.regions.iter().map(|r| r.schools).sum();
    let submitted: i64 = p.regions.iter().map(|r| r.submitted).sum();
    let product = p
        .products
        .iter()
        .find(|(c, _)| *c == p.product_code)
        .map_or_else(String::new, |(_, n)| n.clone());
    if schools > submitted {
        out.push(todo(
            format!(
                "{} 学年{}：本辖区 {} 所学校中 {} 所已提交，{} 所尚未提交。",
                p.academic_year,
                product,
                schools,
                submitted,
                schools - submitted
            ),
            href.clone(),
            false,
        ));
    } else if schools > 0 {
        out.push(todo(
            format!(
                "{} 学年{}：本辖区 {schools} 所学校均已提交。",
                p.academic_year, product
            ),
            href.clone(),
            false,
        ));
    }
    if p.lapsing > 0 {
        out.push(todo(
            format!(
                "{} 所学校上一学年已投保、本学年尚未提交，不提交将断保。",
                p.lapsing
            ),
            href,
            true,
        ));
    }
}

async fn registrations(page: &PageTenant, caller: &Caller, out: &mut Vec<Todo>) {
    if let Ok(list) = Reviews::new(caller.clone()).list(OrgStatus::Pending).await
        && !list.is_empty()
    {
        out.push(todo(
            format!("{} 所学校的注册申请待审核。", list.len()),
            Some(page.href("registrations")),
            false,
        ));
    }
}

async fn requests(page: &PageTenant, caller: &Caller, out: &mut Vec<Todo>) {
    if let Ok(list) = Enrolments::new(caller.clone())
        .requests_to_review(true)
        .await
        && !list.is_empty()
    {
        out.push(todo(
            format!("{} 项投保修改或增加保险机构的申请待审核。", list.len()),
            Some(page.href("enrolment/requests")),
            false,
        ));
    }
}

async fn rule_proposals(page: &PageTenant, caller: &Caller, out: &mut Vec<Todo>) {
    let Ok(pending) = Rules::new(caller.clone()).pending().await else {
        return;
    };
    for p in pending {
        let (text, urgent) = if p.may_decide {
            (
                format!(
                    "{} 学年方案规则的修改（{}提出：{}）待您审核。",
                    p.academic_year, p.proposed_by_name, p.reason
                ),
                true,
            )
        } else {
            (
                format!(
                    "您提出的 {} 学年方案规则修改待另一位主管部门账号审核。",
                    p.academic_year
                ),
                false,
            )
        };
        out.push(todo(
            text,
            Some(page.href(&format!("rule-proposals/{}", p.proposal_id))),
            urgent,
        ));
    }
}

async fn years(page: &PageTenant, caller: &Caller, out: &mut Vec<Todo>) {
    let service = Enrolments::new(caller.clone());
    let Ok(years) = service.years().await else {
        return;
    };
    let current = xiaobao_domain::AcademicYear::containing_date(caller.clock.today());
    match years.iter().find(|y| y.academic_year == current) {
        Some(y) if y.opened.is_none() => out.push(todo(
            format!("{current} 学年的方案规则已生效，尚未开放投保：前往学年管理开放。"),
            Some(page.href("enrolment/years")),
            true,
        )),
        Some(_) => {}
        None => out.push(todo(
            format!("{current} 学年尚无方案规则：开启新学年，复制上一学年的规则修改后提交审核。"),
            Some(page.href(&format!("rules/{current}/edit"))),
            true,
        )),
    }
}

async fn underwriting(page: &PageTenant, caller: &Caller, out: &mut Vec<Todo>) {
    let service = Enrolments::new(caller.clone());
    let Ok((year, rows, endorsements)) = service.underwriting(ListFilter::default()).await else {
        return;
    };
    let href = Some(page.href("underwriting"));
    let waiting = rows
        .iter()
        .filter(|r| r.status == EnrolmentStage::Submitted)
        .count();
    if waiting > 0 {
        out.push(todo(
            format!("{year} 学年 {waiting} 份投保已提交，待标记承保。"),
            href.clone(),
            false,
        ));
    }
    let now = caller.clock.now();
    let pending: Vec<_> = endorsements
        .iter()
        .filter(|e| e.status == EndorsementStatus::Pending)
        .collect();
    let overdue = pending.iter().filter(|e| e.due_at < now).count();
    if !pending.is_empty() {
        out.push(todo(
            if overdue > 0 {
                format!(
                    "{} 份批单待出具，其中 {overdue} 份已超过时限。",
                    pending.len()
                )
            } else {
                format!("{} 份批单待出具。", pending.len())
            },
            href,
            overdue > 0,
        ));
    }
}
