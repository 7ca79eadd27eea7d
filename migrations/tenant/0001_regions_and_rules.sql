-- The programme's region tree (GB/T 2260 codes; `direct` = a 市直 bucket of a city).
-- `path` is the dotted chain of codes from the root, so a subtree is `path like 'a.b.%'`.
create table regions (
    region_code text primary key check (region_code ~ '^[0-9]{6}$'),
    name text not null check (length(name) between 1 and 50),
    parent_code text references regions (region_code),
    level text not null check (level in ('province', 'city', 'county', 'direct')),
    path text not null unique,
    sort_order integer not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index regions_parent_idx on regions (parent_code, sort_order, region_code);
create index regions_path_idx on regions (path text_pattern_ops);

-- Programme rules per academic year, versioned: the highest version is in force.
-- Rows are never updated; a change is a new version.
create table programme_rules (
    programme_rules_id bigint generated always as identity primary key,
    academic_year text not null check (academic_year ~ '^[0-9]{4}-[0-9]{4}$'),
    version integer not null check (version > 0),
    document text not null,
    changed_by text not null,
    change_reason text not null,
    created_at timestamptz not null default now(),
    unique (academic_year, version)
);
