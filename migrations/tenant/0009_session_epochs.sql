-- A signed-in session is valid only while its account's epoch is the one it was signed in
-- with. The epoch moves whenever what a session was granted on may have changed: the
-- password (changed, reset or cleared), the account's status, or its roles. Triggers move
-- it, so no code path can forget to.
alter table accounts add column session_epoch bigint not null default 0;

create function accounts_bump_session_epoch() returns trigger
language plpgsql as $$
begin
    if new.password_hash is distinct from old.password_hash
        or new.status is distinct from old.status
        or new.org_id is distinct from old.org_id
        or new.account_type is distinct from old.account_type then
        new.session_epoch := old.session_epoch + 1;
    end if;
    return new;
end
$$;

create trigger accounts_session_epoch
before update on accounts
for each row execute function accounts_bump_session_epoch();

create function account_roles_added_bump_session_epoch() returns trigger
language plpgsql as $$
begin
    update accounts set session_epoch = session_epoch + 1
    where account_id in (select account_id from added);
    return null;
end
$$;

create function account_roles_removed_bump_session_epoch() returns trigger
language plpgsql as $$
begin
    update accounts set session_epoch = session_epoch + 1
    where account_id in (select account_id from removed);
    return null;
end
$$;

create trigger account_roles_added_session_epoch
after insert on account_roles
referencing new table as added
for each statement execute function account_roles_added_bump_session_epoch();

create trigger account_roles_removed_session_epoch
after delete on account_roles
referencing old table as removed
for each statement execute function account_roles_removed_bump_session_epoch();
