//! Masking of personal numbers in audit entries: what the trail keeps is enough to tell which
//! value changed, never the value itself.

use serde_json::{Map, Value};

/// What stands in for a secret.
const REDACTED: &str = "[redacted]";

/// A mobile number as `138****1234`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "****".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// A resident ID number as `410105********123X`: the region and the last four characters.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 10 {
        return "********".into();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
}

/// How a field's name says its value is to be kept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Phone,
    IdNumber,
    Secret,
}

/// Codes that identify things rather than prove who someone is; kept as they are.
const IDENTIFYING_CODES: &[&str] = &[
    "region_code",
    "postal_code",
    "zip_code",
    "school_code",
    "org_code",
    "credit_code",
    "product_code",
    "error_code",
    "status_code",
    "reason_code",
];

fn kind_of(field: &str) -> Kind {
    let f = field.to_ascii_lowercase();
    let secret_word = ["password", "passwd", "secret", "token", "otp", "captcha"]
        .iter()
        .any(|w| f.contains(w));
    let secret_code = f.contains("code") && !IDENTIFYING_CODES.iter().any(|c| f.ends_with(c));
    if secret_word || secret_code {
        Kind::Secret
    } else if f.contains("mobile") || f.contains("phone") {
        Kind::Phone
    } else if f.contains("id_number") || f.contains("resident_id") || f.contains("id_card") {
        Kind::IdNumber
    } else {
        Kind::Plain
    }
}

fn mask_as(kind: Kind, value: &Value) -> Value {
    match (kind, value) {
        // Whether a secret was set (or a flag about it) says nothing of the secret itself.
        (Kind::Secret, Value::Null | Value::Bool(_)) => value.clone(),
        (Kind::Secret, _) => Value::String(REDACTED.into()),
        (_, Value::Object(map)) => {
            let masked: Map<String, Value> = map
                .iter()
                .map(|(k, v)| {
                    // A member is masked by its own name, or else as its parent is.
                    let own = kind_of(k);
                    let kind = if own == Kind::Plain { kind } else { own };
                    (k.clone(), mask_as(kind, v))
                })
                .collect();
            Value::Object(masked)
        }
        (_, Value::Array(items)) => Value::Array(items.iter().map(|v| mask_as(kind, v)).collect()),
        (Kind::Phone, Value::String(s)) => Value::String(mask_phone(s)),
        (Kind::Phone, Value::Number(n)) => Value::String(mask_phone(&n.to_string())),
        (Kind::IdNumber, Value::String(s)) => Value::String(mask_id_number(s)),
        (Kind::IdNumber, Value::Number(n)) => Value::String(mask_id_number(&n.to_string())),
        _ => value.clone(),
    }
}

/// A value masked by the name of its field: phones and mobiles, ID numbers; passwords, secrets,
/// tokens and one-time codes become `"[redacted]"` (identifying codes such as `region_code`
/// are kept). Objects are masked member by member by their names, arrays element by element;
/// other values pass unchanged.
pub fn mask_value(field: &str, value: &Value) -> Value {
    mask_as(kind_of(field), value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn personal_numbers_are_masked_by_field_name() {
        assert_eq!(
            mask_value("contact_mobile", &json!("13812341234")),
            json!("138****1234")
        );
        assert_eq!(
            mask_value("id_number", &json!("41010520100101123X")),
            json!("410105********123X")
        );
        assert_eq!(
            mask_value("new_password", &json!("Secret123")),
            json!("[redacted]")
        );
        assert_eq!(
            mask_value("name", &json!("金水区第一小学")),
            json!("金水区第一小学")
        );
        assert_eq!(mask_value("contact_mobile", &Value::Null), Value::Null);
    }

    #[test]
    fn identifying_codes_are_kept_and_one_time_codes_redacted() {
        assert_eq!(mask_value("region_code", &json!("410105")), json!("410105"));
        assert_eq!(
            mask_value("sms_code", &json!("123456")),
            json!("[redacted]")
        );
        assert_eq!(mask_value("code_hash", &json!("abc")), json!("[redacted]"));
        assert_eq!(
            mask_value("must_change_password", &json!(true)),
            json!(true)
        );
    }

    #[test]
    fn nested_values_are_masked_by_their_own_or_their_parents_name() {
        let masked = mask_value(
            "contact",
            &json!({"name": "张老师", "mobile": "13812341234", "password": "x"}),
        );
        assert_eq!(
            masked,
            json!({"name": "张老师", "mobile": "138****1234", "password": "[redacted]"})
        );
        assert_eq!(
            mask_value("mobiles", &json!(["13812341234", 13900001111_i64])),
            json!(["138****1234", "139****1111"])
        );
        assert_eq!(
            mask_value("guardian_phone", &json!({"old": "13812341234"})),
            json!({"old": "138****1234"})
        );
    }
}
