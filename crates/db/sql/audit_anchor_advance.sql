-- The audit anchor's trigger function (created or replaced at every install); see
-- crates/db/src/anchor.rs.
create or replace function audit_anchor.advance() returns trigger
language plpgsql security definer set search_path = pg_catalog as $$
declare
    k bytea;
begin
    select key into k from audit_anchor.keys where schema_name = TG_TABLE_SCHEMA;
    if k is null then
        return null;
    end if;
    update audit_anchor.anchors
       set seq = new.chain_seq,
           mac = sha256(k || sha256(k || mac || new.row_hash)),
           updated_at = now()
     where schema_name = TG_TABLE_SCHEMA and seq + 1 = new.chain_seq;
    if not found and exists (select 1 from audit_anchor.anchors
                              where schema_name = TG_TABLE_SCHEMA) then
        raise exception 'the audit anchor of % is out of step with its chain', TG_TABLE_SCHEMA;
    end if;
    return null;
end
$$;
revoke all on function audit_anchor.advance() from public;
