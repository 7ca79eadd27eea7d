//! Message templates, in Chinese, one per kind of notification.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Serialize};

/// What a notification says. Stored as its kind (`notifications.template`) and its parameters
/// (`notifications.params`); rendered at delivery with the programme's name as signature.
/// Its `Debug` shows the kind and the redacted parameters only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "template", content = "params", rename_all = "snake_case")]
pub enum Template {
    /// A school's registration was approved; the link sets the first password.
    RegistrationApproved {
        school_name: String,
        set_password_url: String,
    },
    /// A one-time code to reset a password.
    PasswordResetCode { code: String, minutes_valid: u32 },
    /// The enrolment deadline of a product is near.
    DeadlineReminder {
        school_name: String,
        product_name: String,
        deadline: NaiveDate,
    },
    /// A claim moved to another status; `status_label` is the Chinese label shown to users.
    ClaimStatusChanged {
        claim_no: String,
        status_label: String,
    },
    /// A claim is about to pass its handling deadline.
    SlaAboutToBreach {
        claim_no: String,
        due_at: DateTime<Utc>,
    },
    /// An account was opened for the organisation (an insurer branch opened by the branch
    /// above it); the link sets the first password.
    AccountOpened {
        org_name: String,
        login_name: String,
        set_password_url: String,
    },
    /// The account's password expires in `days_left` days.
    PasswordExpiring { days_left: u32 },
    /// A school's registration was refused by its education department, with the reason.
    RegistrationRefused { school_name: String, reason: String },
    /// One account's roster uploads matched many ID numbers insured by other schools: a sign
    /// of someone probing for real ID numbers. Sent to the programme authority.
    RosterConflictsAlert { uploader: String, conflicts: u32 },
    /// A school confirming a new contact mobile: the code goes to the new number.
    MobileChangeCode { code: String, minutes_valid: u32 },
    /// A school's contact mobile (one of its login names) was changed; sent to the old and
    /// the new number. `mobile_masked` is the new number masked; `changed_by` who changed it.
    ContactMobileChanged {
        school_name: String,
        mobile_masked: String,
        changed_by: String,
    },
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.kind(), self.redacted_params())
    }
}

/// Parameters that are secrets: removed from the stored row once the message is sent and
/// never shown in listings.
const SECRET_PARAMS: &[&str] = &["code", "set_password_url"];

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub body: String,
}

