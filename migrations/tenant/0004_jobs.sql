-- Background jobs of the tenant: a queue claimed with `for update skip locked`.
-- A job is enqueued in the same transaction as the business write that causes it, so a
-- rolled-back change never runs its job. `dedupe_key` makes enqueueing idempotent (scheduled
-- occurrences, one delivery job per notification). A running job holds a lease
-- (`locked_by`, `locked_until`): when a worker dies mid-job the lease runs out and another
-- worker takes the job again.
create table jobs (
    job_id bigint generated always as identity primary key,
    kind text not null check (length(kind) between 1 and 100),
    payload jsonb not null default '{}'::jsonb,
    dedupe_key text unique check (length(dedupe_key) between 1 and 300),
    status text not null default 'queued'
        check (status in ('queued', 'running', 'done', 'dead')),
    attempts integer not null default 0 check (attempts >= 0),
    max_attempts integer not null default 5 check (max_attempts between 1 and 100),
    run_at timestamptz not null default now(),
    locked_by text,
    locked_until timestamptz,
    last_error text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    finished_at timestamptz,
    check ((status = 'running') = (locked_until is not null))
);

-- What the worker claims: due queued jobs, and running jobs whose lease has run out.
create index jobs_due_idx on jobs (run_at, job_id) where status = 'queued';
create index jobs_lease_idx on jobs (locked_until) where status = 'running';
-- Listing by status (dead jobs for the administrators), newest change first.
create index jobs_status_idx on jobs (status, updated_at desc, job_id desc);

-- Wakes the workers listening on `xiaobao_jobs`; the payload is the tenant schema, so a
-- worker looks only at that tenant. Delivered on commit only: a rolled-back enqueue wakes
-- nobody.
create function jobs_notify() returns trigger
language plpgsql as $$
begin
    perform pg_notify('xiaobao_jobs', current_schema());
    return null;
end
$$;

create trigger jobs_notify_insert
after insert on jobs
for each row execute function jobs_notify();
