//! Bulk onboarding against real PostgreSQL: real XLSX files (and a GB18030 CSV) with the mess
//! people send — merged title rows, full-width digits, stray spaces, mobiles turned into
//! numbers — checked against the tenant's Henan region tree and imported all or nothing.

use rust_xlsxwriter::{Format, Workbook};
use xiaobao_onboarding::{
    Actor, ImportReport, Importer, OnboardingError, RegionLevel, import_departments,
    import_schools, parse_departments, parse_schools,
};
use xiaobao_test_support::TestApp;

/// A cell of a test spreadsheet.
#[derive(Clone, Copy)]
enum V {
    T(&'static str),
    /// A number cell shown in scientific format, as Excel does for long numbers.
    N(f64),
}

const SCHOOL_HEADER: [&str; 10] = [
    " 学校全称 ",
    "所在区域代码",
    "所在区域名称",
    "办学性质",
    "学校类型",
    "学校地址",
    "校长姓名",
    "联系人（明白人）",
    "联系电话",
    "中心校全称（选填）",
];

const DEPARTMENT_HEADER: [&str; 5] = ["区域代码", "区域名称", "单位名称", "联系人", "联系人手机号"];

/// An XLSX file: a merged title row (line 1), an instruction row (line 2), the header (line 3),
/// then each row at its given line; lines not given stay blank.
fn xlsx(header: &[&str], rows: &[(u32, Vec<V>)]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let last = u16::try_from(header.len() - 1).unwrap();
    ws.merge_range(0, 0, 0, last, "郑州市批量导入模板", &Format::new())
        .unwrap();
    ws.merge_range(
        1,
        0,
        1,
        last,
        "使用说明：请从第 5 行开始填写，市直属学校请填写「市直」",
        &Format::new(),
    )
    .unwrap();
    for (i, h) in header.iter().enumerate() {
        ws.write_string(2, u16::try_from(i).unwrap(), *h).unwrap();
    }
    let scientific = Format::new().set_num_format("0.00000E+00");
    for (line, cells) in rows {
        for (i, cell) in cells.iter().enumerate() {
            let col = u16::try_from(i).unwrap();
            match cell {
                V::T(s) => {
                    ws.write_string(line - 1, col, *s).unwrap();
                }
                V::N(n) => {
                    ws.write_number_with_format(line - 1, col, *n, &scientific)
                        .unwrap();
                }
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

fn actor() -> Actor {
    Actor {
        label: "test:onboarding".into(),
        ..Actor::default()
    }
}

fn authority() -> Importer {
    Importer {
        actor: actor(),
        region_path: "410000".into(),
        region_level: RegionLevel::Province,
    }
}

fn zhengzhou() -> Importer {
    Importer {
        actor: actor(),
        region_path: "410000.410100".into(),
        region_level: RegionLevel::City,
    }
}

fn jinshui() -> Importer {
    Importer {
        actor: actor(),
        region_path: "410000.410100.410105".into(),
        region_level: RegionLevel::County,
    }
}

async fn setup() -> (TestApp, std::sync::Arc<xiaobao_db::Tenant>) {
    let app = TestApp::init().await;
    app.tenant("onb", "410000", "main").await;
    let tenant = app.db().active_tenant("onb").unwrap();
    (app, tenant)
}

/// name, kind, status, region_code, region_path, nature, contact_mobile, is_central,
/// central_school_id.
type OrgRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    bool,
    Option<i64>,
);

/// kind, name, region_path, login_name, password_hash, must_change_password, role.
type DepartmentAccountRow = (String, String, String, String, Option<String>, bool, String);

fn problems_of(result: Result<ImportReport, OnboardingError>) -> Vec<String> {
    match result {
        Err(OnboardingError::Invalid(problems)) => {
            problems.iter().map(ToString::to_string).collect()
        }
        Err(other) => panic!("expected row problems, got {other}"),
        Ok(report) => panic!("expected row problems, imported {report:?}"),
    }
}

async fn count(app: &TestApp, tenant: &xiaobao_db::Tenant, sql: &str) -> i64 {
    let mut tx = app.db().tenant_tx(tenant).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap()
}

fn school(
    name: &'static str,
    code: &'static str,
    region: &'static str,
    nature: &'static str,
    ty: &'static str,
    mobile: V,
    central: &'static str,
) -> Vec<V> {
    vec![
        V::T(name),
        V::T(code),
        V::T(region),
        V::T(nature),
        V::T(ty),
        V::T("郑州市某路 1 号"),
        V::T("校长甲"),
        V::T("联系人乙"),
        mobile,
        V::T(central),
    ]
}

#[tokio::test]
async fn every_bad_school_row_is_reported_with_its_line_and_nothing_is_written() {
    let (app, tenant) = setup().await;
    let file = xlsx(
        &SCHOOL_HEADER,
        &[
            (
                4,
                school(
                    "示例：郑州市金水区示例小学",
                    "410105",
                    "金水区",
                    "公办",
                    "小学",
                    V::T("13800138000"),
                    "",
                ),
            ),
            // Full-width digits and ideographic spaces: fine once normalised.
            (
                5,
                school(
                    "\u{3000}郑州市金水区第一小学 ",
                    "４１０１０５",
                    "",
                    "公办",
                    "小学",
                    V::T("１３８ １２３４ ５６７８"),
                    "",
                ),
            ),
            // Line 6 stays blank.
            (
                7,
                school(
                    "郑州市金水区第二小学",
                    "410105",
                    "",
                    "公办",
                    "小学",
                    V::N(1.381_23e10),
                    "",
                ),
            ),
            (
                8,
                school(
                    "郑州市不存在区小学",
                    "419999",
                    "",
                    "公办",
                    "小学",
                    V::T("13812345001"),
                    "",
                ),
            ),
            (
                9,
                school(
                    "开封市龙亭区第一小学",
                    "410202",
                    "",
                    "公办",
                    "小学",
                    V::T("13812345002"),
                    "",
                ),
            ),
            (
                10,
                school(
                    "郑州市金水区 第一小学",
                    "410105",
                    "",
                    "民办",
                    "小学",
                    V::T("13812345003"),
                    "",
                ),
            ),
            (
                11,
                school(
                    "郑州市金水区第三小学",
                    "410105",
                    "",
                    "国营",
                    "小学",
                    V::T("13812345004"),
                    "",
                ),
            ),
            (
                12,
                school(
                    "郑州市金水区第四小学",
                    "410105",
                    "",
                    "公办",
                    "大学",
                    V::T("1381234"),
                    "",
                ),
            ),
            // A number that kept every digit is accepted.
            (
                13,
                school(
                    "郑州市金水区第五小学",
                    "410105",
                    "",
                    "公办",
                    "初中(含完中)",
                    V::N(13_912_345_678.0),
                    "",
                ),
            ),
            (
                14,
                school(
                    "郑州市实验高中",
                    "",
                    "市直",
                    "公办",
                    "高中",
                    V::T("13812345005"),
                    "郑州市不存在中心校",
                ),
            ),
            (
                15,
                school(
                    "郑州市高新区小学",
                    "",
                    "高新区",
                    "公办",
                    "小学",
                    V::T("13812345006"),
                    "",
                ),
            ),
            (
                16,
                school(
                    "郑州市二七区第一小学",
                    "410103",
                    "",
                    "公办",
                    "小学",
                    V::T("13812345007"),
                    "郑州市金水区第五小学",
                ),
            ),
        ],
    );
    let sheet = parse_schools(&file).unwrap();
    assert_eq!(sheet.header_line(), 3);
    assert_eq!(sheet.rows()[0].name, "郑州市金水区第一小学");
    assert_eq!(sheet.rows()[0].region_code, "410105");
    assert_eq!(
        sheet.rows()[0].contact_mobile.as_deref(),
        Some("13812345678")
    );

    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let problems = problems_of(import_schools(&mut tx, &zhengzhou(), &sheet).await);
    let types =
        "幼儿园、小学、初中（含完中）、高中、中等职业、高校、特殊教育、九年一贯制、十二年一贯制";
    assert_eq!(
        problems,
        vec![
            "第 7 行：联系人手机号「1.38123E+10」已被表格转成科学计数法，号码后几位已丢失；请把该列设为文本格式后重新填写完整的 11 位手机号".to_string(),
            "第 8 行：所在区域代码「419999」不存在".to_string(),
            "第 9 行：所在区域代码「410202」（龙亭区）不在本部门管辖范围内".to_string(),
            "第 10 行：学校全称「郑州市金水区 第一小学」与第 5 行重复".to_string(),
            "第 11 行：办学性质「国营」应为 公办 或 民办".to_string(),
            format!("第 12 行：学校类型「大学」不在可选范围内，应为 {types} 之一"),
            "第 12 行：联系人手机号「1381234」不是 11 位手机号".to_string(),
            "第 14 行：中心校「郑州市不存在中心校」既不在本文件中，也不是市直（410199）已开通的学校".to_string(),
            "第 15 行：所在区域名称「高新区」不存在".to_string(),
            "第 16 行：中心校「郑州市金水区第五小学」（第 13 行）与本校不在同一区域（本校：二七区，中心校：金水区）".to_string(),
        ]
    );
    // The transaction is still usable and nothing was written.
    let n: i64 = sqlx::query_scalar("select count(*) from organisations")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0);
    tx.commit().await.unwrap();
    assert_eq!(
        count(&app, &tenant, "select count(*) from accounts").await,
        0
    );
    assert_eq!(
        count(
            &app,
            &tenant,
            "select count(*) from audit_log where action like 'onboarding.%'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn one_bad_row_imports_nothing_and_a_good_file_creates_schools_accounts_and_roles() {
    let (app, tenant) = setup().await;
    let good = vec![
        (
            5,
            school(
                "郑州市金水区中心校",
                "410105",
                "金水区",
                "公办",
                "九年一贯制",
                V::T("13800000001"),
                "郑州市金水区中心校",
            ),
        ),
        (
            6,
            school(
                "郑州市金水区花园小学",
                "410105",
                "",
                "公办",
                "小学",
                V::T("13800000002"),
                "郑州市金水区中心校",
            ),
        ),
        (
            7,
            school(
                "郑州市第一中学",
                "",
                "市直",
                "公办",
                "高中",
                V::T("13800000003"),
                "",
            ),
        ),
        (
            8,
            school(
                "郑州市金水区阳光幼儿园",
                "",
                "郑州市金水区",
                "民办",
                "幼儿园",
                V::N(13_900_000_004.0),
                "",
            ),
        ),
    ];
    let mut with_bad = good.clone();
    with_bad.push((
        9,
        school(
            "郑州市金水区坏行小学",
            "410105",
            "",
            "公办",
            "小学",
            V::T("1380000"),
            "",
        ),
    ));

    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let sheet = parse_schools(&xlsx(&SCHOOL_HEADER, &with_bad)).unwrap();
    let problems = problems_of(import_schools(&mut tx, &zhengzhou(), &sheet).await);
    assert_eq!(
        problems,
        vec!["第 9 行：联系人手机号「1380000」不是 11 位手机号"]
    );
    tx.commit().await.unwrap();
    assert_eq!(
        count(&app, &tenant, "select count(*) from organisations").await,
        0
    );

    let sheet = parse_schools(&xlsx(&SCHOOL_HEADER, &good))
        .unwrap()
        .with_document(42);
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let report = import_schools(&mut tx, &zhengzhou(), &sheet).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(report.created.len(), 4);
    let lines: Vec<u32> = report.created.iter().map(|c| c.line).collect();
    assert_eq!(lines, vec![5, 6, 7, 8]);
    let central_id = report.created[0].org_id;
    assert_eq!(report.central_school_ids, vec![central_id]);

    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let orgs: Vec<OrgRow> = sqlx::query_as(
        "select name, kind, status, region_code, region_path, nature, contact_mobile, \
                    is_central, central_school_id \
               from organisations order by org_id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(orgs.len(), 4);
    assert_eq!(
        (
            orgs[0].0.as_str(),
            orgs[0].1.as_str(),
            orgs[0].2.as_str(),
            orgs[0].7,
            orgs[0].8
        ),
        ("郑州市金水区中心校", "school", "active", true, None)
    );
    assert_eq!(orgs[1].4, "410000.410100.410105");
    assert_eq!(orgs[1].8, Some(central_id));
    assert!(!orgs[1].7);
    assert_eq!(
        (orgs[2].3.as_str(), orgs[2].4.as_str()),
        ("410199", "410000.410100.410199")
    );
    assert_eq!(
        (orgs[3].3.as_str(), orgs[3].5.as_str()),
        ("410105", "private")
    );
    assert_eq!(orgs[3].6, "13900000004");

    let accounts: Vec<(String, String, String, Option<String>, bool, String)> = sqlx::query_as(
        "select a.account_type, a.login_name, a.display_name, a.password_hash, \
                a.must_change_password, \
                string_agg(r.role, ',' order by r.role) \
           from accounts a join account_roles r using (account_id) \
          group by a.account_id order by a.account_id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(accounts.len(), 4);
    for (i, a) in accounts.iter().enumerate() {
        assert_eq!(a.0, "school");
        assert_eq!(a.1, orgs[i].0, "login name is the full school name");
        assert_eq!(a.2, orgs[i].0);
        assert_eq!(a.3, None, "no default password");
        assert!(a.4);
    }
    assert_eq!(accounts[0].5, "central_school,school");
    assert_eq!(accounts[1].5, "school");

    let detail: serde_json::Value = sqlx::query_scalar(
        "select detail from audit_log where action = 'onboarding.schools.imported'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(detail["count"], 4);
    assert_eq!(detail["document_id"], 42);
    assert!(
        !detail.to_string().contains("13800000001"),
        "no mobiles in the audit"
    );
    drop(tx);

    // Against the tenant's data now: existing names and mobiles, central schools of
    // another region; an existing school named as 中心校 becomes one.
    let again = vec![
        (
            5,
            school(
                "郑州市第一中学",
                "410199",
                "",
                "公办",
                "高中",
                V::T("13800000009"),
                "",
            ),
        ),
        (
            6,
            school(
                "郑州市金水区新建小学",
                "410105",
                "",
                "公办",
                "小学",
                V::T("13800000002"),
                "",
            ),
        ),
        (
            7,
            school(
                "郑州市二七区新建小学",
                "410103",
                "",
                "公办",
                "小学",
                V::T("13800000010"),
                "郑州市金水区中心校",
            ),
        ),
        (
            8,
            school(
                "郑州市金水区北区小学",
                "410105",
                "",
                "公办",
                "小学",
                V::T("13800000011"),
                "郑州市金水区阳光幼儿园",
            ),
        ),
    ];
    let sheet = parse_schools(&xlsx(&SCHOOL_HEADER, &again)).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let problems = problems_of(import_schools(&mut tx, &zhengzhou(), &sheet).await);
    assert_eq!(
        problems,
        vec![
            "第 5 行：学校全称「郑州市第一中学」的学校已开通，不能重复开通",
            "第 6 行：联系人手机号「13800000002」已是其他学校的联系人手机号",
            "第 7 行：中心校「郑州市金水区中心校」不在本校所在区域（二七区（410103））",
        ]
    );
    drop(tx);

    let fine = vec![(
        5,
        school(
            "郑州市金水区北区小学",
            "410105",
            "",
            "公办",
            "小学",
            V::T("13800000011"),
            "郑州市金水区阳光幼儿园",
        ),
    )];
    let sheet = parse_schools(&xlsx(&SCHOOL_HEADER, &fine)).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let report = import_schools(&mut tx, &zhengzhou(), &sheet).await.unwrap();
    tx.commit().await.unwrap();
    let kindergarten = report.central_school_ids[0];
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let (name, is_central): (String, bool) =
        sqlx::query_as("select name, is_central from organisations where org_id = $1")
            .bind(kindergarten)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(
        (name.as_str(), is_central),
        ("郑州市金水区阳光幼儿园", true)
    );
    let roles: i64 = sqlx::query_scalar(
        "select count(*) from account_roles r join accounts a using (account_id) \
          where a.org_id = $1 and r.role = 'central_school'",
    )
    .bind(kindergarten)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(roles, 1);
    let link: Option<i64> =
        sqlx::query_scalar("select central_school_id from organisations where org_id = $1")
            .bind(report.created[0].org_id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(link, Some(kindergarten));
    drop(tx);
}

#[tokio::test]
async fn a_gb18030_csv_of_schools_imports_for_a_county() {
    let (app, tenant) = setup().await;
    let text = "金水区学校名单\r\n\
                \r\n\
                学校名称,县（区、市）,学校性质,学校类型,负责人,手机,学校地址\r\n\
                郑州市金水区文化路小学,金水区,公办,小学,张老师,13711112222,文化路 8 号\r\n\
                郑州市金水区育才幼儿园,金水区,民办,幼儿园,李老师,13711113333.0,\r\n";
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "really GB18030, not UTF-8"
    );
    let sheet = parse_schools(&bytes).unwrap();
    assert_eq!(sheet.header_line(), 3);
    assert!(sheet.problems().is_empty(), "{:?}", sheet.problems());

    // The county may not import a school of another county.
    let other = "学校名称,县（区、市）,学校性质,学校类型,负责人,手机\n\
                 郑州市二七区一小,二七区,公办,小学,王老师,13711114444\n";
    let (other_bytes, _, _) = encoding_rs::GB18030.encode(other);
    let other_sheet = parse_schools(&other_bytes).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    assert_eq!(
        problems_of(import_schools(&mut tx, &jinshui(), &other_sheet).await),
        vec!["第 2 行：所在区域名称「二七区」不在本部门管辖范围内"]
    );

    let report = import_schools(&mut tx, &jinshui(), &sheet).await.unwrap();
    tx.commit().await.unwrap();
    let names: Vec<&str> = report.created.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["郑州市金水区文化路小学", "郑州市金水区育才幼儿园"]
    );
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
        "select contact_name, contact_mobile, address, school_type from organisations order by org_id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "张老师".into(),
                "13711112222".into(),
                Some("文化路 8 号".into()),
                "primary".into()
            ),
            (
                "李老师".into(),
                "13711113333".into(),
                None,
                "kindergarten".into()
            ),
        ]
    );
    drop(tx);
}

#[tokio::test]
async fn departments_import_for_the_authority_all_or_nothing() {
    let (app, tenant) = setup().await;
    let dept =
        |code: &'static str, region: &'static str, name: &'static str, mobile: &'static str| {
            vec![
                V::T(code),
                V::T(region),
                V::T(name),
                V::T("联系人"),
                V::T(mobile),
            ]
        };
    let bad = xlsx(
        &DEPARTMENT_HEADER,
        &[
            (
                4,
                dept("410105", "金水区", "示例：金水区教育局", "13800138000"),
            ),
            (5, dept("410105", "金水区", "金水区教育局", "13600000001")),
            (6, dept("", "开封市", "开封市教育局", "13600000002")),
            (7, dept("410199", "", "郑州市市直教育局", "13600000003")),
            (
                8,
                dept("４１０１０５", "", "金水区教育体育局", "13600000004"),
            ),
            (9, dept("410000", "", "河南省教育厅", "13600000005")),
            (10, dept("410103", "金水区", "二七区教育局", "13600000006")),
            (11, dept("", "鼓楼区", "鼓楼区教育局", "1360000")),
        ],
    );
    let sheet = parse_departments(&bad).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    assert_eq!(
        problems_of(import_departments(&mut tx, &authority(), &sheet).await),
        vec![
            "第 7 行：「郑州市市直」（410199）不是独立的教育部门：市直属学校由郑州市教育局管理",
            "第 8 行：区域「金水区（410105）」与第 5 行重复",
            "第 9 行：「河南省（410000）」是本部门自己的区域，不能通过导入开通",
            "第 10 行：区域名称「金水区」与区域代码「410103」（二七区）不一致",
            "第 11 行：联系人手机号「1360000」不是 11 位手机号",
        ]
    );
    // A county department may not import departments at all.
    assert!(matches!(
        import_departments(&mut tx, &jinshui(), &sheet).await,
        Err(OnboardingError::NotPermitted(_))
    ));
    drop(tx);
    assert_eq!(
        count(&app, &tenant, "select count(*) from organisations").await,
        0
    );

    let good = xlsx(
        &DEPARTMENT_HEADER,
        &[
            (4, dept("410105", "金水区", "金水区教育局", "13600000001")),
            (5, dept("", "开封市", "开封市教育局", "13600000002")),
        ],
    );
    let sheet = parse_departments(&good).unwrap().with_document(7);
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let report = import_departments(&mut tx, &authority(), &sheet)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let logins: Vec<&str> = report
        .created
        .iter()
        .map(|c| c.login_name.as_str())
        .collect();
    assert_eq!(logins, vec!["金水区", "开封市"]);

    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let rows: Vec<DepartmentAccountRow> = sqlx::query_as(
        "select o.kind, o.name, o.region_path, a.login_name, a.password_hash, \
                a.must_change_password, r.role \
           from organisations o join accounts a using (org_id) join account_roles r using (account_id) \
          order by o.org_id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "department".into(),
                "金水区教育局".into(),
                "410000.410100.410105".into(),
                "金水区".into(),
                None,
                true,
                "county_department".into()
            ),
            (
                "department".into(),
                "开封市教育局".into(),
                "410000.410200".into(),
                "开封市".into(),
                None,
                true,
                "city_department".into()
            ),
        ]
    );
    let detail: serde_json::Value = sqlx::query_scalar(
        "select detail from audit_log where action = 'onboarding.departments.imported'",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(detail["count"], 2);
    assert_eq!(detail["document_id"], 7);

    // A second 金水区 (a region of the same name in another city) gets the city's name in
    // front of its login name; the first one cannot be opened twice.
    sqlx::query(
        "insert into regions (region_code, name, parent_code, level, path) \
         values ('410298', '金水区', '410200', 'county', '410000.410200.410298')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let more = xlsx(
        &DEPARTMENT_HEADER,
        &[(4, dept("410298", "", "开封市金水区教育局", "13600000007"))],
    );
    let sheet = parse_departments(&more).unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let report = import_departments(&mut tx, &authority(), &sheet)
        .await
        .unwrap();
    assert_eq!(report.created[0].login_name, "开封市金水区");
    let twice = xlsx(
        &DEPARTMENT_HEADER,
        &[(4, dept("410105", "", "金水区教育局", "13600000008"))],
    );
    let sheet = parse_departments(&twice).unwrap();
    assert_eq!(
        problems_of(import_departments(&mut tx, &authority(), &sheet).await),
        vec!["第 4 行：「金水区（410105）」已开通教育部门账号，不能重复开通"]
    );
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn five_thousand_schools_import_in_a_few_statements() {
    let (app, tenant) = setup().await;
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (i, h) in SCHOOL_HEADER.iter().enumerate() {
        ws.write_string(0, u16::try_from(i).unwrap(), *h).unwrap();
    }
    for i in 1..=5000u32 {
        ws.write_string(i, 0, format!("郑州市金水区第{i}小学"))
            .unwrap();
        ws.write_string(i, 1, "410105").unwrap();
        ws.write_string(i, 3, "公办").unwrap();
        ws.write_string(i, 4, "小学").unwrap();
        ws.write_string(i, 7, "联系人").unwrap();
        ws.write_string(i, 8, format!("139{i:08}")).unwrap();
        if i > 1 {
            ws.write_string(i, 9, "郑州市金水区第1小学").unwrap();
        }
    }
    let bytes = wb.save_to_buffer().unwrap();
    let started = std::time::Instant::now();
    let sheet = parse_schools(&bytes).unwrap();
    assert_eq!(sheet.rows().len(), 5000);
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let report = import_schools(&mut tx, &zhengzhou(), &sheet).await.unwrap();
    tx.commit().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.created.len(), 5000);
    assert!(elapsed.as_secs() < 30, "5,000 schools took {elapsed:?}");
    assert_eq!(
        count(
            &app,
            &tenant,
            "select count(*) from organisations where central_school_id is not null"
        )
        .await,
        4999
    );
    assert_eq!(
        count(
            &app,
            &tenant,
            "select count(*) from account_roles where role = 'school'"
        )
        .await,
        5000
    );
    assert_eq!(
        count(
            &app,
            &tenant,
            "select count(*) from audit_log where action = 'onboarding.schools.imported'"
        )
        .await,
        1
    );
}