impl Template {
    /// The stored kind, e.g. `password_reset_code`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RegistrationApproved { .. } => "registration_approved",
            Self::PasswordResetCode { .. } => "password_reset_code",
            Self::DeadlineReminder { .. } => "deadline_reminder",
            Self::ClaimStatusChanged { .. } => "claim_status_changed",
            Self::SlaAboutToBreach { .. } => "sla_about_to_breach",
            Self::AccountOpened { .. } => "account_opened",
            Self::PasswordExpiring { .. } => "password_expiring",
            Self::RegistrationRefused { .. } => "registration_refused",
            Self::RosterConflictsAlert { .. } => "roster_conflicts_alert",
            Self::MobileChangeCode { .. } => "mobile_change_code",
            Self::ContactMobileChanged { .. } => "contact_mobile_changed",
        }
    }

    /// The stored parameters (a JSON object).
    pub fn params(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => map
                .remove("params")
                .unwrap_or_else(|| serde_json::json!({})),
            _ => serde_json::json!({}),
        }
    }

    /// Rebuilds a template from its stored kind and parameters.
    pub fn from_parts(kind: &str, params: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "template": kind, "params": params }))
    }

    /// The parameters with secrets replaced by `"******"`.
    pub fn redacted_params(&self) -> serde_json::Value {
        redact(self.params())
    }

    /// Subject and body of the mail; `programme` is the programme's name (the tenant's
    /// Chinese name, e.g. 河南省教育保险管理系统), used as the signature.
    pub fn render_mail(&self, programme: &str) -> RenderedMail {
        let sig = format!("【{programme}】");
        let (subject, text) = match self {
            Self::RegistrationApproved {
                school_name,
                set_password_url,
            } => (
                format!("{sig}{school_name}注册申请已审核通过"),
                format!(
                    "{school_name}：\n\n\
                     您单位在{programme}提交的注册申请已审核通过。\n\
                     请打开以下链接设置登录密码，完成账户开通：\n\n\
                     {set_password_url}\n\n\
                     该链接仅限本单位使用，请勿转发他人。如非本单位申请，请忽略本邮件。"
                ),
            ),
            Self::PasswordResetCode {
                code,
                minutes_valid,
            } => (
                format!("{sig}密码重置验证码"),
                format!(
                    "您好：\n\n\
                     您正在重置{programme}的登录密码，验证码为：{code}\n\
                     验证码{minutes_valid}分钟内有效，请勿告诉他人。\n\n\
                     如非本人操作，请忽略本邮件，您的账户仍然安全。"
                ),
            ),
            Self::DeadlineReminder {
                school_name,
                product_name,
                deadline,
            } => (
                format!("{sig}{product_name}投保截止提醒"),
                format!(
                    "{school_name}：\n\n\
                     {product_name}的投保截止日期为{}，请在截止日期前登录系统完成投保手续，\
                     以免影响本单位的保险保障。\n\n\
                     如已办理，请忽略本提醒。",
                    date_zh(*deadline)
                ),
            ),
            Self::ClaimStatusChanged {
                claim_no,
                status_label,
            } => (
                format!("{sig}理赔案件{claim_no}状态更新"),
                format!(
                    "您好：\n\n\
                     理赔案件{claim_no}的状态已更新为：{status_label}。\n\
                     请登录系统查看案件详情及后续所需材料。"
                ),
            ),
            Self::SlaAboutToBreach { claim_no, due_at } => (
                format!("{sig}理赔案件{claim_no}即将超过处理时限"),
                format!(
                    "您好：\n\n\
                     理赔案件{claim_no}的处理时限为{}（北京时间），目前尚未办结，即将超时。\n\
                     请尽快登录系统处理。",
                    datetime_zh(*due_at)
                ),
            ),
            Self::AccountOpened {
                org_name,
                login_name,
                set_password_url,
            } => (
                format!("{sig}{org_name}的账号已开通"),
                format!(
                    "{org_name}：\n\n\
                     您单位在{programme}的账号已开通，登录账号为：{login_name}。\n\
                     请打开以下链接设置登录密码，完成账户开通：\n\n\
                     {set_password_url}\n\n\
                     该链接仅限本单位使用，请勿转发他人。如有疑问，请联系为您开通账号的上级机构。"
                ),
            ),
            Self::PasswordExpiring { days_left } => (
                format!("{sig}登录密码即将到期"),
                format!(
                    "您好：\n\n\
                     您在{programme}的登录密码将在{days_left}天后到期。\n\
                     请及时登录系统，在“账户信息”中修改密码；到期后须先修改密码才能继续使用系统。\n\n\
                     如已修改，请忽略本提醒。"
                ),
            ),
            Self::RegistrationRefused {
                school_name,
                reason,
            } => (
                format!("{sig}{school_name}注册申请已退回"),
                format!(
                    "{school_name}：\n\n\
                     您单位在{programme}提交的注册申请已被所在地教育部门退回，原因：{reason}\n\
                     请按原因修改后重新提交注册申请；如有疑问，请联系所在地教育部门。"
                ),
            ),
            Self::RosterConflictsAlert {
                uploader,
                conflicts,
            } => (
                format!("{sig}花名册异常提醒：{uploader}"),
                format!(
                    "您好：\n\n\
                     {uploader}近 24 小时上传的花名册中有{conflicts}个身份证号与其他学校已投保的学生相同但姓名不同，\
                     可能是在试探他人的身份证号。\n\
                     请登录系统，在“花名册冲突”中核实，必要时停用该账号。"
                ),
            ),
            Self::MobileChangeCode {
                code,
                minutes_valid,
            } => (
                format!("{sig}更换联系人手机号验证码"),
                format!(
                    "您好：\n\n\
                     您正在将本手机号设为{programme}的学校联系人手机号，验证码为：{code}\n\
                     验证码{minutes_valid}分钟内有效，请勿告诉他人。\n\n\
                     如非本人操作，请忽略本邮件。"
                ),
            ),
            Self::ContactMobileChanged {
                school_name,
                mobile_masked,
                changed_by,
            } => (
                format!("{sig}{school_name}联系人手机号已变更"),
                format!(
                    "{school_name}：\n\n\
                     您单位的联系人手机号已由{changed_by}修改为{mobile_masked}，新手机号可用于登录系统。\n\
                     如非本单位申请，请尽快联系所在地教育部门。"
                ),
            ),
        };
        RenderedMail {
            subject,
            body: format!("{text}\n\n{programme}\n（本邮件由系统自动发送，请勿直接回复。）\n"),
        }
    }

    /// The SMS text, starting with the signature 【programme】.
    pub fn render_sms(&self, programme: &str) -> String {
        let sig = format!("【{programme}】");
        match self {
            Self::RegistrationApproved {
                school_name,
                set_password_url,
            } => format!(
                "{sig}{school_name}的注册申请已审核通过，请打开链接设置登录密码：{set_password_url}"
            ),
            Self::PasswordResetCode {
                code,
                minutes_valid,
            } => format!(
                "{sig}您的密码重置验证码为{code}，{minutes_valid}分钟内有效，请勿告诉他人。如非本人操作，请忽略本短信。"
            ),
            Self::DeadlineReminder {
                school_name,
                product_name,
                deadline,
            } => format!(
                "{sig}{school_name}：{product_name}的投保截止日期为{}，请及时登录系统办理。",
                date_zh(*deadline)
            ),
            Self::ClaimStatusChanged {
                claim_no,
                status_label,
            } => format!("{sig}理赔案件{claim_no}的状态已更新为：{status_label}，请登录系统查看。"),
            Self::SlaAboutToBreach { claim_no, due_at } => format!(
                "{sig}理赔案件{claim_no}将于{}超过处理时限，请尽快处理。",
                datetime_zh(*due_at)
            ),
            Self::AccountOpened {
                org_name,
                login_name,
                set_password_url,
            } => format!(
                "{sig}{org_name}的账号已开通，登录账号为{login_name}，请打开链接设置登录密码：{set_password_url}"
            ),
            Self::PasswordExpiring { days_left } => format!(
                "{sig}您的登录密码将在{days_left}天后到期，请及时登录系统修改密码。如已修改，请忽略本短信。"
            ),
            Self::RegistrationRefused {
                school_name,
                reason,
            } => {
                format!("{sig}{school_name}的注册申请已被退回，原因：{reason}。请修改后重新提交。")
            }
            Self::RosterConflictsAlert {
                uploader,
                conflicts,
            } => format!(
                "{sig}{uploader}近24小时上传的花名册有{conflicts}个身份证号与其他学校学生冲突，请登录系统核实。"
            ),
            Self::MobileChangeCode {
                code,
                minutes_valid,
            } => format!(
                "{sig}您正在更换学校联系人手机号，验证码为{code}，{minutes_valid}分钟内有效，请勿告诉他人。如非本人操作，请忽略本短信。"
            ),
            Self::ContactMobileChanged {
                school_name,
                mobile_masked,
                changed_by,
            } => format!(
                "{sig}{school_name}的联系人手机号已由{changed_by}修改为{mobile_masked}，新手机号可用于登录。如非本单位申请，请联系所在地教育部门。"
            ),
        }
    }
}

