-- Enrolments and their requests copy the school's region path (so region scope and progress
-- are one indexed prefix match). A school moved to another region takes them along, in the
-- transaction that moves it.
create function organisations_move_enrolments() returns trigger
language plpgsql as $$
begin
    update enrolments set region_path = new.region_path, updated_at = now()
    where school_org_id = new.org_id;
    update enrolment_requests set region_path = new.region_path
    where school_org_id = new.org_id;
    return null;
end
$$;

create trigger organisations_move_enrolments
after update of region_path on organisations
for each row when (old.region_path is distinct from new.region_path and new.kind = 'school')
execute function organisations_move_enrolments();
