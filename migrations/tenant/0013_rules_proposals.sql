-- A change of a programme's rules is proposed by one authority account and takes effect only
-- when a second one approves it (maker-checker). The proposal keeps the whole document, the
-- version it was written against (a proposal is stale once another version is in force) and
-- both decisions; an approved proposal names the version it became.
create table rules_proposals (
    proposal_id bigint generated always as identity primary key,
    academic_year text not null check (academic_year ~ '^[0-9]{4}-[0-9]{4}$'),
    -- The version in force when it was proposed; null when the year had no rules yet.
    base_version integer,
    document text not null,
    reason text not null,
    proposed_by bigint not null references accounts (account_id),
    proposed_by_name text not null,
    proposed_at timestamptz not null default now(),
    status text not null default 'pending'
        check (status in ('pending', 'approved', 'refused', 'withdrawn')),
    decided_by bigint references accounts (account_id),
    decided_by_name text,
    decided_at timestamptz,
    decision_reason text,
    -- The version an approval stored.
    version integer,
    check ((status = 'pending') = (decided_at is null)),
    check ((status = 'approved') = (version is not null)),
    check (status <> 'refused' or length(decision_reason) > 0),
    -- Nobody decides their own proposal (withdrawing it is not a decision of another).
    check (status in ('pending', 'withdrawn') or decided_by <> proposed_by)
);

-- One open proposal per year: a second waits until the first is decided or withdrawn.
create unique index rules_proposals_one_pending on rules_proposals (academic_year)
    where status = 'pending';
create index rules_proposals_year on rules_proposals (academic_year, proposal_id desc);
