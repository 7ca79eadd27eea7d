-- Wrong passwords are counted per account and client address: a stranger who types a
-- school's public name from one address locks only that address out of that account. The
-- account itself locks (accounts.locked_until) only after many more failures in a row from
-- anywhere, and its holder unlocks it by setting a new password with an SMS code (忘记密码).
create table login_lockouts (
    account_id bigint not null references accounts (account_id),
    client text not null check (length(client) between 1 and 64),
    failed integer not null default 0 check (failed >= 0),
    locked_until timestamptz,
    updated_at timestamptz not null default now(),
    primary key (account_id, client)
);

-- Sign-in failures that name no account (unknown login names, refusals by a rate limit) are
-- counted here per hour, client and cause instead of one audit entry each: the first of each
-- hour is audited, the rest only counted, so a flood of guesses cannot queue on the audit
-- chain's lock.
create table anonymous_login_failures (
    hour timestamptz not null,
    client text not null check (length(client) between 1 and 64),
    cause text not null check (cause in ('unknown_account', 'rate_limited')),
    failures integer not null default 0 check (failures >= 0),
    last_login_name text check (length(last_login_name) <= 100),
    last_at timestamptz not null default now(),
    primary key (hour, client, cause)
);
