//! End-to-end tests live in `e2e/`: real router, real PostgreSQL clusters, real Redis.
