//! End-to-end tests: the real router against real PostgreSQL (two clusters) and Redis.
//! Run through `infra/test/run.sh`, which starts what they need.

#![expect(clippy::unwrap_used, reason = "tests")]

mod admin;
mod api;
mod api_snapshots;
mod audit;
mod authz_matrix;
mod branches;
mod browser;
mod browser_enrolment;
mod browser_registration;
mod browser_rules;
mod demo;
mod demo_data;
mod documents;
mod enrolment_admin;
mod enrolment_clock;
mod enrolment_premiums;
mod enrolment_school;
mod enrolment_second_insurer;
mod health;
mod home_todos;
mod hostile;
mod hostile_files;
mod identity;
mod keys;
mod onboarding;
mod onboarding_web;
mod operator_companies;
mod operator_console;
mod pages;
mod platform_identity;
mod registration;
mod rules;
mod rules_insurers;
mod schemathesis;
mod school_screens;
mod schools;
mod sessions;
mod tenancy;
mod totp;
mod web;
