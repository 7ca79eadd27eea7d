-- Insurance companies and broker companies: platform-level records shared by every programme.
-- A tenant's insurer branches and broker offices name their company by id (and keep its name,
-- since tenants may live on other clusters).
create table companies (
    company_id bigint generated always as identity primary key,
    kind text not null check (kind in ('insurer', 'broker')),
    name text not null unique check (length(name) between 2 and 100),
    short_name text not null check (length(short_name) between 1 and 30),
    created_at timestamptz not null default now()
);

