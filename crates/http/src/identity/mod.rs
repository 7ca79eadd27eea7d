//! Identity and access at the edge: sign-in, the account page, password recovery, school
//! registration and its review, captchas, switching programme and insurer branches.

pub(crate) mod account;
pub(crate) mod anon;
pub(crate) mod branches;
pub(crate) mod captcha;
pub(crate) mod login;
pub(crate) mod recovery;
pub(crate) mod register;
pub(crate) mod review;
pub(crate) mod school_info;
pub(crate) mod switch;
pub(crate) mod two_factor;
