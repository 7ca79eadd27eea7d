-- Organisations and accounts of a programme, and the trail of what they do.
--
-- An organisation is a party of the programme placed in the region tree; its `region_path`
-- (a copy of regions.path) makes every region-scoped query one indexed prefix match.

create table organisations (
    org_id bigint generated always as identity primary key,
    kind text not null
        check (kind in ('authority', 'department', 'school', 'insurer_branch', 'broker_office')),
    name text not null check (length(name) between 2 and 100),
    region_code text not null references regions (region_code),
    region_path text not null,
    status text not null default 'active'
        check (status in ('pending', 'active', 'refused', 'deregistered')),
    -- Schools.
    nature text check (nature in ('public', 'private')),
    school_type text,
    address text check (length(address) <= 200),
    principal text check (length(principal) <= 50),
    contact_name text check (length(contact_name) <= 50),
    contact_mobile text check (contact_mobile ~ '^1[3-9][0-9]{9}$'),
    qualification_document_id bigint references documents (document_id),
    is_central boolean not null default false,
    central_school_id bigint references organisations (org_id),
    -- Insurer branches and broker offices: the platform-level company (control schema).
    company_id bigint,
    company_name text,
    branch_level text check (branch_level in ('province', 'city', 'county')),
    parent_org_id bigint references organisations (org_id),
    -- Registration outcome.
    decided_by bigint,
    decided_at timestamptz,
    refusal_reason text check (length(refusal_reason) <= 500),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (kind <> 'school' or (nature is not null and school_type is not null
        and contact_mobile is not null and contact_name is not null)),
    check (kind <> 'insurer_branch' or (company_id is not null and branch_level is not null)),
    check (central_school_id is null or central_school_id <> org_id)
);

create index organisations_region_idx on organisations (region_path text_pattern_ops, kind);
create index organisations_kind_status_idx on organisations (kind, status, region_path);
create index organisations_central_idx on organisations (central_school_id)
    where central_school_id is not null;
-- A school's full name and its contact mobile are login names: unique among live schools.
create unique index organisations_school_name_key on organisations (name)
    where kind = 'school' and status in ('pending', 'active');
create unique index organisations_school_mobile_key on organisations (contact_mobile)
    where kind = 'school' and status in ('pending', 'active');
-- One education department per region.
create unique index organisations_department_key on organisations (region_code)
    where kind = 'department' and status = 'active';

