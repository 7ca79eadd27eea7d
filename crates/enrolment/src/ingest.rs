//! Storing an uploaded roster. Parsing and sealing are CPU work done outside any transaction
//! (see [`seal`]); [`accept`] then checks the headcount and the IDs insured by other schools and
//! writes the rows with one `COPY`, or [`reject`] records the problems. Either way the original
//! file is kept (its document row is written by the caller in the same transaction), and a
//! rejected roster leaves the roster in force and the headcount untouched.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{EnrolmentStage, Gender, InsuredGroup, ProgrammeRules, SchoolType};
use xiaobao_roster::{IdSealer, ParsedRoster, RosterSpec, RowProblem};

use crate::school::{self, EnrolmentRow};
use crate::{EnrolmentError, EnrolmentScope, Outcome, Problem};

/// Where an upload goes: a draft's roster (accepted at once) or a submitted enrolment's
/// modification (pending until the request is approved).
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub enrolment: EnrolmentRow,
    pub group: InsuredGroup,
    pub school_type: SchoolType,
    /// `true` when the enrolment is submitted: the roster waits for a modification request.
    pub pending: bool,
}

impl Target {
    /// What [`xiaobao_roster::parse_roster`] needs.
    pub fn spec(&self, today: NaiveDate) -> RosterSpec {
        RosterSpec {
            group: self.group,
            school_type: self.school_type,
            today,
        }
    }
}

