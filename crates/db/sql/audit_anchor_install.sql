-- The audit anchor's schema and tables on one cluster (idempotent); see crates/db/src/anchor.rs.
create schema if not exists audit_anchor;
revoke all on schema audit_anchor from public;
create table if not exists audit_anchor.keys (
    schema_name text primary key,
    key bytea not null check (length(key) = 32),
    created_at timestamptz not null default now()
);
create table if not exists audit_anchor.anchors (
    schema_name text primary key,
    start_seq bigint not null,
    seq bigint not null,
    mac bytea not null,
    updated_at timestamptz not null default now()
);
revoke all on audit_anchor.keys, audit_anchor.anchors from public;
