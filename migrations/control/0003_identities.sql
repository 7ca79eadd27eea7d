-- Platform logins of brokers and insurer head offices: one login name and password that act,
-- in each programme they are granted, as an account of that programme (its organisation and
-- roles stay tenant data). Lock-out and password history work as for tenant accounts.
create table identities (
    identity_id bigint generated always as identity primary key,
    login_name text not null unique check (length(login_name) between 3 and 60),
    display_name text not null check (length(display_name) between 1 and 100),
    company_id bigint references companies (company_id),
    password_hash text,
    password_changed_at timestamptz,
    must_change_password boolean not null default true,
    failed_logins integer not null default 0 check (failed_logins >= 0),
    locked_until timestamptz,
    status text not null default 'active' check (status in ('active', 'disabled')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- In which programme an identity acts, and as which of its accounts.
create table identity_grants (
    identity_id bigint not null references identities (identity_id),
    tenant_id bigint not null references tenants (tenant_id),
    account_id bigint not null,
    granted_at timestamptz not null default now(),
    primary key (identity_id, tenant_id)
);
