//! The schools context's actions for one caller: the list and one school of the caller's
//! scope, a department's management (contact mobile, password reset, central schools), and
//! the change requests of schools and their decision. Every method opens the tenant
//! transaction, applies the caller's region scope in SQL, does the work with its audit
//! entries (and the SMS of a reset), commits only when it succeeded, and answers
//! [`Outcome`]. A miss names what was asked for, so the edge audits it once.

use xiaobao_domain::ids::{ChangeRequestId, Id, OrgId};
use xiaobao_domain::{Failure, OrgStatus, Outcome, Refusal};
use xiaobao_notify::{Notification, Template as Message};

use sha2::{Digest, Sha256};

use super::SetPasswordLink;
use super::recovery::CodePolicy;
use crate::codes::{CodeError, CodePurpose, Codes};
use crate::limits::{RateLimiter, Verdict, retry_message};
use crate::orgs::{self, SchoolFilter, SchoolRow};
use crate::school_admin::{
    self, AdminProblem, BasicInfo, CentralSchoolRow, ChangeRequestRow, Decision, MobileChanged,
    NewChangeRequest, RegionCount, RegionOption,
};
use crate::{Caller, SchoolScope};

/// The statuses a school list filters by, with their labels.
pub const STATUSES: [(&str, &str); 4] = [
    ("active", "已通过审核"),
    ("pending", "待审核"),
    ("deregistered", "已注销"),
    ("refused", "未通过审核"),
];

/// Rows of one page of the list, unless asked for otherwise.
pub const PER_PAGE: i64 = 20;
/// The largest page.
pub const MAX_PER_PAGE: i64 = 100;
/// Change requests listed at most.
pub const REQUEST_LIMIT: i64 = 200;

/// The list's filters as asked for.
#[derive(Debug, Default, Clone)]
pub struct SchoolQuery {
    pub region_code: Option<String>,
    pub status: Option<String>,
    pub name: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// The list's filters after checking them against the caller's scope.
#[derive(Debug, Clone)]
pub struct Filters {
    pub region_code: Option<String>,
    pub status: Option<String>,
    pub name: Option<String>,
    pub page: i64,
    pub per_page: i64,
}

/// What a list page shows around its rows (the API asks for none of it).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListExtras {
    /// The subtree's regions and the counts per region and status.
    pub counts: bool,
    /// The number of pending change requests (for a department that decides them).
    pub pending_requests: bool,
}

/// One page of the list with everything the page shows around it.
#[derive(Debug)]
pub struct Listing {
    pub filters: Filters,
    pub rows: Vec<SchoolRow>,
    pub total: i64,
    /// The regions of the caller's subtree (Region scope only).
    pub regions: Vec<RegionOption>,
    pub region_counts: Vec<RegionCount>,
    pub status_counts: Vec<(OrgStatus, i64)>,
    pub pending_requests: usize,
}

/// What a school's page shows beside the school.
#[derive(Debug, Clone, Copy, Default)]
pub struct DetailWants {
    /// The central schools of the scope (to assign the school to one).
    pub central_schools: bool,
    /// The regions a school may move to (a central school asking on the school's behalf).
    pub move_regions: bool,
}

/// Beside the school on its page.
#[derive(Debug, Default)]
pub struct Detail {
    pub central_schools: Vec<CentralSchoolRow>,
    /// The schools assigned to it, when it is a central school.
    pub assigned: Vec<SchoolRow>,
    pub move_regions: Vec<RegionOption>,
    /// Its latest change requests.
    pub requests: Vec<ChangeRequestRow>,
}

/// A school's own record: the school, its requests and the regions it may move to.
#[derive(Debug)]
pub struct Profile {
    pub school: SchoolRow,
    pub requests: Vec<ChangeRequestRow>,
    pub regions: Vec<RegionOption>,
}

/// The schools context for one caller (see the module documentation).
#[derive(Clone, Debug)]
pub struct Schools {
    caller: Caller,
}

