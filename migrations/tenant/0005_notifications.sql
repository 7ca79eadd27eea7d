-- Outgoing notifications (mail, SMS): the outbox. A row is written in the same transaction as
-- the business change that causes it, together with a `notify.deliver` job; the worker sends
-- it and records every attempt. `params` holds the template's parameters; secrets in them
-- (codes, set-password links) are removed once the message is sent.
create table notifications (
    notification_id bigint generated always as identity primary key,
    channel text not null check (channel in ('mail', 'sms')),
    recipient text not null check (length(recipient) between 1 and 320),
    template text not null check (length(template) between 1 and 100),
    params jsonb not null default '{}'::jsonb,
    status text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    updated_at timestamptz not null default now(),
    check ((status = 'sent') = (sent_at is not null))
);

create index notifications_list_idx on notifications (created_at desc, notification_id desc);
create index notifications_status_idx on notifications (status, created_at desc);

-- Every delivery attempt and its result, for the tenant's administrators. `detail` is a short
-- technical reason (never the recipient or the message). Rows are only ever inserted.
create table notification_attempts (
    notification_attempt_id bigint generated always as identity primary key,
    notification_id bigint not null references notifications (notification_id),
    attempted_at timestamptz not null default now(),
    outcome text not null check (outcome in ('sent', 'failed')),
    detail text not null default '' check (length(detail) <= 500),
    provider text not null check (length(provider) between 1 and 50),
    created_at timestamptz not null default now()
);

create index notification_attempts_notification_idx
    on notification_attempts (notification_id, attempted_at);
