-- Platform operators: the people who run the service (tenants, clusters, calendars, companies,
-- platform logins). Their logins live here, outside every programme; a session of one is bound
-- to the platform and is no session under any programme.
create table operators (
    operator_id bigint generated always as identity primary key,
    login_name text not null unique check (login_name ~ '^[a-z][a-z0-9._-]{2,39}$'),
    display_name text not null check (length(display_name) between 1 and 60),
    password_hash text,
    password_changed_at timestamptz,
    must_change_password boolean not null default true,
    failed_logins integer not null default 0 check (failed_logins >= 0),
    locked_until timestamptz,
    status text not null default 'active' check (status in ('active', 'disabled')),
    -- Moved whenever the password, the status or the second factor changes: a session signed
    -- in under another epoch ends on its next request.
    session_epoch bigint not null default 0,
    demo boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create function operators_move_epoch() returns trigger
language plpgsql as $$
begin
    if new.password_hash is distinct from old.password_hash
        or new.status is distinct from old.status then
        new.session_epoch := old.session_epoch + 1;
    end if;
    return new;
end
$$;

create trigger operators_epoch
before update on operators
for each row execute function operators_move_epoch();

-- An operator's TOTP secret (sealed, bound to the operator) and its recovery codes, as
-- `account_totp` / `totp_recovery_codes` are for programme accounts.
create table operator_totp (
    operator_id bigint primary key references operators (operator_id),
    secret_sealed bytea not null,
    enabled_at timestamptz,
    last_used_step bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table operator_recovery_codes (
    code_id bigint generated always as identity primary key,
    operator_id bigint not null references operators (operator_id),
    salt bytea not null check (length(salt) = 16),
    code_hash bytea not null check (length(code_hash) = 32),
    used_at timestamptz
);
create index operator_recovery_codes_operator on operator_recovery_codes (operator_id);

-- What operators did (and what was refused to them): append-only.
create table operator_audit (
    audit_id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    -- `operator:<id> <display name>`, or `cli:<system user>` for the command line.
    actor text not null check (length(actor) between 1 and 200),
    operator_id bigint references operators (operator_id),
    action text not null check (length(action) between 1 and 80),
    entity text not null check (length(entity) between 1 and 60),
    entity_id text,
    detail jsonb not null default '{}'::jsonb,
    ip text
);
create index operator_audit_at on operator_audit (at desc, audit_id desc);

create function operator_audit_append_only() returns trigger
language plpgsql as $$
begin
    raise exception 'operator_audit is append-only';
end
$$;

create trigger operator_audit_no_update
before update or delete on operator_audit
for each row execute function operator_audit_append_only();

create trigger operator_audit_no_truncate
before truncate on operator_audit
for each statement execute function operator_audit_append_only();

-- Every process keeps the working-day calendar in memory and reloads it on this channel.
create function notify_calendar_change() returns trigger
language plpgsql as $$
begin
    perform pg_notify('xiaobao_calendar', '');
    return null;
end
$$;

create trigger holiday_calendars_changed
after insert or update or delete on holiday_calendars
for each statement execute function notify_calendar_change();