/// Tells the school's old and new contact mobiles that the number changed (the SMS names the
/// new number masked), in the caller's transaction.
async fn queue_mobile_changed(
    conn: &mut sqlx::PgConnection,
    changed: &MobileChanged,
    changed_by: &str,
) -> Outcome<()> {
    let mut to: Vec<&str> = vec![changed.new_mobile.as_str()];
    if let Some(old) = changed.old_mobile.as_deref()
        && old != changed.new_mobile
    {
        to.push(old);
    }
    for mobile in to {
        xiaobao_notify::queue(
            &mut *conn,
            &Notification::sms(
                mobile.to_string(),
                Message::ContactMobileChanged {
                    school_name: changed.school_name.clone(),
                    mobile_masked: xiaobao_audit::mask_phone(&changed.new_mobile),
                    changed_by: changed_by.to_string(),
                },
            ),
        )
        .await
        .map_err(Failure::internal)?;
    }
    Ok(())
}

/// The rate-limit key of a mobile change: hashed, so no number is kept in clear.
fn mobile_change_key(tenant: &str, what: &str) -> String {
    let digest = Sha256::digest(format!("{tenant}\u{1f}{what}"));
    format!("mobile-change:{}", hex::encode(&digest[..12]))
}

fn flat<T>(o: school_admin::Outcome<T>) -> Outcome<T> {
    o?.map_err(Failure::from)
}

fn clean(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A request outside the scope (or of none at all).
fn request_missing(id: impl std::fmt::Display) -> Failure {
    Refusal::not_found("申请不存在")
        .about("change_request", id)
        .into()
}

/// Checks the filters: a region outside the caller's subtree or an unknown status is the
/// field's problem.
pub fn check_filters(
    q: SchoolQuery,
    regions: &[RegionOption],
    scope: &SchoolScope,
) -> Outcome<Filters> {
    let region_code = clean(q.region_code);
    if let Some(code) = &region_code
        && matches!(scope, SchoolScope::Region { .. })
        && !regions.iter().any(|r| &r.region_code == code)
    {
        return Err(Refusal::invalid_field("region_code", "所选区域不在管辖范围内").into());
    }
    let status = clean(q.status);
    if let Some(s) = &status
        && !STATUSES.iter().any(|(code, _)| code == s)
    {
        return Err(Refusal::invalid_field(
            "status",
            "学校状态应为 active、pending、deregistered 或 refused",
        )
        .into());
    }
    let per_page = q.per_page.unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE);
    Ok(Filters {
        region_code,
        status,
        name: clean(q.name).map(|n| n.chars().take(50).collect()),
        page: q.page.unwrap_or(1).max(1),
        per_page,
    })
}

impl Schools {
    #[must_use]
    pub fn new(caller: Caller) -> Self {
        Self { caller }
    }

    fn scope(&self) -> SchoolScope {
        self.caller.viewer.school_scope()
    }

    /// One page of the schools of the caller's scope.
    pub async fn listing(&self, query: SchoolQuery, extras: ListExtras) -> Outcome<Listing> {
        let scope = self.scope();
        let mut tx = self.caller.tx().await?;
        // The subtree's regions fill the page's region filter and check a requested region;
        // an API call without a region filter needs neither (one query fewer on the hot path).
        let need_regions = extras.counts
            || query
                .region_code
                .as_deref()
                .is_some_and(|c| !c.trim().is_empty());
        let regions = match &scope {
            SchoolScope::Region { path_prefix } if need_regions => {
                school_admin::subtree_regions(&mut tx, path_prefix).await?
            }
            _ => Vec::new(),
        };
        let filters = check_filters(query, &regions, &scope)?;
        let (rows, total) = orgs::list_schools(
            &mut tx,
            &scope,
            &SchoolFilter {
                region_code: filters.region_code.clone(),
                status: filters.status.clone(),
                name: filters.name.clone(),
                limit: filters.per_page,
                offset: (filters.page - 1).saturating_mul(filters.per_page),
            },
        )
        .await?;
        let mut listing = Listing {
            filters,
            rows,
            total,
            regions,
            region_counts: Vec::new(),
            status_counts: Vec::new(),
            pending_requests: 0,
        };
        if extras.counts {
            let root = listing
                .filters
                .region_code
                .clone()
                .unwrap_or_else(|| self.caller.viewer.region_code.clone());
            if matches!(scope, SchoolScope::Region { .. }) {
                listing.region_counts = school_admin::region_counts(&mut tx, &scope, &root).await?;
            }
            listing.status_counts = school_admin::status_counts(&mut tx, &scope).await?;
        }
        if extras.pending_requests {
            listing.pending_requests = school_admin::list_requests(&mut tx, &scope, true, 500)
                .await?
                .len();
        }
        tx.commit().await?;
        Ok(listing)
    }

