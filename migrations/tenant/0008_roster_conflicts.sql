-- An uploaded ID number that another school of the programme already insures for the same
-- year and product, under another name. The uploader is never told (that would make the
-- upload an oracle for children's ID numbers); the departments of both schools resolve it.
create table roster_conflicts (
    conflict_id bigint generated always as identity primary key,
    academic_year text not null references academic_years (academic_year),
    product_code text not null,
    id_hash bytea not null,
    id_masked text not null,
    -- The upload that found it, its line, and its school.
    roster_id bigint not null references rosters (roster_id),
    line integer not null,
    school_org_id bigint not null references organisations (org_id),
    school_region_path text not null,
    -- The roster in force at the other school when the upload was accepted.
    other_roster_id bigint not null references rosters (roster_id),
    other_school_org_id bigint not null references organisations (org_id),
    other_region_path text not null,
    uploaded_by bigint references accounts (account_id),
    status text not null default 'open' check (status in ('open', 'resolved')),
    resolution text check (resolution is null or length(resolution) between 1 and 500),
    resolved_by bigint references accounts (account_id),
    resolved_at timestamptz,
    created_at timestamptz not null default now(),
    check ((status = 'open') = (resolved_at is null))
);

create index roster_conflicts_school_idx
    on roster_conflicts (academic_year, school_region_path text_pattern_ops);
create index roster_conflicts_other_idx
    on roster_conflicts (academic_year, other_region_path text_pattern_ops);
create index roster_conflicts_uploader_idx on roster_conflicts (uploaded_by, created_at);

-- One alert to the authority per uploading account and day.
create table roster_conflict_alerts (
    account_id bigint not null references accounts (account_id),
    alert_day date not null,
    conflicts integer not null,
    created_at timestamptz not null default now(),
    primary key (account_id, alert_day)
);