-- Accounts. `login_name` is unique per account type (the login page's tab): a school signs in
-- by its full name (or contact mobile, looked up through its organisation), a department by its
-- region's name, insurers, brokers and the authority by names their creator chose.
create table accounts (
    account_id bigint generated always as identity primary key,
    org_id bigint not null references organisations (org_id),
    account_type text not null
        check (account_type in ('school', 'department', 'insurer', 'broker', 'authority')),
    login_name text not null check (length(login_name) between 2 and 100),
    display_name text not null check (length(display_name) between 1 and 100),
    -- Null until the holder sets a password through a one-time code or link.
    password_hash text,
    password_changed_at timestamptz,
    -- Set when someone else chose the current password (a reset) or it expired.
    must_change_password boolean not null default true,
    password_warned_at timestamptz,
    failed_logins integer not null default 0 check (failed_logins >= 0),
    locked_until timestamptz,
    status text not null default 'active' check (status in ('active', 'disabled')),
    created_by bigint references accounts (account_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (account_type, login_name)
);

create index accounts_org_idx on accounts (org_id);

-- Account → role assignments (the policies in `policies/` say what a role may do).
create table account_roles (
    account_id bigint not null references accounts (account_id),
    role text not null check (role in (
        'programme_authority', 'city_department', 'county_department', 'central_school',
        'school', 'insurer_province', 'insurer_city', 'insurer_county', 'broker')),
    granted_by bigint references accounts (account_id),
    granted_at timestamptz not null default now(),
    primary key (account_id, role)
);

-- The last password hashes of an account (a new password may not repeat the last five).
create table password_history (
    account_id bigint not null references accounts (account_id),
    password_hash text not null,
    set_at timestamptz not null default now(),
    primary key (account_id, set_at)
);

-- One-time secrets: SMS codes and set-password links. Only a keyed hash is stored.
create table one_time_codes (
    code_id bigint generated always as identity primary key,
    account_id bigint not null references accounts (account_id),
    purpose text not null check (purpose in ('set_password', 'reset_password')),
    code_hash text not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    attempts integer not null default 0,
    created_at timestamptz not null default now()
);

create index one_time_codes_account_idx on one_time_codes (account_id, purpose, created_at desc);

-- Requests a school makes that its department decides: a new name, a new region,
-- deregistration (merger or closure only).
create table change_requests (
    change_request_id bigint generated always as identity primary key,
    org_id bigint not null references organisations (org_id),
    kind text not null check (kind in ('rename', 'move_region', 'deregister')),
    new_name text check (length(new_name) between 2 and 100),
    new_region_code text references regions (region_code),
    deregister_cause text check (deregister_cause in ('merger', 'closure')),
    reason text not null check (length(reason) between 2 and 500),
    status text not null default 'pending' check (status in ('pending', 'approved', 'refused')),
    requested_by bigint not null references accounts (account_id),
    on_behalf_of bigint references organisations (org_id),
    decided_by bigint references accounts (account_id),
    decided_at timestamptz,
    decision_reason text check (length(decision_reason) <= 500),
    created_at timestamptz not null default now(),
    check (kind <> 'rename' or new_name is not null),
    check (kind <> 'move_region' or new_region_code is not null),
    check (kind <> 'deregister' or deregister_cause is not null)
);

create index change_requests_org_idx on change_requests (org_id, created_at desc);
create index change_requests_pending_idx on change_requests (status, created_at)
    where status = 'pending';
-- At most one open request of each kind per school.
create unique index change_requests_open_key on change_requests (org_id, kind)
    where status = 'pending';

-- The audit trail grows who/where columns and a hash chain: each row's hash covers its own
-- fields, its place in the chain and the previous row's hash, so changing or removing a row
-- breaks every later hash.
alter table audit_log
    add column actor_account_id bigint,
    add column actor_org_id bigint,
    add column on_behalf_of_org_id bigint,
    add column ip text,
    add column user_agent text,
    add column chain_seq bigint,
    add column prev_hash bytea,
    add column row_hash bytea;

create index audit_log_occurred_idx on audit_log (occurred_at desc);
create index audit_log_actor_idx on audit_log (actor_account_id, occurred_at desc);

-- The end of the chain. Its row lock orders concurrent appends: the chain order is the order in
-- which writers got this lock, which identity values (taken earlier) do not give.
create table audit_chain_head (
    only_row boolean primary key default true check (only_row),
    seq bigint not null,
    last_hash bytea not null
);

-- The text a row's hash covers; `xiaobao audit verify` rebuilds it from the same columns.
create function audit_log_canonical(r audit_log) returns text
language sql stable as $$
    select concat_ws(E'\x1f',
        r.chain_seq::text, r.audit_log_id::text,
        to_char(r.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        r.actor, r.action, r.entity, coalesce(r.entity_id, ''), r.detail::text,
        coalesce(r.actor_account_id::text, ''), coalesce(r.actor_org_id::text, ''),
        coalesce(r.on_behalf_of_org_id::text, ''), coalesce(r.ip, ''), coalesce(r.user_agent, ''))
$$;

-- Rows written before the chain existed are chained now, in id order.
do $$
declare
    r audit_log;
    n bigint := 0;
    prev bytea := '\x'::bytea;
begin
    alter table audit_log disable trigger audit_log_no_change;
    for r in select * from audit_log order by audit_log_id loop
        n := n + 1;
        r.chain_seq := n;
        r.occurred_at := date_trunc('microseconds', r.occurred_at);
        update audit_log
           set chain_seq = n,
               occurred_at = r.occurred_at,
               prev_hash = prev,
               row_hash = sha256(prev || convert_to(audit_log_canonical(r), 'UTF8'))
         where audit_log_id = r.audit_log_id
        returning row_hash into prev;
    end loop;
    alter table audit_log enable trigger audit_log_no_change;
    insert into audit_chain_head (seq, last_hash) values (n, prev);
end
$$;

create function audit_log_chain() returns trigger
language plpgsql as $$
begin
    update audit_chain_head set seq = seq + 1 where only_row
    returning seq, last_hash into new.chain_seq, new.prev_hash;
    new.occurred_at := date_trunc('microseconds', new.occurred_at);
    new.row_hash := sha256(new.prev_hash || convert_to(audit_log_canonical(new), 'UTF8'));
    update audit_chain_head set last_hash = new.row_hash where only_row;
    return new;
end
$$;

create trigger audit_log_chain
before insert on audit_log
for each row execute function audit_log_chain();

create trigger audit_log_no_truncate
before truncate on audit_log
for each statement execute function audit_log_append_only();

create function audit_chain_head_no_delete() returns trigger
language plpgsql as $$
begin
    raise exception 'audit_chain_head keeps its one row';
end
$$;

create trigger audit_chain_head_keep
before delete or truncate on audit_chain_head
for each statement execute function audit_chain_head_no_delete();

alter table audit_log
    alter column chain_seq set not null,
    alter column row_hash set not null,
    alter column prev_hash set not null,
    add constraint audit_log_chain_seq_key unique (chain_seq);
