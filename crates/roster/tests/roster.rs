//! Rosters end to end: real XLSX files made with rust_xlsxwriter, CSV in the encodings
//! schools send, and every kind of bad row with its reason and line.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use chrono::{Days, NaiveDate};
use rust_xlsxwriter::Workbook;
use xiaobao_domain::resident_id::check_char;
use xiaobao_domain::{Gender, InsuredGroup, SchoolType};
use xiaobao_roster::{
    ExportRow, ParsedRoster, RosterError, RosterSpec, RowProblem, parse_roster, roster_template,
    roster_xlsx, template_file_name,
};

const HEADER: &str = "学生姓名,性别,班级,身份证号,学籍号,备注";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 9, 1).unwrap()
}

fn spec(group: InsuredGroup, school_type: SchoolType) -> RosterSpec {
    RosterSpec {
        group,
        school_type,
        today: today(),
    }
}

fn primary() -> RosterSpec {
    spec(InsuredGroup::Student, SchoolType::Primary)
}

/// A valid ID of 金水区 born on `birth` (YYYYMMDD) with sequence `seq` (3 digits; odd last
/// digit = male).
fn id(birth: &str, seq: &str) -> String {
    let first17 = format!("410105{birth}{seq}");
    format!("{first17}{}", check_char(&first17))
}

/// A valid ID with a wrong check character.
fn bad_check(birth: &str, seq: &str) -> String {
    let good = id(birth, seq);
    let wrong = if good.ends_with('1') { '2' } else { '1' };
    format!("{}{wrong}", &good[..17])
}

fn csv(rows: &[String]) -> Vec<u8> {
    let mut text = String::from(HEADER);
    text.push('\n');
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text.into_bytes()
}

