-- Two-factor sign-in with a time-based one-time password (RFC 6238: SHA-1, 30-second steps,
-- 6 digits). The shared secret is sealed at rest (AES-256-GCM under a per-programme key
-- derived from the ID key set, the sealing key's id recorded in the value); `enabled_at` is
-- null while an enrolment waits for its first code. `last_used_step` is the last time step
-- a code was accepted for: a code of that step or an earlier one is never accepted again.
create table account_totp (
    account_id bigint primary key references accounts (account_id),
    secret_sealed bytea not null check (length(secret_sealed) between 30 and 200),
    enabled_at timestamptz,
    last_used_step bigint check (last_used_step >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Recovery codes, shown once when two-factor sign-in is enabled: only a SHA-256 of each with
-- its own random salt is kept. A code signs in once (`used_at`); all are replaced when the
-- account enrols again and deleted when two-factor sign-in is turned off.
create table totp_recovery_codes (
    code_id bigint generated always as identity primary key,
    account_id bigint not null references accounts (account_id),
    salt bytea not null check (length(salt) = 16),
    code_hash bytea not null check (length(code_hash) = 32),
    used_at timestamptz,
    created_at timestamptz not null default now()
);

create index totp_recovery_codes_unused on totp_recovery_codes (account_id)
    where used_at is null;
