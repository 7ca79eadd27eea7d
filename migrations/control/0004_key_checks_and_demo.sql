-- Key checks: for each key purpose and key id, a keyed digest proving which key the stored data
-- was made with (HMAC-SHA256 of a fixed text under the key; the key itself is never stored).
-- A start whose configured key gives another digest for the same purpose and id is refused,
-- instead of every ID match and link silently failing.
create table key_checks (
    purpose text not null check (length(purpose) between 1 and 60),
    key_id integer not null check (key_id between 0 and 255),
    check_value bytea not null check (length(check_value) = 32),
    created_at timestamptz not null default now(),
    primary key (purpose, key_id)
);

-- Demo programmes and the demo's platform login are marked as made by the demo seeding: demo
-- accounts are only ever created in them, never in a real programme that shares a demo slug.
alter table tenants add column demo boolean not null default false;
alter table identities add column demo boolean not null default false;