/// The enrolment an upload is for, checked: in scope, the year's rules know its product, and a
/// draft may still change (deadline) — a submitted one takes a roster for a modification.
pub async fn target(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    enrolment_id: i64,
    rules: &ProgrammeRules,
    today: NaiveDate,
) -> Outcome<Target> {
    let Some(row) = school::enrolment(conn, scope, enrolment_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    let Some(product) = rules.product(&row.product_code) else {
        return Ok(Err(Problem::UnknownProduct));
    };
    let Some(info) = school::school(conn, &scope.schools, row.school_org_id).await? else {
        return Ok(Err(Problem::NotFound));
    };
    let pending = row.status != EnrolmentStage::Draft;
    if !pending {
        let (open, deadline, _) =
            school::window(conn, rules, row.academic_year, row.school_org_id, today).await?;
        if !open && row.seq == 1 {
            return Ok(Err(Problem::DeadlinePassed(deadline.to_string())));
        }
    }
    Ok(Ok(Target {
        group: product.insured,
        school_type: info.school_type,
        pending,
        enrolment: row,
    }))
}

/// Rows sealed and laid out as binary `COPY` tuples, in match-hash order (index inserts in
/// key order touch each index page once), with their hashes and lines for the duplicate check.
pub struct SealedRoster {
    pub rows: u32,
    /// The tuples, in hash order, as encoded by each sealing thread.
    parts: Vec<EncodedPart>,
    /// The 16-byte match hashes one after the other, ascending.
    hashes: Vec<u8>,
    /// The line of each hash.
    lines: Vec<u32>,
    /// The name and masked ID of each hash (for the rare hashes another school also has).
    names: Vec<String>,
    masked: Vec<String>,
}

/// Consecutive tuples, each without its first field (the roster id, not known while sealing):
/// see [`copy_rows`].
struct EncodedPart {
    tuples: Vec<u8>,
    /// Where each tuple ends in `tuples`.
    ends: Vec<usize>,
}

/// Rows per sealing thread below which one thread does it all.
const ROWS_PER_THREAD: usize = 4_096;

/// Runs `work` over `items` split into at most `threads` consecutive parts, in parallel.
fn in_parts<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(usize, &[T]) -> R + Sync,
) -> Vec<R> {
    let per_part = items.len().div_ceil(threads.max(1)).max(1);
    if threads <= 1 || items.len() <= per_part {
        return vec![work(0, items)];
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_part)
            .enumerate()
            .map(|(i, part)| scope.spawn(move || work(i * per_part, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Seals every ID (AES-256-GCM), hashes it for matching and encodes the rows for a binary
/// `COPY`, in hash order. Large rosters are sealed on several threads.
pub fn seal(parsed: &ParsedRoster, sealer: &IdSealer) -> SealedRoster {
    let rows = &parsed.rows;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(8)
        .min(rows.len().div_ceil(ROWS_PER_THREAD))
        .max(1);
    // (hash, row index), sorted by hash.
    let mut order: Vec<([u8; 16], u32)> = in_parts(rows, threads, |first, part| {
        part.iter()
            .enumerate()
            .map(|(i, row)| {
                let index = u32::try_from(first + i).unwrap_or(u32::MAX);
                (sealer.match_hash(&row.id), index)
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    order.sort_unstable();
    let parts = in_parts(&order, threads, |_, part| {
        let mut tuples = Vec::with_capacity(part.len() * 144);
        let mut ends = Vec::with_capacity(part.len());
        for (hash, index) in part {
            encode_row(&mut tuples, &rows[*index as usize], *index, hash, sealer);
            ends.push(tuples.len());
        }
        EncodedPart { tuples, ends }
    });
    let mut hashes = Vec::with_capacity(order.len() * 16);
    let mut lines = Vec::with_capacity(order.len());
    let mut names = Vec::with_capacity(order.len());
    let mut masked = Vec::with_capacity(order.len());
    for (hash, index) in &order {
        let row = &rows[*index as usize];
        hashes.extend_from_slice(hash);
        lines.push(row.line);
        names.push(row.name.clone());
        masked.push(row.id.masked());
    }
    SealedRoster {
        rows: u32::try_from(rows.len()).unwrap_or(u32::MAX),
        parts,
        hashes,
        lines,
        names,
        masked,
    }
}

/// One row's tuple after the roster id: row number (file order, from 1), line, name, gender,
/// class, sealed ID, match hash, masked ID, 学籍号, post, note.
fn encode_row(
    out: &mut Vec<u8>,
    row: &xiaobao_roster::RosterRow,
    index: u32,
    hash: &[u8; 16],
    sealer: &IdSealer,
) {
    push_int(
        out,
        i32::try_from(index.saturating_add(1)).unwrap_or(i32::MAX),
    );
    push_int(out, i32::try_from(row.line).unwrap_or(i32::MAX));
    push_bytes(out, Some(row.name.as_bytes()));
    push_bytes(
        out,
        Some(match row.gender {
            Gender::Male => b"M",
            Gender::Female => b"F",
        }),
    );
    push_bytes(out, row.class_name.as_deref().map(str::as_bytes));
    push_bytes(out, Some(&sealer.seal(&row.id)));
    push_bytes(out, Some(hash));
    push_bytes(out, Some(row.id.masked().as_bytes()));
    push_bytes(out, row.student_no.as_deref().map(str::as_bytes));
    push_bytes(out, row.post.as_deref().map(str::as_bytes));
    push_bytes(out, row.note.as_deref().map(str::as_bytes));
}

/// A binary `COPY` field: its length, then its bytes (length −1 for null).
fn push_bytes(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

fn push_int(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(&4i32.to_be_bytes());
    out.extend_from_slice(&value.to_be_bytes());
}

/// The outcome of an upload.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RosterResult {
    /// The rows are stored; a draft's roster is now in force (a pending one waits for its
    /// request).
    Accepted { roster_id: i64, rows: u32 },
    /// Not accepted: every problem by line; the roster in force is unchanged.
    Rejected {
        roster_id: i64,
        problems: Vec<RowProblem>,
    },
}

/// Records a rejected upload with its problems (line, column, reason — never the values).
pub async fn reject(
    conn: &mut PgConnection,
    target: &Target,
    document_id: i64,
    problems: Vec<RowProblem>,
    actor: &Actor,
) -> Result<RosterResult, EnrolmentError> {
    let json = serde_json::to_value(&problems).unwrap_or(serde_json::Value::Null);
    let roster_id: i64 = sqlx::query_scalar!(
        "insert into rosters (enrolment_id, document_id, status, row_count, problems, \
         uploaded_by, uploaded_on_behalf) values ($1, $2, 'rejected', 0, $3, $4, $5) \
         returning roster_id",
        target.enrolment.enrolment_id,
        document_id,
        json,
        actor.account_id,
        actor.on_behalf_of_org_id.is_some(),
    )
    .fetch_one(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("roster.rejected", "roster", Some(roster_id))
            .detail("enrolment_id", target.enrolment.enrolment_id)
            .detail("document_id", document_id)
            .detail("problems", problems.len()),
    )
    .await?;
    Ok(RosterResult::Rejected {
        roster_id,
        problems,
    })
}

/// Accepts sealed rows when the headcount matches and no ID is insured by another school of
/// the programme in the same year and product; otherwise records the upload as rejected.
///
/// `declared_headcount` is the headcount the school entered with the upload. A draft's
/// headcount becomes it and the roster goes into force; a submitted enrolment's roster is
/// stored as `pending` for a modification request.
pub async fn accept(
    conn: &mut PgConnection,
    target: &Target,
    document_id: i64,
    sealed: &SealedRoster,
    declared_headcount: u32,
    actor: &Actor,
) -> Result<RosterResult, EnrolmentError> {
    let e = &target.enrolment;
    let mut problems = Vec::new();
    if declared_headcount != sealed.rows {
        problems.push(problem(
            0,
            Some("投保人数"),
            format!(
                "填写的投保人数（{declared_headcount}）与花名册有效行数（{}）不一致",
                sealed.rows
            ),
        ));
    }
    // One uploader per year and product of this programme at a time, so two schools cannot
    // both insure an ID. The key names the tenant's schema: programmes sharing a database do
    // not wait for each other's uploads.
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtext(current_schema() || ':xiaobao-roster:' || $1 || ':' || $2))",
        e.academic_year as _,
        e.product_code,
    )
    .fetch_one(&mut *conn)
    .await?;
    // First the rows anywhere with one of the hashes (one index probe per hash, in hash
    // order), then only those few against the enrolments: a plan that starts from the
    // enrolments of the year would probe every roster of the product once per hash.
    let hits: Vec<Hit> = sqlx::query_as!(
        Hit,
        "with found as materialized ( \
           select r.id_hash, r.roster_id, r.name \
           from generate_series(0, length($1::bytea) / 16 - 1) as i \
           cross join lateral (select substring($1::bytea from i * 16 + 1 for 16) as id_hash) h \
           join roster_rows r on r.id_hash = h.id_hash) \
         select f.id_hash, f.name, f.roster_id, e.school_org_id, e.region_path \
         from found f join enrolments e on e.roster_id = f.roster_id \
         where e.academic_year = $2 and e.product_code = $3 and e.school_org_id <> $4",
        sealed.hashes,
        e.academic_year as _,
        e.product_code,
        e.school_org_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    // An ID insured elsewhere is named to the uploader only with the same name: then the
    // uploader learns nothing it did not type. Any other match is a conflict for the
    // departments of both schools, never shown to the uploader.
    let mut conflicts: Vec<(usize, Hit)> = Vec::new();
    let mut named = std::collections::BTreeSet::new();
    for hit in hits {
        let Some(at) = sealed.position(&hit.id_hash) else {
            continue;
        };
        if same_person(&sealed.names[at], &hit.name) {
            if named.insert(at) {
                problems.push(problem(
                    sealed.lines[at],
                    Some("身份证号"),
                    "该学生本学年已由本项目的其他学校投保同一险种，请核实（转学学生须由原学校先申请修改花名册）",
                ));
            }
        } else {
            conflicts.push((at, hit));
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return reject(conn, target, document_id, problems, actor).await;
    }
    let status = if target.pending {
        "pending"
    } else {
        "accepted"
    };
    let roster_id: i64 = sqlx::query_scalar!(
        "insert into rosters (enrolment_id, document_id, status, row_count, uploaded_by, \
         uploaded_on_behalf) values ($1, $2, $3, $4, $5, $6) returning roster_id",
        e.enrolment_id,
        document_id,
        status,
        i32::try_from(sealed.rows).unwrap_or(i32::MAX),
        actor.account_id,
        actor.on_behalf_of_org_id.is_some(),
    )
    .fetch_one(&mut *conn)
    .await?;
    copy_rows(conn, roster_id, sealed).await?;
    if !conflicts.is_empty() {
        record_conflicts(conn, target, roster_id, sealed, &conflicts, actor).await?;
    }
    if !target.pending {
        sqlx::query!(
            "update enrolments set roster_id = $2, headcount = $3, updated_at = now() \
             where enrolment_id = $1",
            e.enrolment_id,
            roster_id,
            i32::try_from(sealed.rows).unwrap_or(i32::MAX),
        )
        .execute(&mut *conn)
        .await?;
    }
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new(
            if target.pending {
                "roster.uploaded_for_change"
            } else {
                "roster.accepted"
            },
            "roster",
            Some(roster_id),
        )
        .detail("enrolment_id", e.enrolment_id)
        .detail("document_id", document_id)
        .detail("rows", sealed.rows)
        .change("headcount", e.headcount, sealed.rows),
    )
    .await?;
    Ok(RosterResult::Accepted {
        roster_id,
        rows: sealed.rows,
    })
}

/// A row of another school's roster in force with one of the uploaded hashes.
struct Hit {
    id_hash: Vec<u8>,
    name: String,
    roster_id: i64,
    school_org_id: i64,
    region_path: String,
}

impl SealedRoster {
    /// Where `hash` is among the sorted hashes.
    fn position(&self, hash: &[u8]) -> Option<usize> {
        let n = self.hashes.len() / 16;
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.hashes[mid * 16..mid * 16 + 16].cmp(hash) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

/// Two names of one person, as rosters write them (spaces and the middle dot of minority
/// names aside).
fn same_person(a: &str, b: &str) -> bool {
    let key = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '.' | '・'))
            .collect()
    };
    key(a) == key(b)
}

/// Conflicts by one account within a day that alert the programme authority.
pub const CONFLICT_ALERT_THRESHOLD: i64 = 20;

/// Records the conflicts of an accepted upload, audits them (count only), and alerts the
/// authority once a day when one account has produced many.
async fn record_conflicts(
    conn: &mut PgConnection,
    target: &Target,
    roster_id: i64,
    sealed: &SealedRoster,
    conflicts: &[(usize, Hit)],
    actor: &Actor,
) -> Result<(), EnrolmentError> {
    let e = &target.enrolment;
    let mut hashes: Vec<Vec<u8>> = Vec::with_capacity(conflicts.len());
    let mut masked: Vec<&str> = Vec::with_capacity(conflicts.len());
    let mut lines: Vec<i32> = Vec::with_capacity(conflicts.len());
    let mut other_rosters: Vec<i64> = Vec::with_capacity(conflicts.len());
    let mut other_schools: Vec<i64> = Vec::with_capacity(conflicts.len());
    let mut other_paths: Vec<&str> = Vec::with_capacity(conflicts.len());
    for (at, hit) in conflicts {
        hashes.push(hit.id_hash.clone());
        masked.push(&sealed.masked[*at]);
        lines.push(i32::try_from(sealed.lines[*at]).unwrap_or(i32::MAX));
        other_rosters.push(hit.roster_id);
        other_schools.push(hit.school_org_id);
        other_paths.push(&hit.region_path);
    }
    sqlx::query!(
        "insert into roster_conflicts (academic_year, product_code, id_hash, id_masked, \
           roster_id, line, school_org_id, school_region_path, other_roster_id, \
           other_school_org_id, other_region_path, uploaded_by) \
         select $1, $2, h, m, $3, l, $4, \
           (select en.region_path from enrolments en where en.enrolment_id = $5), r, o, p, $6 \
         from unnest($7::bytea[], $8::text[], $9::int[], $10::bigint[], $11::bigint[], \
           $12::text[]) as t(h, m, l, r, o, p)",
        e.academic_year as _,
        e.product_code,
        roster_id,
        e.school_org_id,
        e.enrolment_id,
        actor.account_id,
        &hashes,
        &masked as _,
        &lines,
        &other_rosters,
        &other_schools,
        &other_paths as _,
    )
    .execute(&mut *conn)
    .await?;
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("roster.conflicts_found", "roster", Some(roster_id))
            .detail("enrolment_id", e.enrolment_id)
            .detail("conflicts", conflicts.len()),
    )
    .await?;
    let Some(account_id) = actor.account_id else {
        return Ok(());
    };
    let recent: i64 = sqlx::query_scalar!(
        "select count(*) as \"count!\" from roster_conflicts \
         where uploaded_by = $1 and created_at > now() - interval '1 day'",
        account_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    if recent < CONFLICT_ALERT_THRESHOLD {
        return Ok(());
    }
    let first_today = sqlx::query!(
        "insert into roster_conflict_alerts (account_id, alert_day, conflicts) \
         values ($1, (now() at time zone 'Asia/Shanghai')::date, $2) \
         on conflict do nothing",
        account_id,
        i32::try_from(recent).unwrap_or(i32::MAX),
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !first_today {
        return Ok(());
    }
    xiaobao_audit::record(
        conn,
        actor,
        Entry::new("roster.conflicts_alert", "account", Some(account_id))
            .detail("conflicts_24h", recent),
    )
    .await?;
    let mobiles: Vec<String> = sqlx::query_scalar!(
        "select o.contact_mobile as \"contact_mobile!\" from organisations o \
         where o.kind = 'authority' and o.contact_mobile is not null",
    )
    .fetch_all(&mut *conn)
    .await?;
    for mobile in mobiles {
        xiaobao_notify::queue(
            conn,
            &xiaobao_notify::Notification::sms(
                mobile,
                xiaobao_notify::Template::RosterConflictsAlert {
                    uploader: actor.label.clone(),
                    conflicts: u32::try_from(recent).unwrap_or(u32::MAX),
                },
            ),
        )
        .await?;
    }
    Ok(())
}

/// Writes the rows of `roster_id` with one binary `COPY`.
async fn copy_rows(
    conn: &mut PgConnection,
    roster_id: i64,
    sealed: &SealedRoster,
) -> Result<(), EnrolmentError> {
    /// The binary `COPY` signature, flags and header extension length.
    const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
    const CHUNK: usize = 1 << 20;
    // Runtime SQL: COPY, which the query macros do not take.
    let mut copy = conn
        .copy_in_raw(
            "copy roster_rows (roster_id, row_no, line, name, gender, class_name, id_sealed, \
             id_hash, id_masked, student_no, post, note) from stdin with (format binary)",
        )
        .await?;
    // Every tuple starts with its field count and the roster id.
    let mut prefix = Vec::with_capacity(14);
    prefix.extend_from_slice(&12i16.to_be_bytes());
    prefix.extend_from_slice(&8i32.to_be_bytes());
    prefix.extend_from_slice(&roster_id.to_be_bytes());
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    buf.extend_from_slice(HEADER);
    for part in &sealed.parts {
        let mut start = 0;
        for &end in &part.ends {
            buf.extend_from_slice(&prefix);
            buf.extend_from_slice(&part.tuples[start..end]);
            start = end;
            if buf.len() >= CHUNK {
                copy.send(std::mem::replace(
                    &mut buf,
                    Vec::with_capacity(CHUNK + 4096),
                ))
                .await?;
            }
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buf).await?;
    copy.finish().await?;
    Ok(())
}

/// A roster's problems (a rejected upload) for the result page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RosterRecord {
    pub roster_id: i64,
    pub enrolment_id: i64,
    pub status: String,
    pub row_count: i32,
    pub problems: Vec<RowProblem>,
    pub document_id: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A roster upload in scope.
pub async fn roster(
    conn: &mut PgConnection,
    scope: &EnrolmentScope,
    roster_id: i64,
) -> Result<Option<RosterRecord>, EnrolmentError> {
    let a = scope.args();
    let row = sqlx::query!(
        "select r.roster_id, r.enrolment_id, r.status, r.row_count, r.problems, r.document_id, \
         r.created_at from rosters r join enrolments e on e.enrolment_id = r.enrolment_id \
         join organisations o on o.org_id = e.school_org_id where r.roster_id = $5 \
         and (o.region_path like $1 || '%' or o.org_id = $2 or o.central_school_id = $3) \
         and ($4::bigint is null or e.company_id = $4)",
        a.region_prefix,
        a.org_id,
        a.central_school_id,
        a.company_id,
        roster_id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| RosterRecord {
        roster_id: r.roster_id,
        enrolment_id: r.enrolment_id,
        status: r.status,
        row_count: r.row_count,
        problems: r
            .problems
            .and_then(|p| serde_json::from_value::<Vec<ProblemJson>>(p).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|p| problem(p.line, p.column.as_deref(), p.reason))
            .collect(),
        document_id: r.document_id,
        created_at: r.created_at,
    }))
}

#[derive(serde::Deserialize)]
struct ProblemJson {
    line: u32,
    column: Option<String>,
    reason: String,
}

fn problem(line: u32, column: Option<&str>, reason: impl Into<String>) -> RowProblem {
    RowProblem {
        line,
        column: column.map(str::to_string),
        reason: reason.into(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use xiaobao_domain::resident_id::check_char;
    use xiaobao_domain::{InsuredGroup, ResidentId};
    use xiaobao_roster::RosterRow;

    use super::*;

    fn id(n: usize) -> ResidentId {
        let first17 = format!(
            "410105{}{:02}{:02}{:03}",
            2015 + n % 3,
            1 + n / 28 % 12,
            1 + n % 28,
            n / 336 % 1000
        );
        ResidentId::parse(&format!("{first17}{}", check_char(&first17))).unwrap()
    }

    fn roster(rows: usize) -> ParsedRoster {
        ParsedRoster {
            group: InsuredGroup::Student,
            rows: (0..rows)
                .map(|n| {
                    let id = id(n);
                    RosterRow {
                        line: u32::try_from(n + 2).unwrap(),
                        name: format!("学生{n}"),
                        gender: id.gender(),
                        class_name: Some("三年级(2)班".into()),
                        id,
                        student_no: (n % 2 == 0).then(|| format!("G{n}")),
                        post: None,
                        note: None,
                    }
                })
                .collect(),
        }
    }

    /// The fields of one encoded tuple (after the roster id), `None` for null.
    fn fields(tuple: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < tuple.len() {
            let len = i32::from_be_bytes(tuple[at..at + 4].try_into().unwrap());
            at += 4;
            if len < 0 {
                out.push(None);
            } else {
                let len = usize::try_from(len).unwrap();
                out.push(Some(tuple[at..at + len].to_vec()));
                at += len;
            }
        }
        out
    }

    #[test]
    fn sealed_rows_come_in_hash_order_with_their_file_row_numbers() {
        let sealer = IdSealer::for_tenant(b"0123456789abcdef0123456789abcdef-test", "henan");
        // One thread below ROWS_PER_THREAD rows; several above it.
        for size in [3, 3 * ROWS_PER_THREAD + 17] {
            let parsed = roster(size);
            let sealed = seal(&parsed, &sealer);
            assert_eq!(sealed.rows as usize, size);
            assert_eq!(sealed.hashes.len(), 16 * size);
            assert_eq!(sealed.lines.len(), size);
            let mut seen = vec![false; size];
            let mut previous: Option<Vec<u8>> = None;
            let mut k = 0;
            for part in &sealed.parts {
                let mut start = 0;
                for &end in &part.ends {
                    let f = fields(&part.tuples[start..end]);
                    start = end;
                    assert_eq!(f.len(), 11, "row_no … note");
                    let row_no = i32::from_be_bytes(f[0].clone().unwrap().try_into().unwrap());
                    let row = &parsed.rows[usize::try_from(row_no - 1).unwrap()];
                    assert!(!std::mem::replace(&mut seen[row.line as usize - 2], true));
                    let line = i32::from_be_bytes(f[1].clone().unwrap().try_into().unwrap());
                    assert_eq!(line, i32::try_from(row.line).unwrap());
                    assert_eq!(sealed.lines[k], row.line);
                    assert_eq!(f[2].as_deref(), Some(row.name.as_bytes()));
                    let sealed_id = f[5].clone().unwrap();
                    assert_eq!(sealer.open(&sealed_id).unwrap(), row.id);
                    let hash = f[6].clone().unwrap();
                    assert_eq!(hash, sealer.match_hash(&row.id));
                    assert_eq!(&sealed.hashes[16 * k..16 * (k + 1)], hash.as_slice());
                    assert_eq!(f[7].as_deref(), Some(row.id.masked().as_bytes()));
                    assert_eq!(
                        f[8].as_deref(),
                        row.student_no.as_deref().map(str::as_bytes)
                    );
                    assert_eq!(f[9], None);
                    if let Some(p) = &previous {
                        assert!(p < &hash, "hash order");
                    }
                    previous = Some(hash);
                    k += 1;
                }
            }
            assert_eq!(k, size);
            assert!(seen.iter().all(|s| *s));
        }
    }
}
