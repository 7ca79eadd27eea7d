-- Every appended audit row is folded into the tenant's anchor outside this schema (see
-- `crates/db/src/anchor.rs`): a keyed MAC the tenant's role can neither read nor write.
create trigger audit_log_anchor
after insert on audit_log
for each row execute function audit_anchor.advance();
