-- Append-only audit trail of the tenant.
create table audit_log (
    audit_log_id bigint generated always as identity primary key,
    occurred_at timestamptz not null default now(),
    actor text not null,
    action text not null,
    entity text not null,
    entity_id text,
    detail jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
);

create index audit_log_entity_idx on audit_log (entity, entity_id, occurred_at);

create function audit_log_append_only() returns trigger
language plpgsql as $$
begin
    raise exception 'audit_log is append-only';
end
$$;

create trigger audit_log_no_change
before update or delete on audit_log
for each statement execute function audit_log_append_only();
