-- The remaining school and central-school screens.
--
-- A central school registers a school of its county on its behalf (增加所辖学校): the
-- registration records which central school filed it, the department sees it, and approving
-- it assigns the school to that central school.
alter table organisations
    add column registered_by_org_id bigint references organisations (org_id);

-- A school changes its own contact mobile (修改手机号) with an SMS code sent to the new number.
alter table one_time_codes drop constraint one_time_codes_purpose_check;
alter table one_time_codes add constraint one_time_codes_purpose_check
    check (purpose in ('set_password', 'reset_password', 'change_mobile'));
