-- Documents (rosters, certificates, claim evidence, policies, endorsements) whose bytes live in
-- object storage under a content-addressed key: tenants/<tenant_id>/sha256/<2 hex>/<sha256>.
-- A row is inserted only after its bytes are stored (crates/storage), in the same transaction
-- as the business write that refers to it. Rows are never updated.
create table documents (
    document_id bigint generated always as identity primary key,
    tenant_id bigint not null,
    kind text not null
        check (kind in ('roster', 'qualification', 'claim_evidence', 'policy', 'endorsement')),
    owner_kind text not null check (length(owner_kind) between 1 and 50),
    owner_id text not null check (length(owner_id) between 1 and 100),
    original_name text not null check (length(original_name) between 1 and 255),
    media_type text not null check (media_type in (
        'application/pdf',
        'image/png',
        'image/jpeg',
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'text/csv'
    )),
    size_bytes bigint not null check (size_bytes >= 0),
    sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    object_key text not null check (
        object_key = 'tenants/' || tenant_id || '/sha256/' || substr(sha256, 1, 2) || '/' || sha256
    ),
    uploaded_by text not null check (length(uploaded_by) between 1 and 200),
    uploaded_at timestamptz not null default now(),
    created_at timestamptz not null default now()
);

create index documents_owner_idx on documents (owner_kind, owner_id, uploaded_at);
-- The cleanup job asks "is this object referenced?" for every stored object.
create index documents_object_key_idx on documents (object_key);

create function documents_no_update() returns trigger
language plpgsql as $$
begin
    raise exception 'documents rows are never updated';
end
$$;

create trigger documents_no_update
before update on documents
for each statement execute function documents_no_update();
