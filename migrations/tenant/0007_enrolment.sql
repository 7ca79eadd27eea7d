-- Enrolment (投保): academic years opened from the rules, the insurers a region admits, each
-- school's enrolment per product, its rosters (花名册) with encrypted ID numbers, the requests a
-- school makes after submission and the endorsements (批单) they produce.

-- An academic year the programme authority opened, and the rules version it was opened with.
create table academic_years (
    academic_year text primary key check (academic_year ~ '^[0-9]{4}-[0-9]{4}$'),
    rules_version integer not null check (rules_version > 0),
    opened_by text not null,
    opened_at timestamptz not null default now()
);

-- Insurers a region admits in a year: a school may choose a company admitted for its own
-- region or any region above it. `region_path` is a copy of regions.path.
create table admitted_insurers (
    academic_year text not null references academic_years (academic_year),
    company_id bigint not null,
    company_name text not null,
    region_code text not null references regions (region_code),
    region_path text not null,
    primary key (academic_year, company_id, region_code)
);

-- One school's enrolment in one product for one year. `seq` 2 is a second insurer for the same
-- product, approved by the department. `region_path` copies the school's, so region and
-- insurer queries need no join. Premium is stored in fen at the time it is computed.
create table enrolments (
    enrolment_id bigint generated always as identity primary key,
    academic_year text not null references academic_years (academic_year),
    school_org_id bigint not null references organisations (org_id),
    product_code text not null check (product_code ~ '^[a-z_]{1,50}$'),
    seq smallint not null default 1 check (seq in (1, 2)),
    region_path text not null,
    company_id bigint,
    company_name text,
    headcount integer not null default 0 check (headcount between 0 and 1000000),
    rate_fen bigint check (rate_fen >= 0),
    premium_fen bigint not null default 0 check (premium_fen >= 0),
    -- A school whose term starts before the programme's cover start records it here.
    cover_start date,
    status text not null default 'draft' check (status in ('draft', 'submitted', 'underwritten')),
    roster_id bigint,
    submitted_at timestamptz,
    submitted_by bigint references accounts (account_id),
    submitted_on_behalf boolean not null default false,
    received_at timestamptz,
    received_by bigint references accounts (account_id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (academic_year, school_org_id, product_code, seq),
    check (status = 'draft' or (company_id is not null and roster_id is not null))
);

create index enrolments_region_idx
    on enrolments (academic_year, product_code, region_path text_pattern_ops);
create index enrolments_company_idx
    on enrolments (academic_year, company_id, region_path text_pattern_ops);
create index enrolments_school_idx on enrolments (school_org_id, academic_year);

-- Every roster upload. An accepted roster's rows are in `roster_rows`; a rejected one keeps
-- only its problems (line, column, reason — never the rejected values). `pending` rosters
-- belong to a modification request and take effect when it is approved.
create table rosters (
    roster_id bigint generated always as identity primary key,
    enrolment_id bigint not null references enrolments (enrolment_id),
    document_id bigint not null references documents (document_id),
    status text not null check (status in ('accepted', 'pending', 'rejected', 'discarded')),
    row_count integer not null check (row_count >= 0),
    problems jsonb,
    uploaded_by bigint references accounts (account_id),
    uploaded_on_behalf boolean not null default false,
    created_at timestamptz not null default now(),
    check ((status = 'rejected') = (problems is not null))
);

create index rosters_enrolment_idx on rosters (enrolment_id, created_at desc);

alter table enrolments
    add constraint enrolments_roster_fk foreign key (roster_id) references rosters (roster_id);

-- The rows of accepted and pending rosters, written once by COPY in the upload's transaction.
-- ID numbers are sealed (AES-256-GCM, per-tenant key) with a keyed match hash and the masked
-- form for display; the clear number is never stored. Rows arrive in roster order, so a BRIN
-- index serves "rows of one roster" at almost no write cost; there is no foreign key for the
-- same reason (the rows are written only by the function that writes their roster).
create table roster_rows (
    roster_id bigint not null,
    row_no integer not null,
    line integer not null,
    name text not null,
    gender text not null check (gender in ('M', 'F')),
    class_name text,
    id_sealed bytea not null,
    id_hash bytea not null,
    id_masked text not null,
    student_no text,
    post text,
    note text
);

create index roster_rows_roster_idx on roster_rows using brin (roster_id);
create index roster_rows_hash_idx on roster_rows (id_hash);

-- After the enrolment deadline only a department can let a school submit again.
create table enrolment_reopenings (
    academic_year text not null references academic_years (academic_year),
    school_org_id bigint not null references organisations (org_id),
    reopened_until date not null,
    reason text not null check (length(reason) between 2 and 500),
    reopened_by bigint not null references accounts (account_id),
    reopened_at timestamptz not null default now(),
    primary key (academic_year, school_org_id)
);

-- A school's requests after submission: a modification (new headcount, insurer or roster) of
-- an enrolment, or a second insurer for a product.
create table enrolment_requests (
    request_id bigint generated always as identity primary key,
    kind text not null check (kind in ('modify', 'second_insurer')),
    enrolment_id bigint not null references enrolments (enrolment_id),
    school_org_id bigint not null references organisations (org_id),
    region_path text not null,
    new_headcount integer check (new_headcount between 0 and 1000000),
    new_company_id bigint,
    new_company_name text,
    new_roster_id bigint references rosters (roster_id),
    reason text not null check (length(reason) between 2 and 500),
    reviewer text not null check (reviewer in ('department', 'insurer')),
    status text not null default 'pending'
        check (status in ('pending', 'approved', 'refused', 'withdrawn')),
    requested_by bigint not null references accounts (account_id),
    requested_on_behalf boolean not null default false,
    requested_at timestamptz not null default now(),
    decided_by bigint references accounts (account_id),
    decided_at timestamptz,
    decision_reason text check (length(decision_reason) <= 500),
    premium_change_fen bigint,
    created_enrolment_id bigint references enrolments (enrolment_id),
    check (kind <> 'second_insurer' or new_company_id is not null)
);

create index enrolment_requests_pending_idx
    on enrolment_requests (status, region_path text_pattern_ops) where status = 'pending';
create index enrolment_requests_enrolment_idx on enrolment_requests (enrolment_id, requested_at desc);
create unique index enrolment_requests_open_key on enrolment_requests (enrolment_id, kind)
    where status = 'pending';

-- An endorsement (批单) the insurer owes after an approved modification.
create table endorsements (
    endorsement_id bigint generated always as identity primary key,
    enrolment_id bigint not null references enrolments (enrolment_id),
    request_id bigint not null unique references enrolment_requests (request_id),
    company_id bigint not null,
    company_name text not null,
    region_path text not null,
    old_headcount integer not null,
    new_headcount integer not null,
    old_company_id bigint,
    new_company_id bigint,
    old_roster_id bigint references rosters (roster_id),
    new_roster_id bigint references rosters (roster_id),
    premium_change_fen bigint not null,
    status text not null default 'pending' check (status in ('pending', 'issued')),
    due_at timestamptz not null,
    created_at timestamptz not null default now(),
    issued_at timestamptz,
    issued_by bigint references accounts (account_id)
);

create index endorsements_company_idx
    on endorsements (company_id, status, region_path text_pattern_ops);

-- Reminders sent, so a daily job that runs twice does not remind twice.
create table enrolment_reminders (
    academic_year text not null,
    school_org_id bigint not null references organisations (org_id),
    product_code text not null,
    days_before integer not null,
    sent_at timestamptz not null default now(),
    primary key (academic_year, school_org_id, product_code, days_before)
);