/// Replaces the secret parameters of a stored parameter object.
pub(crate) fn redact(mut params: serde_json::Value) -> serde_json::Value {
    if let Some(map) = params.as_object_mut() {
        for key in SECRET_PARAMS {
            if let Some(value) = map.get_mut(*key) {
                *value = serde_json::Value::String("******".into());
            }
        }
    }
    params
}

fn date_zh(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn datetime_zh(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&Shanghai);
    format!(
        "{} {:02}:{:02}",
        date_zh(local.date_naive()),
        local.hour(),
        local.minute()
    )
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    const HENAN: &str = "河南省教育保险管理系统";

    #[test]
    fn a_template_survives_its_stored_form() {
        let t = Template::DeadlineReminder {
            school_name: "郑州市第一中学".into(),
            product_name: "校方责任保险".into(),
            deadline: "2025-09-30".parse().unwrap(),
        };
        assert_eq!(t.kind(), "deadline_reminder");
        assert_eq!(t.params()["deadline"], "2025-09-30");
        assert_eq!(Template::from_parts(t.kind(), t.params()).unwrap(), t);
        assert!(Template::from_parts("no_such_kind", t.params()).is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let t = Template::PasswordResetCode {
            code: "482913".into(),
            minutes_valid: 10,
        };
        assert_eq!(
            t.redacted_params(),
            serde_json::json!({"code": "******", "minutes_valid": 10})
        );
        let r = Template::RegistrationApproved {
            school_name: "六盘水市第三中学".into(),
            set_password_url: "https://x.example.cn/set?token=abc".into(),
        };
        assert_eq!(r.redacted_params()["set_password_url"], "******");
        assert_eq!(r.redacted_params()["school_name"], "六盘水市第三中学");
        assert!(!format!("{t:?}").contains("482913"));
        let o = Template::AccountOpened {
            org_name: "测试保险郑州市分公司".into(),
            login_name: "zz-branch".into(),
            set_password_url: "https://x.example.cn/t/henan/activate?token=1.abc".into(),
        };
        assert_eq!(
            o.redacted_params(),
            serde_json::json!({
                "org_name": "测试保险郑州市分公司",
                "login_name": "zz-branch",
                "set_password_url": "******"
            })
        );
        assert!(!format!("{o:?}").contains("token=1.abc"));
        let p = Template::PasswordExpiring { days_left: 5 };
        assert_eq!(p.redacted_params(), serde_json::json!({"days_left": 5}));
    }

    #[test]
    fn mail_and_sms_are_in_chinese_with_the_programme_as_signature() {
        let t = Template::PasswordResetCode {
            code: "482913".into(),
            minutes_valid: 10,
        };
        let mail = t.render_mail(HENAN);
        assert_eq!(mail.subject, "【河南省教育保险管理系统】密码重置验证码");
        assert!(mail.body.contains("验证码为：482913"));
        assert!(mail.body.contains("10分钟内有效"));
        assert!(mail.body.contains("\n\n河南省教育保险管理系统\n"));
        assert_eq!(
            t.render_sms(HENAN),
            "【河南省教育保险管理系统】您的密码重置验证码为482913，10分钟内有效，请勿告诉他人。如非本人操作，请忽略本短信。"
        );
    }

    #[test]
    fn times_are_shown_in_china_time() {
        let t = Template::SlaAboutToBreach {
            claim_no: "LP2025000123".into(),
            due_at: "2025-06-01T10:00:00Z".parse().unwrap(),
        };
        assert!(
            t.render_mail(HENAN)
                .body
                .contains("2025年6月1日 18:00（北京时间）")
        );
        assert!(
            t.render_sms(HENAN)
                .contains("将于2025年6月1日 18:00超过处理时限")
        );
        let d = Template::DeadlineReminder {
            school_name: "郑州市第一中学".into(),
            product_name: "校方责任保险".into(),
            deadline: "2025-09-30".parse().unwrap(),
        };
        assert!(
            d.render_mail(HENAN)
                .body
                .contains("投保截止日期为2025年9月30日")
        );
        let c = Template::ClaimStatusChanged {
            claim_no: "LP2025000123".into(),
            status_label: "已结案".into(),
        };
        assert_eq!(
            c.render_mail(HENAN).subject,
            "【河南省教育保险管理系统】理赔案件LP2025000123状态更新"
        );
    }

    #[test]
    fn account_opening_and_password_expiry_messages() {
        let o = Template::AccountOpened {
            org_name: "测试保险郑州市分公司".into(),
            login_name: "zz-branch".into(),
            set_password_url: "https://x.example.cn/t/henan/activate?token=1.abc".into(),
        };
        assert_eq!(o.kind(), "account_opened");
        assert_eq!(Template::from_parts(o.kind(), o.params()).unwrap(), o);
        let mail = o.render_mail(HENAN);
        assert_eq!(
            mail.subject,
            "【河南省教育保险管理系统】测试保险郑州市分公司的账号已开通"
        );
        assert!(mail.body.contains("登录账号为：zz-branch"));
        assert!(
            mail.body
                .contains("\n\nhttps://x.example.cn/t/henan/activate?token=1.abc\n\n")
        );
        assert_eq!(
            o.render_sms(HENAN),
            "【河南省教育保险管理系统】测试保险郑州市分公司的账号已开通，登录账号为zz-branch，请打开链接设置登录密码：https://x.example.cn/t/henan/activate?token=1.abc"
        );

        let p = Template::PasswordExpiring { days_left: 5 };
        assert_eq!(p.kind(), "password_expiring");
        assert_eq!(p.params(), serde_json::json!({"days_left": 5}));
        assert_eq!(Template::from_parts(p.kind(), p.params()).unwrap(), p);
        let mail = p.render_mail(HENAN);
        assert_eq!(mail.subject, "【河南省教育保险管理系统】登录密码即将到期");
        assert!(
            mail.body
                .contains("您在河南省教育保险管理系统的登录密码将在5天后到期")
        );
        assert!(mail.body.contains("\n\n河南省教育保险管理系统\n"));
        assert_eq!(
            p.render_sms(HENAN),
            "【河南省教育保险管理系统】您的登录密码将在5天后到期，请及时登录系统修改密码。如已修改，请忽略本短信。"
        );
    }
}
