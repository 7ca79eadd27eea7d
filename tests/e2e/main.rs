//! End-to-end tests: the real router against real PostgreSQL (two clusters) and Redis.
//! Run through `infra/test/run.sh`, which starts what they need.

#![expect(clippy::unwrap_used, reason = "tests")]

mod api;
mod audit;
mod authz_matrix;
mod browser;
mod documents;
mod health;
mod identity;
mod pages;
mod tenancy;
mod web;
