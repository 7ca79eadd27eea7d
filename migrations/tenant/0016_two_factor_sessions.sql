-- Turning two-factor sign-in on or off changes what a session was granted on, as a password
-- change does: the account's session epoch moves, so every other session of the account ends
-- (the one that made the change is signed in anew). Triggers move it, so no code path can
-- forget to. A pending enrolment (no `enabled_at` yet) moves nothing.
create function account_totp_bump_session_epoch() returns trigger
language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        if old.enabled_at is not null then
            update accounts set session_epoch = session_epoch + 1
            where account_id = old.account_id;
        end if;
        return old;
    end if;
    if new.enabled_at is not null and old.enabled_at is null then
        update accounts set session_epoch = session_epoch + 1
        where account_id = new.account_id;
    end if;
    return new;
end
$$;

create trigger account_totp_session_epoch
after update of enabled_at or delete on account_totp
for each row execute function account_totp_bump_session_epoch();
