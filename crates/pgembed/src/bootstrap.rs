//! What the superuser does on every start of a password-protected cluster: set the two
//! passwords, make sure the service role exists with the right attributes, and hand it what
//! an older (trust, superuser-run) version of the service created.
//!
//! All of it runs with the cluster's own `psql`, as the cluster's OS user (see [`Runner`]),
//! with the SQL on standard input. Passwords travel only as SCRAM verifiers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::proc::{Runner, command_failed, run_unchecked, run_unchecked_with_input};
use crate::{PgBinaries, PgEmbedError, SERVICE_ROLE, SUPERUSER, scram};

/// How long a reloaded `pg_hba.conf` may take to be in force.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

/// How `psql` reaches the cluster as the superuser.
pub(crate) enum Conn {
    /// The Unix socket in this directory, `peer` authentication (the OS user is mapped to the
    /// superuser), or whatever the loaded `pg_hba.conf` of an older cluster says for `local`.
    Socket(PathBuf),
    /// `127.0.0.1`, the password from this libpq password file.
    Tcp {
        /// `PGPASSFILE`.
        pgpass: PathBuf,
    },
}

impl Conn {
    fn describe(&self) -> String {
        match self {
            Self::Socket(dir) => format!("over the Unix socket in {}", dir.display()),
            Self::Tcp { pgpass } => format!(
                "over TCP on 127.0.0.1 with the password file {}",
                pgpass.display()
            ),
        }
    }
}

