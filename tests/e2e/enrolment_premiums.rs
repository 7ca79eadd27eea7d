//! Premium totals come out of stored enrolments exactly (the Shanghai 2016 figures), and roster
//! ID numbers are stored sealed: the clear number is nowhere in the tenant's tables.

use xiaobao_domain::{Role, SchoolNature, SchoolType};
use xiaobao_enrolment::progress::{TotalsBy, premium_totals};
use xiaobao_test_support::{AccountSpec, TestApp};

/// Shanghai 2016: 1,478,100 students × 5 CNY and 37,100 interns × 15 CNY = 7,947,000 CNY,
/// summed from enrolments spread over several schools and both insurers.
#[tokio::test]
async fn shanghai_2016_premium_totals_come_out_exactly() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let year = app.open_enrolment_year("shanghai", &[]).await;
    let tenant = app.state.db.active_tenant("shanghai").unwrap();
    let mut tx = app.state.db.tenant_tx(&tenant).await.unwrap();
    let (_, rules) = xiaobao_enrolment::rules_for(&mut tx, year.parse().expect("a year"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    // Students split over four schools (two per insurer); interns over two vocational schools.
    let students = [400_000u32, 378_100, 500_000, 200_000];
    let interns = [20_000u32, 17_100];
    let mut expected_fen = 0i64;
    let mut tx = app.state.db.tenant_tx(&tenant).await.unwrap();
    let mut make =
        async |name: &str, school_type: &str, product: &str, headcount: u32, company: i64| {
            let school = app
                .account(
                    "shanghai",
                    AccountSpec {
                        school_type: Some(school_type),
                        ..AccountSpec::new(name, "310101", &[Role::School])
                    },
                )
                .await;
            let st: SchoolType = school_type.parse().unwrap();
            let premium = rules
                .premium(product, SchoolNature::Public, st, headcount)
                .unwrap();
            expected_fen += premium.0;
            (school.org_id, premium.0, company)
        };
    let mut rows = Vec::new();
    for (i, h) in students.iter().enumerate() {
        let (org, fen, company) = make(
            &format!("上海市测试中学{i}"),
            "junior_high",
            "school_liability",
            *h,
            1 + (i as i64 % 2),
        )
        .await;
        rows.push((org, "school_liability", *h, fen, company));
    }
    for (i, h) in interns.iter().enumerate() {
        let (org, fen, company) = make(
            &format!("上海市测试职校{i}"),
            "vocational",
            "student_internship",
            *h,
            1,
        )
        .await;
        rows.push((org, "student_internship", *h, fen, company));
    }
    // Submitted enrolments need a roster in force: one roster record each (no rows needed).
    let document_id: i64 = sqlx::query_scalar(
        "insert into documents (tenant_id, kind, owner_kind, owner_id, original_name, media_type, \
         size_bytes, sha256, object_key, uploaded_by) values ($1, 'roster', 'test', '1', \
         'r.csv', 'text/csv', 1, repeat('b', 64), 'tenants/' || $1 || '/sha256/bb/' || repeat('b', 64), 'test') \
         returning document_id",
    )
    .bind(tenant.tenant_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    for (org, product, headcount, fen, company) in &rows {
        let enrolment_id: i64 = sqlx::query_scalar(
            "insert into enrolments (academic_year, school_org_id, product_code, region_path, \
             company_id, company_name, headcount, rate_fen, premium_fen) \
             select $1, org_id, $2, region_path, $3, '保险公司' || $3, $4, $5 / $4, $5 \
             from organisations where org_id = $6 returning enrolment_id",
        )
        .bind(&year)
        .bind(product)
        .bind(company)
        .bind(*headcount as i32)
        .bind(fen)
        .bind(org)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let roster_id: i64 = sqlx::query_scalar(
            "insert into rosters (enrolment_id, document_id, status, row_count) \
             values ($1, $2, 'accepted', $3) returning roster_id",
        )
        .bind(enrolment_id)
        .bind(document_id)
        .bind(*headcount as i32)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "update enrolments set status = 'submitted', submitted_at = now(), roster_id = $2 \
             where enrolment_id = $1",
        )
        .bind(enrolment_id)
        .bind(roster_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    // A draft is never counted.
    sqlx::query(
        "insert into enrolments (academic_year, school_org_id, product_code, region_path, headcount, premium_fen) \
         select $1, $2, 'staff_extra', region_path, 999, 99900 from organisations where org_id = $2",
    )
    .bind(&year)
    .bind(rows[0].0)
    .execute(&mut *tx)
    .await
    .unwrap();

    assert_eq!(expected_fen, 794_700_000, "7,947,000 CNY in fen");
    let programme = premium_totals(
        &mut tx,
        "310000",
        year.parse().expect("a year"),
        TotalsBy::Programme,
    )
    .await
    .unwrap();
    let by_product = |lines: &[xiaobao_enrolment::progress::TotalLine], p: &str| -> (i64, i64) {
        lines
            .iter()
            .filter(|l| l.product_code == p)
            .fold((0, 0), |(h, f), l| (h + l.headcount, f + l.premium_fen))
    };
    assert_eq!(
        by_product(&programme, "school_liability"),
        (1_478_100, 739_050_000)
    );
    assert_eq!(
        by_product(&programme, "student_internship"),
        (37_100, 55_650_000)
    );
    let total: i64 = programme.iter().map(|l| l.premium_fen).sum();
    assert_eq!(total, 794_700_000);
    assert_eq!(programme[0].label, "全项目");

    // Grouped by insurer the lines add up to the same total; company 1 has schools 0 and 2 and
    // both vocational schools.
    let insurers = premium_totals(
        &mut tx,
        "310000",
        year.parse().expect("a year"),
        TotalsBy::Insurer,
    )
    .await
    .unwrap();
    assert_eq!(
        insurers.iter().map(|l| l.premium_fen).sum::<i64>(),
        794_700_000
    );
    let company1: i64 = insurers
        .iter()
        .filter(|l| l.key == "1")
        .map(|l| l.premium_fen)
        .sum();
    assert_eq!(company1, (400_000 + 500_000) * 500 + 37_100 * 1500);
    // By school: one line per enrolment here.
    let schools = premium_totals(
        &mut tx,
        "310000",
        year.parse().expect("a year"),
        TotalsBy::School,
    )
    .await
    .unwrap();
    assert_eq!(schools.len(), 6);
    tx.commit().await.unwrap();
}

/// A valid ID born in 2017 (primary-school age), sequence `n`.
fn id(n: u32) -> String {
    let first17 = format!(
        "4101052017{:02}{:02}{:03}",
        1 + n % 12,
        1 + n % 28,
        n % 1000
    );
    format!(
        "{first17}{}",
        xiaobao_domain::resident_id::check_char(&first17)
    )
}

#[tokio::test]
async fn roster_ids_are_stored_sealed_and_match_by_keyed_hash() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let year = app
        .open_enrolment_year("henan", &[(1, "测试保险公司", "410000")])
        .await;
    let tenant = app.state.db.active_tenant("henan").unwrap();
    let school = app
        .account(
            "henan",
            AccountSpec::new("郑州市密封测试小学", "410105", &[Role::School]),
        )
        .await;
    let ids: Vec<String> = (0..3).map(id).collect();
    let mut csv = String::from("学生姓名,性别,班级,身份证号,学籍号,备注\n");
    for (i, v) in ids.iter().enumerate() {
        let male = v.as_bytes()[16] % 2 == 1;
        csv.push_str(&format!(
            "{},{},三年级2班,{v},G{i},\n",
            ["王小明", "李小红", "张小刚"][i],
            if male { "男" } else { "女" }
        ));
    }
    let scope = xiaobao_enrolment::EnrolmentScope {
        schools: xiaobao_identity::SchoolScope::Own {
            org_id: school.org_id,
        },
        company_id: None,
    };
    let today = app.clock.today();
    let actor = xiaobao_audit::Actor::cli("test");
    let mut tx = app.state.db.tenant_tx(&tenant).await.unwrap();
    let (_, rules) = xiaobao_enrolment::rules_for(&mut tx, year.parse().expect("a year"))
        .await
        .unwrap()
        .unwrap();
    let draft = xiaobao_enrolment::school::save_draft(
        &mut tx,
        &scope.schools,
        school.org_id,
        year.parse().expect("a year"),
        "school_liability",
        1,
        &xiaobao_enrolment::school::DraftInput {
            headcount: Some(3),
            company_id: Some(1),
            cover_start: None,
        },
        &rules,
        &actor,
        today,
    )
    .await
    .unwrap()
    .unwrap();
    let target =
        xiaobao_enrolment::ingest::target(&mut tx, &scope, draft.enrolment_id, &rules, today)
            .await
            .unwrap()
            .unwrap();
    let parsed = xiaobao_roster::parse_roster(csv.as_bytes(), &target.spec(today)).unwrap();
    let sealer = app.state.sealer(&tenant);
    let sealed = xiaobao_enrolment::ingest::seal(&parsed, &sealer);
    let document_id: i64 = sqlx::query_scalar(
        "insert into documents (tenant_id, kind, owner_kind, owner_id, original_name, media_type, \
         size_bytes, sha256, object_key, uploaded_by) values ($1, 'roster', 'enrolment', '1', \
         'r.csv', 'text/csv', 1, repeat('a', 64), 'tenants/' || $1 || '/sha256/aa/' || repeat('a', 64), 'test') \
         returning document_id",
    )
    .bind(tenant.tenant_id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let result =
        xiaobao_enrolment::ingest::accept(&mut tx, &target, document_id, &sealed, 3, &actor)
            .await
            .unwrap();
    assert!(matches!(
        result,
        xiaobao_enrolment::ingest::RosterResult::Accepted { rows: 3, .. }
    ));
    tx.commit().await.unwrap();

    // No table of the tenant holds a clear ID number anywhere in any text or bytea column.
    let mut su = app.superuser("main").await;
    let dump: String = sqlx::query_scalar(&format!(
        "select coalesce(string_agg(t::text, '|'), '') from {}.roster_rows t",
        tenant.schema_name
    ))
    .fetch_one(&mut su)
    .await
    .unwrap();
    for v in &ids {
        assert!(!dump.contains(v.as_str()), "clear ID stored");
        assert!(!dump.contains(&hex_of(v)), "clear ID stored as bytes");
        assert!(
            dump.contains(&format!("{}********{}", &v[..6], &v[14..])),
            "masked form kept"
        );
    }
    let audit: String = sqlx::query_scalar(&format!(
        "select coalesce(string_agg(t::text, '|'), '') from {}.audit_log t",
        tenant.schema_name
    ))
    .fetch_one(&mut su)
    .await
    .unwrap();
    for v in &ids {
        assert!(!audit.contains(v.as_str()), "ID in the audit trail");
    }
    // The sealed bytes open to the same IDs with the tenant's key, and not with another's.
    let sealed_rows: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(&format!(
        "select id_sealed, id_hash from {}.roster_rows order by row_no",
        tenant.schema_name
    ))
    .fetch_all(&mut su)
    .await
    .unwrap();
    let other = app
        .state
        .sealer(&app.state.db.active_tenant("shanghai").unwrap());
    for ((bytes, hash), v) in sealed_rows.iter().zip(&ids) {
        let opened = sealer.open(bytes).unwrap();
        assert_eq!(opened.as_str(), v);
        assert_eq!(hash.as_slice(), sealer.match_hash(&opened).as_slice());
        assert!(other.open(bytes).is_err(), "another tenant's key opens it");
        assert_ne!(hash.as_slice(), other.match_hash(&opened).as_slice());
    }
    drop(su);
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}
