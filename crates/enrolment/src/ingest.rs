//! Storing an uploaded roster. Parsing and sealing are CPU work done outside any transaction
//! (see [`seal`]); [`accept`] then checks the headcount and the IDs insured by other schools and
//! writes the rows with one `COPY`, or [`reject`] records the problems. Either way the original
//! file is kept (its document row is written by the caller in the same transaction), and a
//! rejected roster leaves the roster in force and the headcount untouched.

use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgConnection;
use xiaobao_audit::{Actor, Entry};
use xiaobao_domain::{Gender, InsuredGroup, ProgrammeRules, SchoolType};
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
    let pending = row.status != "draft";
    if !pending {
        let (open, deadline, _) =
            school::window(conn, rules, &row.academic_year, row.school_org_id, today).await?;
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

/// Rows sealed and laid out for `COPY … from stdin` (text format), with their match hashes
/// and lines for the duplicate check.
pub struct SealedRoster {
    pub rows: u32,
    copy_text: Vec<u8>,
    hashes: Vec<Vec<u8>>,
    lines: Vec<u32>,
}

/// Seals every ID (AES-256-GCM) and hashes it for matching; builds the `COPY` text.
pub fn seal(parsed: &ParsedRoster, sealer: &IdSealer) -> SealedRoster {
    let mut copy_text = Vec::with_capacity(parsed.rows.len() * 160);
    let mut hashes = Vec::with_capacity(parsed.rows.len());
    let mut lines = Vec::with_capacity(parsed.rows.len());
    let mut line = String::with_capacity(256);
    for (i, row) in parsed.rows.iter().enumerate() {
        let sealed = sealer.seal(&row.id);
        let hash = sealer.match_hash(&row.id);
        line.clear();
        // The roster id is not known yet: `copy_rows` puts it in front of every line.
        let _ = write!(line, "{}\t{}\t", i + 1, row.line);
        push_field(&mut line, Some(&row.name));
        line.push_str(match row.gender {
            Gender::Male => "M\t",
            Gender::Female => "F\t",
        });
        push_field(&mut line, row.class_name.as_deref());
        push_bytea(&mut line, &sealed);
        push_bytea(&mut line, &hash);
        push_field(&mut line, Some(&row.id.masked()));
        push_field(&mut line, row.student_no.as_deref());
        push_field(&mut line, row.post.as_deref());
        push_last(&mut line, row.note.as_deref());
        copy_text.extend_from_slice(line.as_bytes());
        hashes.push(hash.to_vec());
        lines.push(row.line);
    }
    SealedRoster {
        rows: u32::try_from(parsed.rows.len()).unwrap_or(u32::MAX),
        copy_text,
        hashes,
        lines,
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn push_field(out: &mut String, v: Option<&str>) {
    match v {
        Some(s) => escape_into(out, s),
        None => out.push_str("\\N"),
    }
    out.push('\t');
}

fn push_last(out: &mut String, v: Option<&str>) {
    match v {
        Some(s) => escape_into(out, s),
        None => out.push_str("\\N"),
    }
    out.push('\n');
}

fn push_bytea(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\\\x");
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out.push('\t');
}

/// The outcome of an upload.
#[derive(Debug, Clone, Serialize)]
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
    let roster_id: i64 = sqlx::query_scalar(
        "insert into rosters (enrolment_id, document_id, status, row_count, problems, \
         uploaded_by, uploaded_on_behalf) values ($1, $2, 'rejected', 0, $3, $4, $5) \
         returning roster_id",
    )
    .bind(target.enrolment.enrolment_id)
    .bind(document_id)
    .bind(json)
    .bind(actor.account_id)
    .bind(actor.on_behalf_of_org_id.is_some())
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
    // One uploader per year and product at a time, so two schools cannot both insure an ID.
    sqlx::query("select pg_advisory_xact_lock(hashtext('xiaobao-roster:' || $1 || ':' || $2))")
        .bind(&e.academic_year)
        .bind(&e.product_code)
        .execute(&mut *conn)
        .await?;
    let taken: Vec<Vec<u8>> = sqlx::query_scalar(
        "select distinct r.id_hash from unnest($1::bytea[]) as h(id_hash) \
         join roster_rows r on r.id_hash = h.id_hash \
         join enrolments e on e.roster_id = r.roster_id \
         where e.academic_year = $2 and e.product_code = $3 and e.school_org_id <> $4",
    )
    .bind(&sealed.hashes)
    .bind(&e.academic_year)
    .bind(&e.product_code)
    .bind(e.school_org_id)
    .fetch_all(&mut *conn)
    .await?;
    if !taken.is_empty() {
        let taken: std::collections::HashSet<&[u8]> = taken.iter().map(Vec::as_slice).collect();
        for (hash, line) in sealed.hashes.iter().zip(&sealed.lines) {
            if taken.contains(hash.as_slice()) {
                problems.push(problem(
                    *line,
                    Some("身份证号"),
                    "该学生本学年已由本项目的其他学校投保同一险种，请核实（转学学生须由原学校先申请修改花名册）",
                ));
            }
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
    let roster_id: i64 = sqlx::query_scalar(
        "insert into rosters (enrolment_id, document_id, status, row_count, uploaded_by, \
         uploaded_on_behalf) values ($1, $2, $3, $4, $5, $6) returning roster_id",
    )
    .bind(e.enrolment_id)
    .bind(document_id)
    .bind(status)
    .bind(i32::try_from(sealed.rows).unwrap_or(i32::MAX))
    .bind(actor.account_id)
    .bind(actor.on_behalf_of_org_id.is_some())
    .fetch_one(&mut *conn)
    .await?;
    copy_rows(conn, roster_id, sealed).await?;
    if !target.pending {
        sqlx::query(
            "update enrolments set roster_id = $2, headcount = $3, updated_at = now() \
             where enrolment_id = $1",
        )
        .bind(e.enrolment_id)
        .bind(roster_id)
        .bind(i32::try_from(sealed.rows).unwrap_or(i32::MAX))
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

/// Writes the rows of `roster_id` with one `COPY`.
async fn copy_rows(
    conn: &mut PgConnection,
    roster_id: i64,
    sealed: &SealedRoster,
) -> Result<(), EnrolmentError> {
    let mut copy = conn
        .copy_in_raw(
            "copy roster_rows (roster_id, row_no, line, name, gender, class_name, id_sealed, \
             id_hash, id_masked, student_no, post, note) from stdin with (format text)",
        )
        .await?;
    // Every line starts with the roster id: prefix it chunk by chunk.
    let prefix = format!("{roster_id}\t");
    let mut buf = Vec::with_capacity(1 << 20);
    for line in sealed.copy_text.split_inclusive(|b| *b == b'\n') {
        buf.extend_from_slice(prefix.as_bytes());
        buf.extend_from_slice(line);
        if buf.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buf)).await?;
            buf.reserve(1 << 20);
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// A roster's problems (a rejected upload) for the result page.
#[derive(Debug, Clone, Serialize)]
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
    let sql = format!(
        "select r.roster_id, r.enrolment_id, r.status, r.row_count, r.problems, r.document_id, \
         r.created_at from rosters r join enrolments e on e.enrolment_id = r.enrolment_id \
         join organisations o on o.org_id = e.school_org_id where r.roster_id = $1 and {}",
        scope.condition(2)
    );
    #[allow(clippy::type_complexity)]
    let row: Option<(
        i64,
        i64,
        String,
        i32,
        Option<serde_json::Value>,
        i64,
        chrono::DateTime<chrono::Utc>,
    )> = scope
        .bind(sqlx::query_as(&sql).bind(roster_id))
        .fetch_optional(conn)
        .await?;
    Ok(row.map(
        |(roster_id, enrolment_id, status, row_count, problems, document_id, created_at)| {
            RosterRecord {
                roster_id,
                enrolment_id,
                status,
                row_count,
                problems: problems
                    .and_then(|p| serde_json::from_value::<Vec<ProblemJson>>(p).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| problem(p.line, p.column.as_deref(), p.reason))
                    .collect(),
                document_id,
                created_at,
            }
        },
    ))
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