    /// The school `org_id` of the caller's scope. A central school reading one of its
    /// schools leaves `school.viewed_on_behalf`.
    pub async fn school(&self, org_id: OrgId) -> Outcome<SchoolRow> {
        let org_id = org_id.get();
        let viewer = &self.caller.viewer;
        let scope = self.scope();
        let mut tx = self.caller.tx().await?;
        let row = orgs::get_school(&mut tx, &scope, org_id).await?;
        if row.is_some() && matches!(scope, SchoolScope::Central { .. }) && org_id != viewer.org_id
        {
            xiaobao_audit::record(
                &mut tx,
                &self.caller.actor_for(org_id),
                xiaobao_audit::Entry::new("school.viewed_on_behalf", "organisation", Some(org_id)),
            )
            .await
            .map_err(Failure::internal)?;
        }
        tx.commit().await?;
        row.ok_or_else(|| Refusal::out_of_scope("organisation", org_id).into())
    }

    /// What the school's page shows beside it.
    pub async fn detail(&self, school: &SchoolRow, wants: DetailWants) -> Outcome<Detail> {
        let scope = self.scope();
        let mut tx = self.caller.tx().await?;
        let mut detail = Detail::default();
        if wants.central_schools {
            detail.central_schools = school_admin::central_schools(&mut tx, &scope).await?;
        }
        if school.is_central {
            detail.assigned =
                school_admin::assigned_schools(&mut tx, &scope, school.org_id).await?;
        }
        if wants.move_regions {
            detail.move_regions = school_admin::school_regions(&mut tx).await?;
        }
        let own = SchoolScope::Own {
            org_id: school.org_id,
        };
        detail.requests = school_admin::list_requests(&mut tx, &own, false, 50).await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// A central school changes the contact mobile of one of its assigned schools (not its
    /// own: that is 修改手机号 with a code). Any other school, or any other caller, finds
    /// nothing. Recorded as done on the school's behalf; the old and new numbers are told by
    /// SMS.
    pub async fn change_assigned_mobile(&self, org_id: OrgId, mobile: &str) -> Outcome<()> {
        let org_id = org_id.get();
        let scope = self.scope();
        if !matches!(scope, SchoolScope::Central { .. }) || org_id == self.caller.viewer.org_id {
            return Err(Failure::from(AdminProblem::NotFound).about("organisation", org_id));
        }
        let mut tx = self.caller.tx().await?;
        let changed = flat(
            school_admin::change_contact_mobile(
                &mut tx,
                &self.caller.actor_for(org_id),
                &scope,
                org_id,
                mobile,
            )
            .await,
        )
        .map_err(|f| f.about("organisation", org_id))?;
        let by = format!("中心校“{}”", self.caller.viewer.display_name);
        queue_mobile_changed(&mut tx, &changed, &by).await?;
        tx.commit().await?;
        tracing::info!(tenant.slug = %self.caller.tenant.slug, org.id = org_id, "contact mobile changed by central school");
        Ok(())
    }

    /// The caller's own school (a school account), or not found.
    fn own_school(&self) -> Outcome<i64> {
        let viewer = &self.caller.viewer;
        if viewer.org_kind == "school" {
            Ok(viewer.org_id)
        } else {
            Err(AdminProblem::NotFound.into())
        }
    }

    /// 修改基本信息: the caller's own school changes its contact person, principal and
    /// address. Answers whether anything changed.
    pub async fn update_basic_info(&self, info: &BasicInfo) -> Outcome<bool> {
        let org_id = self.own_school()?;
        let mut tx = self.caller.tx().await?;
        let changed =
            flat(school_admin::update_basic_info(&mut tx, &self.caller.actor, org_id, info).await)?;
        tx.commit().await?;
        Ok(changed)
    }

    /// 修改手机号, first step: a code to the new mobile of the caller's own school, valid only
    /// for that number. The number is checked first (format, not the current one, not another
    /// school's); codes are limited per account and per number like the other codes.
    pub async fn send_mobile_code(
        &self,
        codes: &Codes,
        limiter: &RateLimiter,
        policy: CodePolicy,
        mobile: &str,
    ) -> Outcome<()> {
        let org_id = self.own_school()?;
        let mobile = mobile.trim();
        let mut tx = self.caller.tx().await?;
        flat(school_admin::check_new_mobile(&mut tx, org_id, mobile).await)?;
        let slug = &self.caller.tenant.slug;
        let account = self.caller.viewer.account_id;
        for key in [
            mobile_change_key(slug, &format!("account:{account}")),
            mobile_change_key(slug, &format!("mobile:{mobile}")),
        ] {
            if let Verdict::Refused { retry_after_secs } =
                limiter.hit(&key, policy.per_mobile).await?
            {
                xiaobao_audit::record(
                    &mut tx,
                    &self.caller.actor,
                    xiaobao_audit::Entry::new(
                        "school.mobile_code_limited",
                        "account",
                        Some(account),
                    )
                    .detail("mobile", mobile),
                )
                .await
                .map_err(Failure::internal)?;
                tx.commit().await?;
                return Err(Refusal::rate_limited(
                    "rate_limited",
                    retry_message("获取验证码", retry_after_secs),
                    retry_after_secs,
                )
                .on("contact_mobile")
                .into());
            }
        }
        let ttl = chrono::Duration::minutes(i64::from(policy.ttl_mins));
        let code = codes
            .issue_bound_sms_code(&mut tx, account, CodePurpose::ChangeMobile, mobile, ttl)
            .await?;
        xiaobao_notify::queue(
            &mut tx,
            &Notification::sms(
                mobile.to_string(),
                Message::MobileChangeCode {
                    code,
                    minutes_valid: policy.ttl_mins,
                },
            ),
        )
        .await
        .map_err(Failure::internal)?;
        xiaobao_audit::record(
            &mut tx,
            &self.caller.actor,
            xiaobao_audit::Entry::new("school.mobile_code_issued", "account", Some(account))
                .detail("org_id", org_id)
                .detail("mobile", mobile),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        Ok(())
    }

    /// 修改手机号, second step: the code sent to `mobile` changes the caller's school's contact
    /// mobile to it. A wrong or expired code is refused on `code` and the try is kept (five
    /// use the code up); the old and new numbers are told by SMS.
    pub async fn confirm_mobile(&self, codes: &Codes, mobile: &str, code: &str) -> Outcome<()> {
        let org_id = self.own_school()?;
        let mobile = mobile.trim();
        let account = self.caller.viewer.account_id;
        let mut tx = self.caller.tx().await?;
        flat(school_admin::check_new_mobile(&mut tx, org_id, mobile).await)?;
        match codes
            .consume_bound_sms_code(&mut tx, account, CodePurpose::ChangeMobile, mobile, code)
            .await
        {
            Ok(()) => {}
            Err(CodeError::Internal(e)) => return Err(e.into()),
            Err(e) => {
                xiaobao_audit::record(
                    &mut tx,
                    &self.caller.actor,
                    xiaobao_audit::Entry::new(
                        "school.mobile_code_refused",
                        "account",
                        Some(account),
                    )
                    .detail("mobile", mobile)
                    .detail("reason", e.to_string()),
                )
                .await
                .map_err(Failure::internal)?;
                // The wrong try counts: keep it.
                tx.commit().await?;
                return Err(Refusal::invalid("bad_code", e.to_string())
                    .on("code")
                    .into());
            }
        }
        let own = SchoolScope::Own { org_id };
        let changed = flat(
            school_admin::change_contact_mobile(&mut tx, &self.caller.actor, &own, org_id, mobile)
                .await,
        )?;
        queue_mobile_changed(&mut tx, &changed, "本单位").await?;
        tx.commit().await?;
        tracing::info!(tenant.slug = %self.caller.tenant.slug, org.id = org_id, "contact mobile changed with a code");
        Ok(())
    }

    /// Changes the contact mobile of a school of the scope.
    pub async fn change_mobile(&self, org_id: OrgId, mobile: &str) -> Outcome<()> {
        let org_id = org_id.get();
        let mut tx = self.caller.tx().await?;
        flat(
            school_admin::change_contact_mobile(
                &mut tx,
                &self.caller.actor,
                &self.scope(),
                org_id,
                mobile,
            )
            .await,
        )
        .map_err(|f| f.about("organisation", org_id))?;
        tx.commit().await?;
        Ok(())
    }

    /// Resets the school's password and queues the set-password link by SMS, together.
    pub async fn reset_password(
        &self,
        org_id: OrgId,
        codes: &Codes,
        link: &SetPasswordLink,
    ) -> Outcome<()> {
        let org_id = org_id.get();
        let mut tx = self.caller.tx().await?;
        let reset = flat(
            school_admin::reset_password(
                &mut tx,
                &self.caller.actor,
                &self.scope(),
                codes,
                link.ttl,
                org_id,
            )
            .await,
        )
        .map_err(|f| f.about("organisation", org_id))?;
        let url = format!("{}?token={}", link.activate_url, reset.token);
        xiaobao_notify::queue(
            &mut tx,
            &Notification::sms(
                reset.contact_mobile.clone(),
                Message::AccountOpened {
                    org_name: reset.school_name.clone(),
                    login_name: reset.login_name.clone(),
                    set_password_url: url,
                },
            ),
        )
        .await
        .map_err(Failure::internal)?;
        tx.commit().await?;
        tracing::info!(tenant.slug = %self.caller.tenant.slug, org.id = org_id, "school password reset");
        Ok(())
    }

    /// Marks (`true`) or unmarks a school of the scope as a central school.
    pub async fn set_central(&self, org_id: OrgId, central: bool) -> Outcome<bool> {
        let org_id = org_id.get();
        let mut tx = self.caller.tx().await?;
        flat(
            school_admin::set_central(&mut tx, &self.caller.actor, &self.scope(), org_id, central)
                .await,
        )
        .map_err(|f| f.about("organisation", org_id))?;
        tx.commit().await?;
        Ok(central)
    }

    /// Assigns a school of the scope to a central school (`None`: to none).
    pub async fn assign(&self, org_id: OrgId, central_id: Option<i64>) -> Outcome<()> {
        let org_id = org_id.get();
        let mut tx = self.caller.tx().await?;
        flat(
            school_admin::assign_central(
                &mut tx,
                &self.caller.actor,
                &self.scope(),
                org_id,
                central_id,
            )
            .await,
        )
        .map_err(|f| f.about("organisation", org_id))?;
        tx.commit().await?;
        Ok(())
    }

    /// The central schools of the scope.
    pub async fn central_schools(&self) -> Outcome<Vec<CentralSchoolRow>> {
        let mut tx = self.caller.tx().await?;
        let rows = school_admin::central_schools(&mut tx, &self.scope()).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The central schools of the scope, each with its schools.
    pub async fn centrals_with_schools(&self) -> Outcome<Vec<(CentralSchoolRow, Vec<SchoolRow>)>> {
        let scope = self.scope();
        let mut tx = self.caller.tx().await?;
        let centrals = school_admin::central_schools(&mut tx, &scope).await?;
        let mut rows = Vec::with_capacity(centrals.len());
        for c in centrals {
            let schools = school_admin::assigned_schools(&mut tx, &scope, c.org_id).await?;
            rows.push((c, schools));
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// The schools assigned to the caller (a central school; any other has none).
    pub async fn assigned(&self) -> Outcome<Vec<SchoolRow>> {
        let scope = self.scope();
        if !matches!(scope, SchoolScope::Central { .. }) {
            return Ok(Vec::new());
        }
        let mut tx = self.caller.tx().await?;
        let rows =
            school_admin::assigned_schools(&mut tx, &scope, self.caller.viewer.org_id).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The caller's own school (a school account), its requests and the regions it may move
    /// to; not found for any other account.
    pub async fn profile(&self) -> Outcome<Profile> {
        let viewer = &self.caller.viewer;
        let missing = || Failure::from(AdminProblem::NotFound);
        if viewer.org_kind != "school" {
            return Err(missing());
        }
        let own = SchoolScope::Own {
            org_id: viewer.org_id,
        };
        let mut tx = self.caller.tx().await?;
        let Some(school) = orgs::get_school(&mut tx, &own, viewer.org_id).await? else {
            return Err(missing());
        };
        let requests = school_admin::list_requests(&mut tx, &own, false, 50).await?;
        let regions = school_admin::school_regions(&mut tx).await?;
        tx.commit().await?;
        Ok(Profile {
            school,
            requests,
            regions,
        })
    }

    /// Submits a request for the caller's own school (a school account; not found for any
    /// other).
    pub async fn request_own(&self, input: &NewChangeRequest) -> Outcome<ChangeRequestRow> {
        if self.caller.viewer.org_kind != "school" {
            return Err(AdminProblem::NotFound.into());
        }
        self.request_change(OrgId(self.caller.viewer.org_id), input)
            .await
    }

    /// Submits a request for the school `org_id`: the caller's own (a school), or one of a
    /// central school's schools (on its behalf). Answers the new request.
    pub async fn request_change(
        &self,
        org_id: OrgId,
        input: &NewChangeRequest,
    ) -> Outcome<ChangeRequestRow> {
        let org_id = org_id.get();
        let viewer = &self.caller.viewer;
        let (scope, on_behalf) = if org_id == viewer.org_id {
            (SchoolScope::Own { org_id }, None)
        } else {
            (viewer.school_scope(), Some(org_id))
        };
        // Only a central school acts for other schools; any other scope finds nothing here.
        if on_behalf.is_some() && !matches!(scope, SchoolScope::Central { .. }) {
            return Err(Failure::from(AdminProblem::NotFound).about("organisation", org_id));
        }
        let actor = self.caller.actor_for(org_id);
        let mut tx = self.caller.tx().await?;
        let id = flat(
            school_admin::request_change(&mut tx, &actor, &scope, org_id, on_behalf, input).await,
        )
        .map_err(|f| f.about("organisation", org_id))?;
        let row = school_admin::get_request(&mut tx, &scope, id)
            .await?
            .ok_or_else(|| request_missing(id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// The change requests of the scope, newest first (only pending ones when asked).
    pub async fn requests(&self, pending_only: bool) -> Outcome<Vec<ChangeRequestRow>> {
        let mut tx = self.caller.tx().await?;
        let rows = school_admin::list_requests(&mut tx, &self.scope(), pending_only, REQUEST_LIMIT)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// One change request of the scope.
    pub async fn request(&self, id: ChangeRequestId) -> Outcome<ChangeRequestRow> {
        let id = id.get();
        let mut tx = self.caller.tx().await?;
        let row = school_admin::get_request(&mut tx, &self.scope(), id).await?;
        tx.commit().await?;
        row.ok_or_else(|| request_missing(id))
    }

    /// Approves (the change is applied) or refuses a pending request of the scope.
    pub async fn decide(
        &self,
        id: ChangeRequestId,
        decision: &Decision,
    ) -> Outcome<ChangeRequestRow> {
        let id = id.get();
        let mut tx = self.caller.tx().await?;
        let row = match school_admin::decide_request(
            &mut tx,
            &self.caller.actor,
            &self.scope(),
            id,
            decision,
        )
        .await?
        {
            Ok(row) => row,
            Err(AdminProblem::NotFound) => return Err(request_missing(id)),
            Err(p) => return Err(p.into()),
        };
        tx.commit().await?;
        Ok(row)
    }
}