fn problems(result: Result<ParsedRoster, RosterError>) -> Vec<RowProblem> {
    match result {
        Err(RosterError::Problems(p)) => p,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn unreadable(result: Result<ParsedRoster, RosterError>) -> String {
    match result {
        Err(RosterError::Unreadable(m)) => m,
        other => panic!("expected unreadable, got {other:?}"),
    }
}

/// The one problem of a roster with a single bad row.
fn only_problem(bytes: &[u8], spec: &RosterSpec) -> RowProblem {
    let p = problems(parse_roster(bytes, spec));
    assert_eq!(p.len(), 1, "{p:?}");
    p.into_iter().next().unwrap()
}

fn problem(line: u32, column: &str, reason: &str) -> RowProblem {
    RowProblem {
        line,
        column: Some(column.to_string()),
        reason: reason.to_string(),
    }
}

/// A cell of a test workbook.
enum C<'a> {
    S(&'a str),
    N(f64),
    Blank,
}

/// One sheet, row `i` of `rows` on Excel line `i + 1`.
fn xlsx(rows: &[Vec<C<'_>>]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in (0u32..).zip(rows) {
        for (c, cell) in (0u16..).zip(row) {
            match cell {
                C::S(s) => {
                    ws.write_string(r, c, *s).unwrap();
                }
                C::N(n) => {
                    ws.write_number(r, c, *n).unwrap();
                }
                C::Blank => {}
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

fn header_cells() -> Vec<C<'static>> {
    HEADER.split(',').map(C::S).collect()
}

#[test]
fn a_clean_student_roster_is_accepted() {
    let bytes = csv(&[
        format!(
            "张三,男,三年级2班,{},G41010520150312123X,",
            id("20150312", "123")
        ),
        format!("李四,女,三年级2班,{},,转学生", id("20151101", "224")),
    ]);
    let roster = parse_roster(&bytes, &primary()).unwrap();
    assert_eq!(roster.group, InsuredGroup::Student);
    assert_eq!(roster.rows.len(), 2);
    let first = &roster.rows[0];
    assert_eq!(first.line, 2);
    assert_eq!(first.name, "张三");
    assert_eq!(first.gender, Gender::Male);
    assert_eq!(first.class_name.as_deref(), Some("三年级2班"));
    assert_eq!(first.id.as_str(), id("20150312", "123"));
    assert_eq!(first.student_no.as_deref(), Some("G41010520150312123X"));
    assert_eq!(first.post, None);
    assert_eq!(first.note, None);
    let second = &roster.rows[1];
    assert_eq!(second.line, 3);
    assert_eq!(second.gender, Gender::Female);
    assert_eq!(second.student_no, None);
    assert_eq!(second.note.as_deref(), Some("转学生"));
}

#[test]
fn missing_name_is_reported_on_its_line() {
    let bytes = csv(&[
        format!("张三,男,三年级2班,{},,", id("20150312", "123")),
        format!(",女,三年级2班,{},,", id("20151101", "224")),
    ]);
    assert_eq!(
        only_problem(&bytes, &primary()),
        problem(3, "学生姓名", "学生姓名不能为空")
    );
}

#[test]
fn bad_names_are_reported() {
    let bytes = csv(&[
        format!("张,男,三年级2班,{},,", id("20150312", "123")),
        format!("张3,男,三年级2班,{},,", id("20150312", "133")),
    ]);
    assert_eq!(
        problems(parse_roster(&bytes, &primary())),
        vec![
            problem(2, "学生姓名", "学生姓名「张」长度不对，应为2–30个字"),
            problem(3, "学生姓名", "学生姓名「张3」不能含数字"),
        ]
    );
}

#[test]
fn unknown_gender_is_reported() {
    let bytes = csv(&[format!("张三,M,三年级2班,{},,", id("20150312", "123"))]);
    assert_eq!(
        only_problem(&bytes, &primary()),
        problem(2, "性别", "性别「M」无法识别，应填“男”或“女”")
    );
    let bytes = csv(&[format!("张三,,三年级2班,{},,", id("20150312", "123"))]);
    assert_eq!(
        only_problem(&bytes, &primary()),
        problem(2, "性别", "性别不能为空")
    );
}

#[test]
fn gender_must_match_the_ids_17th_digit() {
    let bytes = csv(&[format!("张三,女,三年级2班,{},,", id("20150312", "123"))]);
    assert_eq!(
        only_problem(&bytes, &primary()),
        problem(2, "性别", "性别「女」与身份证号第17位（男）不一致")
    );
    // 男性 / 女性 are accepted spellings.
    let bytes = csv(&[format!("张三,男性,三年级2班,{},,", id("20150312", "123"))]);
    assert_eq!(
        parse_roster(&bytes, &primary()).unwrap().rows[0].gender,
        Gender::Male
    );
}

#[test]
fn wrong_check_digit_is_reported() {
    let bad = bad_check("20150312", "123");
    let expected = check_char(&bad[..17]);
    let actual = bad.chars().last().unwrap();
    let bytes = csv(&[format!("张三,男,三年级2班,{bad},,")]);
    assert_eq!(
        only_problem(&bytes, &primary()),
        problem(
            2,
            "身份证号",
            &format!(
                "身份证号校验位错误：应为{expected}，实际为{actual}（请核对号码是否录入有误）"
            )
        )
    );
}

#[test]
fn id_stored_as_a_number_cell_lost_its_digits() {
    let good = id("20150312", "123");
    let bytes = xlsx(&[
        header_cells(),
        vec![
            C::S("张三"),
            C::S("男"),
            C::S("三年级2班"),
            C::N(4.10105e17),
        ],
        vec![C::S("李四"), C::S("男"), C::S("三年级2班"), C::S(&good)],
    ]);
    let p = only_problem(&bytes, &primary());
    assert_eq!(p.line, 2);
    assert_eq!(p.column.as_deref(), Some("身份证号"));
    assert!(p.reason.contains("科学计数法"), "{}", p.reason);
    assert!(p.reason.contains("文本"), "{}", p.reason);
}

#[test]
fn id_typed_as_scientific_text_is_reported() {
    let bytes = csv(&["张三,男,三年级2班,4.10105E+17,,".to_string()]);
    let p = only_problem(&bytes, &primary());
    assert_eq!(p.line, 2);
    assert_eq!(p.column.as_deref(), Some("身份证号"));
    assert!(p.reason.contains("科学计数法"), "{}", p.reason);
}

#[test]
fn fifteen_digit_ids_are_refused_as_text_and_as_numbers() {
    let bytes = csv(&["张三,男,三年级2班,410105150312123,,".to_string()]);
    assert_eq!(
        only_problem(&bytes, &primary()),
        problem(2, "身份证号", "这是旧的15位身份证号，请填写18位的身份证号")
    );
    let bytes = xlsx(&[
        header_cells(),
        vec![
            C::S("张三"),
            C::S("男"),
            C::S("三年级2班"),
            C::N(410_105_150_312_123.0),
        ],
    ]);
    assert_eq!(
        only_problem(&bytes, &primary()).reason,
        "这是旧的15位身份证号，请填写18位的身份证号"
    );
}

#[test]
fn missing_id_and_future_birth_dates_are_reported() {
    let bytes = csv(&[
        "张三,男,三年级2班,,,".to_string(),
        format!("李四,男,三年级2班,{},,", id("20260101", "123")),
    ]);
    assert_eq!(
        problems(parse_roster(&bytes, &primary())),
        vec![
            problem(2, "身份证号", "身份证号不能为空"),
            problem(3, "身份证号", "身份证号中的出生日期晚于今天"),
        ]
    );
}

#[test]
fn implausible_age_for_the_school_type_is_reported() {
    let bytes = csv(&[format!("张三,男,七年级3班,{},,", id("20190301", "123"))]);
    let junior = spec(InsuredGroup::Student, SchoolType::JuniorHigh);
    assert_eq!(
        only_problem(&bytes, &junior),
        problem(
            2,
            "身份证号",
            "出生日期2019-03-01（6岁）不符合初中学生的年龄范围（10–19岁）"
        )
    );
    // The same child is fine in a primary school.
    assert_eq!(parse_roster(&bytes, &primary()).unwrap().rows.len(), 1);
    // Age counts full years: born 2015-09-02 is still 9 on 2025-09-01.
    let bytes = csv(&[format!("张三,男,大班,{},,", id("20150902", "123"))]);
    let kindergarten = spec(InsuredGroup::Student, SchoolType::Kindergarten);
    assert_eq!(
        only_problem(&bytes, &kindergarten).reason,
        "出生日期2015-09-02（9岁）不符合幼儿园幼儿的年龄范围（2–8岁）"
    );
}

#[test]
fn interns_and_staff_have_their_own_age_ranges() {
    let intern = spec(InsuredGroup::Intern, SchoolType::Vocational);
    let bytes = csv(&[format!("张三,男,2023级3班,{},,", id("19900101", "123"))]);
    assert_eq!(
        only_problem(&bytes, &intern).reason,
        "出生日期1990-01-01（35岁）不符合实习学生的年龄范围（15–30岁）"
    );
    let staff = spec(InsuredGroup::Staff, SchoolType::Kindergarten);
    let bytes = format!(
        "姓名,性别,身份证号,岗位\n王老师,男,{},教师\n",
        id("20150101", "123")
    );
    assert_eq!(
        only_problem(bytes.as_bytes(), &staff).reason,
        "出生日期2015-01-01（10岁）不符合教职工的年龄范围（16–75岁）"
    );
}

#[test]
fn class_must_look_like_a_class() {
    let bytes = csv(&[format!("张三,男,3,{},,", id("20150312", "123"))]);
    assert_eq!(
        only_problem(&bytes, &primary()),
        problem(2, "班级", "班级「3」格式不对，应写成“XX年级XX班”")
    );
    let bytes = csv(&[format!("张三,男,,{},,", id("20150312", "123"))]);
    assert_eq!(
        only_problem(&bytes, &primary()),
        problem(2, "班级", "班级不能为空")
    );
    let ok = [
        "三年级2班",
        "七年级（3）班",
        "高一1班",
        "2024级3班",
        "大班",
        "中一班",
    ];
    let rows: Vec<String> = ok
        .iter()
        .enumerate()
        .map(|(i, class)| {
            format!(
                "张三,男,{class},{},,",
                id("20150312", &format!("{:03}", 2 * i + 1))
            )
        })
        .collect();
    let roster = parse_roster(&csv(&rows), &primary()).unwrap();
    let classes: Vec<&str> = roster
        .rows
        .iter()
        .map(|r| r.class_name.as_deref().unwrap())
        .collect();
    assert_eq!(
        classes,
        [
            "三年级2班",
            "七年级(3)班",
            "高一1班",
            "2024级3班",
            "大班",
            "中一班"
        ]
    );
}

#[test]
fn every_later_duplicate_names_the_first_line() {
    let a = id("20150312", "123");
    let b = id("20151101", "224");
    let bytes = csv(&[
        format!("张三,男,三年级2班,{a},,"),
        format!("李四,女,三年级2班,{b},,"),
        format!("张三,男,三年级3班,{a},,"),
        format!("王五,男,三年级3班,{},,", a.to_lowercase()),
    ]);
    assert_eq!(
        problems(parse_roster(&bytes, &primary())),
        vec![
            problem(4, "身份证号", "身份证号与第 2 行重复"),
            problem(5, "身份证号", "身份证号与第 2 行重复"),
        ]
    );
}

#[test]
fn full_width_characters_and_stray_spaces_are_normalised() {
    let good = id("20150312", "123");
    let full_width: String = good
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();
    let bytes = csv(&[format!(
        " 张\u{3000}三 , 男 ,七年级（３）班,\u{3000}{full_width} ,Ｇ１２３ ４５６,  转学  生 "
    )]);
    let roster = parse_roster(&bytes, &primary()).unwrap();
    let row = &roster.rows[0];
    assert_eq!(row.name, "张三");
    assert_eq!(row.gender, Gender::Male);
    assert_eq!(row.class_name.as_deref(), Some("七年级(3)班"));
    assert_eq!(row.id.as_str(), good);
    assert_eq!(row.student_no.as_deref(), Some("G123456"));
    assert_eq!(row.note.as_deref(), Some("转学 生"));
    // A lower-case x becomes X.
    let x = (100..999)
        .map(|seq| id("20150312", &seq.to_string()))
        .find(|i| i.ends_with('X'))
        .unwrap();
    let bytes = csv(&[format!("张三,男,三年级2班,{},,", x.to_lowercase())]);
    let rows = parse_roster(&bytes, &primary()).unwrap().rows;
    assert_eq!(rows[0].id.as_str(), x);
}

#[test]
fn merged_title_and_instructions_above_the_header() {
    let good = id("20150312", "123");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let plain = rust_xlsxwriter::Format::new();
    ws.merge_range(
        0,
        0,
        0,
        5,
        "郑州市金水区某某小学 2025-2026学年 学生花名册",
        &plain,
    )
    .unwrap();
    ws.merge_range(
        1,
        0,
        1,
        5,
        "填写说明：学生姓名、性别、班级、身份证号必填，身份证号请设为文本格式",
        &plain,
    )
    .unwrap();
    // Line 3 blank, header on line 4 with markers and notes, a 序号 column in front.
    for (c, h) in (0u16..).zip([
        "序号",
        "* 姓 名",
        "性别",
        "班级",
        "身份证号码（18位）",
        "学籍号",
        "备注",
    ]) {
        ws.write_string(3, c, h).unwrap();
    }
    ws.write_number(4, 0, 1.0).unwrap();
    ws.write_string(4, 1, "张三").unwrap();
    ws.write_string(4, 2, "男").unwrap();
    ws.write_string(4, 3, "三年级2班").unwrap();
    ws.write_string(4, 4, &good).unwrap();
    // A pre-numbered row with nothing else, then a footer.
    ws.write_number(5, 0, 2.0).unwrap();
    ws.write_string(7, 1, "填表人：李老师").unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let roster = parse_roster(&bytes, &primary()).unwrap();
    assert_eq!(roster.rows.len(), 1);
    assert_eq!(roster.rows[0].line, 5);
    assert_eq!(roster.rows[0].name, "张三");
}

#[test]
fn csv_in_gb18030_and_utf8_with_bom() {
    let text = format!(
        "{HEADER}\n张三,男,三年级2班,{},,\n李四,女,三年级2班,{},,\n",
        id("20150312", "123"),
        id("20151101", "224")
    );
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    assert!(std::str::from_utf8(&gb).is_err());
    let roster = parse_roster(&gb, &primary()).unwrap();
    assert_eq!(roster.rows[1].name, "李四");
    assert_eq!(roster.rows[1].line, 3);

    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(text.as_bytes());
    let roster = parse_roster(&bom, &primary()).unwrap();
    assert_eq!(roster.rows[0].name, "张三");
    assert_eq!(roster.rows.len(), 2);
}

#[test]
fn staff_rosters_have_their_own_columns() {
    let staff = spec(InsuredGroup::Staff, SchoolType::Primary);
    let bytes = xlsx(&[
        vec![C::S("某某小学教职工花名册")],
        vec![
            C::S("姓名"),
            C::S("性别"),
            C::S("身份证号"),
            C::S("岗位"),
            C::S("备注"),
        ],
        vec![
            C::S("王 老师"),
            C::S("女"),
            C::S(&id("19800101", "222")),
            C::S("语文 教师"),
            C::Blank,
        ],
        vec![C::S("赵主任"), C::S("男"), C::S(&id("19750505", "111"))],
    ]);
    let roster = parse_roster(&bytes, &staff).unwrap();
    assert_eq!(roster.group, InsuredGroup::Staff);
    assert_eq!(roster.rows.len(), 2);
    let first = &roster.rows[0];
    assert_eq!(first.line, 3);
    assert_eq!(first.name, "王老师");
    assert_eq!(first.class_name, None);
    assert_eq!(first.post.as_deref(), Some("语文 教师"));
    assert_eq!(roster.rows[1].post, None);

    // A staff roster needs no 班级; a student roster does.
    let bytes = "姓名,性别,身份证号\n".as_bytes();
    let message = unreadable(parse_roster(bytes, &primary()));
    assert!(message.contains("“班级”"), "{message}");
}

#[test]
fn missing_columns_and_missing_headers_make_the_file_unreadable() {
    let message = unreadable(parse_roster(
        "学生姓名,性别,班级\n张三,男,三年级2班\n".as_bytes(),
        &primary(),
    ));
    assert!(message.contains("缺少“身份证号”列"), "{message}");
    let message = unreadable(parse_roster("a,b,c\n1,2,3\n".as_bytes(), &primary()));
    assert!(message.contains("未找到表头行"), "{message}");
    assert_eq!(unreadable(parse_roster(b"", &primary())), "文件是空的");
    let message = unreadable(parse_roster(b"PK\x03\x04garbage", &primary()));
    assert!(message.contains("Excel"), "{message}");
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let bytes = csv(&[
        format!("张三,女,3,{},,", id("20150312", "123")),
        String::new(),
        format!("李四,女,三年级2班,{},,", id("20151101", "224")),
        "王,X,,4.10105E+17,,".to_string(),
    ]);
    let p = problems(parse_roster(&bytes, &primary()));
    let summary: Vec<(u32, &str)> = p
        .iter()
        .map(|p| (p.line, p.column.as_deref().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            (2, "性别"),
            (2, "班级"),
            (5, "学生姓名"),
            (5, "性别"),
            (5, "班级"),
            (5, "身份证号"),
        ]
    );
}

#[test]
fn the_template_parses_as_an_empty_roster() {
    for group in [
        InsuredGroup::Student,
        InsuredGroup::Staff,
        InsuredGroup::Intern,
    ] {
        let bytes = roster_template(group);
        assert!(bytes.starts_with(b"PK"));
        let spec = spec(group, SchoolType::Vocational);
        assert_eq!(
            problems(parse_roster(&bytes, &spec)),
            vec![RowProblem {
                line: 0,
                column: None,
                reason: "花名册没有数据行".into(),
            }]
        );
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
        let mut styles = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/styles.xml").unwrap(), &mut styles)
            .unwrap();
        // Every column, the ID and 学籍号 columns included, is formatted as text.
        assert!(styles.contains("formatCode=\"@\""), "{styles}");
        let mut sheet = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut sheet,
        )
        .unwrap();
        let columns = xiaobao_roster::roster_columns(group).len();
        let cols: Vec<&str> = sheet.split("<col ").skip(1).collect();
        assert!(cols.iter().all(|c| c.contains(" style=\"1\"")), "{sheet}");
        assert!(cols[0].starts_with("min=\"1\""), "{sheet}");
        assert!(sheet.contains(&format!("max=\"{columns}\"")), "{sheet}");
        let mut workbook = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/workbook.xml").unwrap(), &mut workbook)
            .unwrap();
        assert!(workbook.contains("填写说明"));
    }
    assert_eq!(
        template_file_name(InsuredGroup::Student),
        "学生花名册模板.xlsx"
    );
    assert_eq!(
        template_file_name(InsuredGroup::Staff),
        "教职工花名册模板.xlsx"
    );
    assert_eq!(
        template_file_name(InsuredGroup::Intern),
        "实习学生花名册模板.xlsx"
    );
}

#[test]
fn a_filled_in_template_is_accepted() {
    use calamine::{Reader, open_workbook_auto_from_rs};
    let template = roster_template(InsuredGroup::Student);
    let mut wb = open_workbook_auto_from_rs(std::io::Cursor::new(&template)).unwrap();
    let range = wb.worksheet_range("花名册").unwrap();
    let header: Vec<String> = (0..6)
        .map(|c| range.get_value((2, c)).unwrap().to_string())
        .collect();
    assert_eq!(
        header,
        ["学生姓名", "性别", "班级", "身份证号", "学籍号", "备注"]
    );
}

#[test]
fn an_exported_roster_parses_back() {
    let rows = vec![
        ExportRow {
            name: "张三".into(),
            gender: Gender::Male,
            class_name: Some("七年级(3)班".into()),
            id_text: id("20120312", "123"),
            student_no: Some("G410105201203121230".into()),
            post: None,
            note: Some("转学生".into()),
        },
        ExportRow {
            name: "李四".into(),
            gender: Gender::Female,
            class_name: Some("七年级(3)班".into()),
            id_text: id("20121101", "224"),
            student_no: None,
            post: None,
            note: None,
        },
    ];
    let bytes = roster_xlsx(
        InsuredGroup::Student,
        "某某中学 2025-2026学年 校方责任险 花名册",
        &rows,
    );
    let junior = spec(InsuredGroup::Student, SchoolType::JuniorHigh);
    let roster = parse_roster(&bytes, &junior).unwrap();
    assert_eq!(roster.rows.len(), 2);
    for (parsed, exported) in roster.rows.iter().zip(&rows) {
        assert_eq!(parsed.name, exported.name);
        assert_eq!(parsed.gender, exported.gender);
        assert_eq!(parsed.class_name, exported.class_name);
        assert_eq!(parsed.id.as_str(), exported.id_text);
        assert_eq!(parsed.student_no, exported.student_no);
        assert_eq!(parsed.note, exported.note);
    }
    assert_eq!(roster.rows[0].line, 3);

    let staff_rows = vec![ExportRow {
        name: "王老师".into(),
        gender: Gender::Female,
        class_name: None,
        id_text: id("19800101", "222"),
        student_no: None,
        post: Some("教师".into()),
        note: None,
    }];
    let bytes = roster_xlsx(InsuredGroup::Staff, "教职工花名册", &staff_rows);
    let staff = spec(InsuredGroup::Staff, SchoolType::Primary);
    let roster = parse_roster(&bytes, &staff).unwrap();
    assert_eq!(roster.rows[0].post.as_deref(), Some("教师"));
}

/// `n` distinct valid primary-school rows.
fn big_csv(n: usize) -> Vec<u8> {
    const SURNAMES: [&str; 10] = ["张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴"];
    const GIVEN: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军"];
    let start = NaiveDate::from_ymd_opt(2011, 1, 1).unwrap();
    let mut text = String::with_capacity(n * 64);
    text.push_str(HEADER);
    text.push('\n');
    for i in 0..n {
        let birth = start + Days::new((i % 2000) as u64);
        let seq = format!("{:03}", i / 2000);
        let gender = if (i / 2000) % 2 == 1 { "男" } else { "女" };
        let id = id(&birth.format("%Y%m%d").to_string(), &seq);
        text.push_str(&format!(
            "{}{}{},{gender},{}年级{}班,{id},G{id},\n",
            SURNAMES[i % 10],
            GIVEN[(i / 10) % 10],
            GIVEN[(i / 100) % 10],
            1 + i % 6,
            1 + (i / 6) % 12,
        ));
    }
    text.into_bytes()
}

#[test]
fn a_hundred_thousand_rows_parse() {
    let bytes = big_csv(100_000);
    let roster = parse_roster(&bytes, &primary()).unwrap();
    assert_eq!(roster.rows.len(), 100_000);
    assert_eq!(roster.rows[99_999].line, 100_001);
}

#[test]
fn too_many_rows_make_the_file_unreadable() {
    let mut text = String::from(HEADER);
    text.push('\n');
    for _ in 0..200_001 {
        text.push_str("张三,男,一年级1班,,,\n");
    }
    match parse_roster(text.as_bytes(), &primary()) {
        Err(RosterError::TooLarge(message)) => assert!(message.contains("200000"), "{message}"),
        other => panic!("expected too large, got {other:?}"),
    }
}

#[test]
fn far_more_rows_than_the_declared_headcount_are_refused_before_they_are_checked() {
    let mut text = String::from(HEADER);
    text.push('\n');
    for i in 0..200 {
        text.push_str(&format!(
            "张三,男,一年级1班,{},,\n",
            id("20150312", &format!("{:03}", 2 * i + 1))
        ));
    }
    // Declared 100: 200 rows is past the margin.
    match xiaobao_roster::parse_roster_for_headcount(text.as_bytes(), &primary(), 100) {
        Err(RosterError::TooLarge(message)) => assert!(message.contains("100"), "{message}"),
        other => panic!("expected too large, got {other:?}"),
    }
    // Declared 195: within 5 % (at least 10 rows), the rows are checked as usual.
    let parsed = xiaobao_roster::parse_roster_for_headcount(text.as_bytes(), &primary(), 195);
    assert!(
        !matches!(parsed, Err(RosterError::TooLarge(_))),
        "{parsed:?}"
    );
}

/// Throughput, for the record: `cargo test -p xiaobao-roster --release -- --ignored
/// --nocapture throughput`.
#[test]
#[ignore = "timing only"]
fn throughput() {
    use calamine::{Reader, Xlsx};
    use std::time::Instant;
    let n = 100_000;
    let bytes = big_csv(n);
    let started = Instant::now();
    let roster = parse_roster(&bytes, &primary()).unwrap();
    let csv_time = started.elapsed();
    assert_eq!(roster.rows.len(), n);

    let text = String::from_utf8(bytes).unwrap();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (r, line) in (0u32..).zip(text.lines()) {
        for (c, field) in (0u16..).zip(line.split(',')) {
            if !field.is_empty() {
                ws.write_string(r, c, field).unwrap();
            }
        }
    }
    let xlsx_bytes = wb.save_to_buffer().unwrap();
    let started = Instant::now();
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(&xlsx_bytes)).unwrap();
    let range = workbook.worksheet_range_at(0).unwrap().unwrap();
    let calamine_time = started.elapsed();
    assert_eq!(range.height(), n + 1);
    let started = Instant::now();
    let roster = parse_roster(&xlsx_bytes, &primary()).unwrap();
    let xlsx_time = started.elapsed();
    assert_eq!(roster.rows.len(), n);
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    eprintln!(
        "CSV {:.0} rows/s ({csv_time:?}); XLSX {:.0} rows/s ({xlsx_time:?}); calamine range alone {calamine_time:?}",
        rate(csv_time),
        rate(xlsx_time)
    );
}