/// `psql` as `user` on database `postgres`, never prompting, no `.psqlrc`, stopping at the
/// first error.
pub(crate) fn psql(bins: &PgBinaries, runner: &Runner, conn: &Conn, port: u16) -> Command {
    let mut cmd = runner.command(&bins.tool("psql"));
    cmd.args(["-X", "-q", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"]);
    match conn {
        Conn::Socket(dir) => {
            cmd.arg(dir);
        }
        Conn::Tcp { pgpass } => {
            cmd.arg("127.0.0.1").env("PGPASSFILE", pgpass);
        }
    }
    cmd.arg("-p")
        .arg(port.to_string())
        .args(["-U", SUPERUSER, "-d", "postgres"])
        .env("PGCONNECT_TIMEOUT", "10");
    cmd
}

/// The bootstrap, one transaction. `superuser` and `service` are SCRAM verifiers.
fn bootstrap_sql(superuser: &str, service: &str) -> String {
    format!(
        r"set search_path = pg_catalog;
set client_min_messages = warning;
begin;
select pg_advisory_xact_lock(hashtext('xiaobao-pgembed-bootstrap'));
alter role {SUPERUSER} with password '{superuser}';
do $bootstrap$
begin
    if not exists (select from pg_roles where rolname = '{SERVICE_ROLE}') then
        create role {SERVICE_ROLE};
    end if;
end
$bootstrap$;
alter role {SERVICE_ROLE} with login nosuperuser createrole nocreatedb noreplication nobypassrls
    inherit password '{service}';
do $bootstrap$
declare
    service constant text := '{SERVICE_ROLE}';
    service_oid constant oid := (select oid from pg_roles where rolname = '{SERVICE_ROLE}');
    schema_name text;
    schema_oid oid;
    r record;
begin
    execute format('grant create on database %I to %I', current_database(), service);

    -- What the service owns in external mode: the catalog schema and the audit anchor, with
    -- everything in them (indexes, identity and serial sequences, row types and triggers
    -- follow their table).
    foreach schema_name in array array['control', 'audit_anchor'] loop
        schema_oid := (select oid from pg_namespace where nspname = schema_name);
        continue when schema_oid is null;
        execute format('alter schema %I owner to %I', schema_name, service);
        for r in
            select c.oid::regclass::text as obj,
                   case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                  when 'f' then 'foreign table' when 'S' then 'sequence'
                                  else 'table' end as kind
              from pg_class c
             where c.relnamespace = schema_oid
               and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
               and c.relowner <> service_oid
               and not exists (select from pg_depend d
                                where d.classid = 'pg_class'::regclass and d.objid = c.oid
                                  and d.refclassid = 'pg_class'::regclass
                                  and d.deptype in ('a', 'i'))
        loop
            execute format('alter %s %s owner to %I', r.kind, r.obj, service);
        end loop;
        for r in
            select p.oid::regprocedure::text as obj,
                   case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate'
                                  else 'function' end as kind
              from pg_proc p
             where p.pronamespace = schema_oid and p.proowner <> service_oid
        loop
            execute format('alter %s %s owner to %I', r.kind, r.obj, service);
        end loop;
        for r in
            select t.oid::regtype::text as obj,
                   case t.typtype when 'd' then 'domain' else 'type' end as kind
              from pg_type t
             where t.typnamespace = schema_oid and t.typowner <> service_oid
               and (t.typtype in ('d', 'e', 'r')
                    or (t.typtype = 'c'
                        and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c'))
        loop
            execute format('alter %s %s owner to %I', r.kind, r.obj, service);
        end loop;
    end loop;

    -- Every tenant role (the owner of a t_* schema), so the service can `set role` to it.
    for r in
        select distinct o.rolname
          from pg_namespace n
          join pg_roles o on o.oid = n.nspowner
         where n.nspname like 't\_%'
           and not o.rolsuper
           and o.oid <> service_oid
           and o.rolname !~ '^pg_'
           and not exists (select from pg_auth_members m
                            where m.roleid = o.oid and m.member = service_oid)
    loop
        execute format('grant %I to %I with admin option', r.rolname, service);
    end loop;
end
$bootstrap$;
commit;
"
    )
}

/// Runs the bootstrap as the superuser over `conn`.
pub(crate) fn run(
    bins: &PgBinaries,
    runner: &Runner,
    dir: &Path,
    port: u16,
    conn: &Conn,
    superuser_password: &str,
    service_password: &str,
) -> Result<(), PgEmbedError> {
    let superuser = scram::verifier(superuser_password);
    let service = scram::verifier(service_password);
    let mut cmd = psql(bins, runner, conn, port);
    cmd.args(["-f", "-"]);
    let output =
        run_unchecked_with_input(&mut cmd, bootstrap_sql(&superuser, &service).as_bytes())?;
    if output.status.success() {
        return Ok(());
    }
    let mut detail = command_failed(&cmd, &output)
        .to_string()
        .replace(&superuser, "[redacted]")
        .replace(&service, "[redacted]");
    if let Conn::Tcp { .. } = conn {
        detail.push_str(
            "\n(the superuser's password is the one in the superuser-password file next to the \
             password file named above; if that file was replaced, put the previous one back)",
        );
    }
    Err(PgEmbedError::Bootstrap {
        data_dir: dir.to_path_buf(),
        via: conn.describe(),
        detail,
    })
}

/// Waits until the superuser without a password is refused on `127.0.0.1:port` (a reloaded
/// `pg_hba.conf` takes a moment); errors if it still gets in after [`RELOAD_WAIT`].
/// `no_pgpass` names a file that does not exist, so libpq finds no password anywhere.
pub(crate) fn wait_until_passwordless_refused(
    bins: &PgBinaries,
    runner: &Runner,
    dir: &Path,
    port: u16,
    no_pgpass: &Path,
) -> Result<(), PgEmbedError> {
    let started = Instant::now();
    loop {
        let mut cmd = psql(
            bins,
            runner,
            &Conn::Tcp {
                pgpass: no_pgpass.to_path_buf(),
            },
            port,
        );
        cmd.args(["-c", "select 1"]);
        if !run_unchecked(&mut cmd)?.status.success() {
            return Ok(());
        }
        if started.elapsed() > RELOAD_WAIT {
            return Err(PgEmbedError::TrustStillAccepted {
                data_dir: dir.to_path_buf(),
                port,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_sql_names_the_roles_and_carries_only_verifiers() {
        let sql = bootstrap_sql("SCRAM-SHA-256$4096:a$b:c", "SCRAM-SHA-256$4096:d$e:f");
        assert!(sql.contains("alter role postgres with password 'SCRAM-SHA-256$4096:a$b:c';"));
        assert!(sql.contains("create role xiaobao_service;"));
        assert!(sql.contains("nosuperuser createrole"));
        assert!(sql.contains("password 'SCRAM-SHA-256$4096:d$e:f';"));
        assert!(sql.contains(r"like 't\_%'"));
        assert_eq!(sql.matches("$bootstrap$").count(), 4);
        assert!(sql.trim_end().ends_with("commit;"));
    }
}
