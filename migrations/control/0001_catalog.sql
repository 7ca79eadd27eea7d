-- The tenant catalog: one row per programme. Each tenant lives in schema `schema_name` on the
-- database cluster named `cluster` (a name from the service configuration).
create table tenants (
    tenant_id bigint generated always as identity primary key,
    slug text not null unique check (slug ~ '^[a-z][a-z0-9]{1,30}$'),
    name_zh text not null check (length(name_zh) between 1 and 100),
    root_region_code text not null check (root_region_code ~ '^[0-9]{6}$'),
    schema_name text not null unique,
    db_role text not null,
    cluster text not null default 'main',
    status text not null default 'provisioning'
        check (status in ('provisioning', 'active', 'archived')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    archived_at timestamptz
);

-- Every service instance listens on this channel and reloads its catalog cache.
create function notify_catalog_change() returns trigger
language plpgsql as $$
begin
    perform pg_notify('xiaobao_catalog', coalesce(new.slug, old.slug));
    return null;
end
$$;

create trigger tenants_changed
after insert or update or delete on tenants
for each row execute function notify_catalog_change();

-- National working-day calendars: a year's holidays (`off`) and adjusted working weekends
-- (`work`). Loaded into memory by every process; a new year is imported as data.
create table holiday_calendars (
    year integer primary key check (year between 2000 and 2100),
    off_days date[] not null,
    work_days date[] not null,
    source text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
