-- Turning an operator's second factor on or off ends the operator's other sessions, as a
-- password or status change does: the operator's session epoch moves (the acting session is
-- restamped by the console).
create function operator_totp_move_epoch() returns trigger
language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        if new.enabled_at is distinct from old.enabled_at then
            update control.operators set session_epoch = session_epoch + 1
            where operator_id = new.operator_id;
        end if;
        return new;
    elsif tg_op = 'DELETE' then
        if old.enabled_at is not null then
            update control.operators set session_epoch = session_epoch + 1
            where operator_id = old.operator_id;
        end if;
        return old;
    else
        if new.enabled_at is not null then
            update control.operators set session_epoch = session_epoch + 1
            where operator_id = new.operator_id;
        end if;
        return new;
    end if;
end
$$;

create trigger operator_totp_epoch
after insert or update or delete on operator_totp
for each row execute function operator_totp_move_epoch();
