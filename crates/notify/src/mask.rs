//! Masked recipients, for everything a person other than the recipient sees.

use crate::Channel;

/// A phone number as `138****1234` (the same masking as the audit trail's).
pub use xiaobao_audit::mask_phone;

/// A mail address as `a***@example.cn`: the first character of the local part and the domain.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// The recipient masked as its channel requires.
pub fn mask_recipient(channel: Channel, recipient: &str) -> String {
    match channel {
        Channel::Mail => mask_email(recipient),
        Channel::Sms => mask_phone(recipient),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_three_leading_and_four_trailing_digits() {
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("123"), "****");
    }

    #[test]
    fn mail_addresses_keep_the_first_letter_and_the_domain() {
        assert_eq!(mask_email("alice@example.cn"), "a***@example.cn");
        assert_eq!(mask_email("张三@学校.cn"), "张***@学校.cn");
        assert_eq!(mask_email("nobody"), "***");
        assert_eq!(
            mask_recipient(Channel::Mail, "bob@x.example.cn"),
            "b***@x.example.cn"
        );
        assert_eq!(mask_recipient(Channel::Sms, "13912345678"), "139****5678");
    }
}
