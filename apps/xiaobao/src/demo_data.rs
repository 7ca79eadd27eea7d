//! Demo data of the demo programmes: a few hundred schools per programme over its real regions,
//! most of them enrolled for the year in force with generated rosters, a few drafts, pending
//! modification and second-insurer requests, endorsements owed, a central school with its
//! schools, and a second insurer (in Liupanshui, the insurer of tender lot B).
//!
//! Everything is generated from a fixed seed per programme, so every start makes the same
//! schools, names, contacts and rosters, and goes through the functions and services the
//! product itself uses: schools and their accounts as the demo's other accounts are made
//! (`orgs::create`, `accounts::create`, the demo password's hash), enrolments through
//! [`Enrolments`] acting as each school (save the draft, upload the roster as a CSV file,
//! submit), requests as the school and decisions as its county's department.
//!
//! A programme's data for a year is made once: an audit entry (`demo.data_seeded`, entity
//! `demo_data`, the year as its id) marks it done, and a later call finds it with one indexed
//! read and does nothing. Schools made by an earlier, interrupted run (or for an earlier year)
//! are reused, and only those without an enrolment in the year get one.
//!
//! Generated ID numbers are valid (GB 11643 check character), start with the code of the
//! school's county (the city's for 市直 schools), give birth dates that fit the school type,
//! and are unique in the programme. Contacts' mobiles are of the series 139 0000 xxxx.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{Datelike, NaiveDate};
use xiaobao_audit::{Actor, AuditFilter, Entry};
use xiaobao_db::Tenant;
use xiaobao_domain::ids::{EnrolmentId, EnrolmentRequestId, OrgId};
use xiaobao_domain::{AcademicYear, AccountType, InsuredGroup, Outcome, Role, SchoolType};
use xiaobao_enrolment::ingest::RosterResult;
use xiaobao_enrolment::requests::{Decision, ModificationInput};
use xiaobao_enrolment::school::DraftInput;
use xiaobao_enrolment::years::CompanyRef;
use xiaobao_enrolment::{Enrolments, RosterUpload};
use xiaobao_http::AppState;
use xiaobao_identity::orgs::{self, NewOrganisation, OrgKind, SchoolFilter};
use xiaobao_identity::school_admin::{self, RegionOption};
use xiaobao_identity::service::Schools;
use xiaobao_identity::{Caller, SchoolScope, Viewer, accounts, companies};

use crate::demo::DemoLogin;

/// The PICC company the demo's first insurer branches belong to (see `demo`).
const PICC: (&str, &str) = ("中国人民财产保险股份有限公司", "人保财险");
/// The second insurer company.
const CPIC: (&str, &str) = ("中国太平洋财产保险股份有限公司", "太保财险");
/// The second insurer company (full and short name), which Liupanshui's rules admit for lot B.
pub const SECOND_INSURER: (&str, &str) = CPIC;

/// The audit entity marking a programme's demo data of a year as made.
const MARKER_ENTITY: &str = "demo_data";
const MARKER_ACTION: &str = "demo.data_seeded";

/// School names of the demo's own accounts (`demo`), never generated again.
const RESERVED: &[&str] = &[
    "郑州市金水区文化路第一小学",
    "郑州市金水区纬五路第二小学",
    "郑州市金水区启明幼儿园",
    "六盘水市钟山区第一小学",
    "六盘水市钟山区明德中学",
    "上海市徐汇区向阳小学",
    "上海市徐汇区位育中学",
];

/// What the seeding made in one programme.
#[derive(Debug, Clone, Default)]
pub struct ProgrammeData {
    pub slug: String,
    pub academic_year: String,
    /// `false` when the programme's data of the year was there already (nothing was done).
    pub made: bool,
    /// Generated schools in the programme (made now or earlier).
    pub schools: u32,
    /// Schools made by this call.
    pub schools_made: u32,
    /// Submitted enrolments made by this call (every product).
    pub submitted: u32,
    pub drafts: u32,
    /// Rows of the accepted rosters uploaded by this call.
    pub roster_rows: u64,
    pub modification_requests: u32,
    pub second_insurer_requests: u32,
    /// Approved modifications: endorsements the insurers owe.
    pub endorsements: u32,
    pub seconds: f64,
}

/// What [`seed_demo_data`] did, and the extra demo logins it offers.
#[derive(Debug, Clone, Default)]
pub struct DemoDataReport {
    pub programmes: Vec<ProgrammeData>,
    pub logins: Vec<DemoLogin>,
}

impl DemoDataReport {
    /// Schools made by this call, over every programme.
    pub fn schools_made(&self) -> u32 {
        self.programmes.iter().map(|p| p.schools_made).sum()
    }

    /// Submitted enrolments made by this call, over every programme.
    pub fn submitted(&self) -> u32 {
        self.programmes.iter().map(|p| p.submitted).sum()
    }
}

/// Which insurer a school's region chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insurer {
    Picc,
    Cpic,
}

/// The second insurer's branch in a programme.
struct SecondBranch {
    name: &'static str,
    login: &'static str,
    region_code: &'static str,
    role: Role,
    /// Where the second insurer is admitted (region subtrees).
    admitted: &'static [&'static str],
}

/// A programme's generation plan.
struct Plan {
    slug: &'static str,
    seed: u64,
    /// The digit after 139 0000 in its contacts' mobiles.
    mobile_digit: u32,
    schools: usize,
    /// Cities (or the root) whose counties and 市直 get schools.
    under: &'static [&'static str],
    /// School types with their weights.
    types: &'static [(SchoolType, u32)],
    /// The central school: region code, town, and how many village schools it has.
    central: (&'static str, &'static str, usize),
    second: SecondBranch,
    /// Per-region insurer choice (tender lots).
    insurer_of: fn(&str) -> Insurer,
    /// Towns by county code; others take [`TOWNS`].
    towns: &'static [(&'static str, &'static [&'static str])],
}

const MAINLAND_TYPES: &[(SchoolType, u32)] = &[
    (SchoolType::Kindergarten, 27),
    (SchoolType::Primary, 42),
    (SchoolType::JuniorHigh, 17),
    (SchoolType::SeniorHigh, 8),
    (SchoolType::Vocational, 6),
];

const SHANGHAI_TYPES: &[(SchoolType, u32)] = &[
    (SchoolType::Primary, 44),
    (SchoolType::JuniorHigh, 24),
    (SchoolType::NineYear, 10),
    (SchoolType::SeniorHigh, 13),
    (SchoolType::Vocational, 7),
    (SchoolType::Special, 2),
];

fn henan_insurer(code: &str) -> Insurer {
    // 洛阳市 chose the second insurer, 郑州市 the first.
    if code.starts_with("4103") {
        Insurer::Cpic
    } else {
        Insurer::Picc
    }
}

/// Liupanshui's tender lots: A (六枝特区, 盘州市) and B (水城区, 钟山区, 市直).
fn liupanshui_insurer(code: &str) -> Insurer {
    if liupanshui_lot_a(code) {
        Insurer::Picc
    } else {
        Insurer::Cpic
    }
}

/// Whether a Liupanshui region belongs to tender lot A.
pub fn liupanshui_lot_a(code: &str) -> bool {
    matches!(code, "520203" | "520281")
}

fn shanghai_insurer(_: &str) -> Insurer {
    Insurer::Picc
}

const PLANS: &[Plan] = &[
    Plan {
        slug: "henan",
        seed: 0x4845_4e41_4e00_0001,
        mobile_digit: 1,
        schools: 300,
        under: &["410100", "410300"],
        types: MAINLAND_TYPES,
        central: ("410185", "大金店", 7),
        second: SecondBranch {
            name: "中国太平洋财产保险股份有限公司洛阳中心支公司",
            login: "cpic-luoyang",
            region_code: "410300",
            role: Role::InsurerCity,
            admitted: &["410300"],
        },
        insurer_of: henan_insurer,
        towns: &[],
    },
    Plan {
        slug: "liupanshui",
        seed: 0x4c50_5300_0000_0002,
        mobile_digit: 2,
        schools: 300,
        under: &["520200"],
        types: MAINLAND_TYPES,
        central: ("520281", "红果", 7),
        second: SecondBranch {
            name: "中国太平洋财产保险股份有限公司六盘水中心支公司",
            login: "cpic-liupanshui",
            region_code: "520200",
            role: Role::InsurerCity,
            // Lot B as the rules admit it, and 盘州市 for schools there asking for a second
            // insurer (the lot A insurer stays their first).
            admitted: &["520204", "520201", "520299", "520281"],
        },
        insurer_of: liupanshui_insurer,
        towns: &[
            (
                "520281",
                &[
                    "红果",
                    "鸡场坪",
                    "保田",
                    "刘官",
                    "英武",
                    "民主",
                    "柏果",
                    "乐民",
                    "石桥",
                    "大山",
                    "断江",
                    "平关",
                ],
            ),
            (
                "520203",
                &[
                    "平寨", "郎岱", "岩脚", "木岗", "大用", "落别", "新场", "牛场", "关寨", "龙场",
                ],
            ),
            (
                "520204",
                &[
                    "双水", "蟠龙", "阿戛", "玉舍", "勺米", "发耳", "董地", "都格", "比德", "化乐",
                ],
            ),
            (
                "520201",
                &[
                    "荷城",
                    "黄土坡",
                    "德坞",
                    "大湾",
                    "汪家寨",
                    "月照",
                    "老鹰山",
                    "大河",
                    "保华",
                ],
            ),
            ("520299", &["荷城", "黄土坡", "凤凰", "德坞", "红桥"]),
        ],
    },
    Plan {
        slug: "shanghai",
        seed: 0x5348_0000_0000_0003,
        mobile_digit: 3,
        schools: 300,
        under: &["310000"],
        types: SHANGHAI_TYPES,
        central: ("310151", "堡镇", 6),
        second: SecondBranch {
            name: "中国太平洋财产保险股份有限公司上海分公司",
            login: "cpic-shanghai",
            region_code: "310000",
            role: Role::InsurerProvince,
            admitted: &["310000"],
        },
        insurer_of: shanghai_insurer,
        towns: &[],
    },
];

const TOWNS: &[&str] = &[
    "城关",
    "新华",
    "东风",
    "红旗",
    "建设",
    "朝阳",
    "光明",
    "和平",
    "人民",
    "解放",
    "胜利",
    "团结",
    "青山",
    "白云",
    "石桥",
    "柳林",
    "杨庄",
    "李庄",
    "王村",
    "张集",
    "马店",
    "高桥",
    "龙泉",
    "凤凰",
    "金桥",
    "双河",
    "三里",
    "十里铺",
    "大营",
    "小河",
    "城南",
    "北关",
];

const SHANGHAI_TOWNS: &[&str] = &[
    "江湾",
    "曹杨",
    "长风",
    "真如",
    "泗塘",
    "友谊",
    "罗店",
    "大场",
    "川沙",
    "周浦",
    "惠南",
    "泗泾",
    "九亭",
    "朱家角",
    "南桥",
    "庄行",
    "城桥",
    "金山卫",
    "朱泾",
    "江桥",
    "南翔",
    "安亭",
    "莘庄",
    "七宝",
    "颛桥",
    "吴泾",
    "马桥",
    "华泾",
    "龙华",
    "田林",
    "虹梅",
    "凌云",
];

const VILLAGES: &[&str] = &[
    "杨柳", "河口", "新田", "坪上", "大湾", "桥头", "石板", "松林", "李家", "王家", "沙坝", "营盘",
    "中寨", "新街", "坡头", "龙井",
];

const ROADS: &[&str] = &[
    "文化", "建设", "人民", "解放", "经三", "中原", "花园", "黄河", "长江", "农业", "东风", "南阳",
    "健康", "胜利", "青年", "振兴",
];

const SHANGHAI_WORDS: &[&str] = &[
    "育才",
    "建襄",
    "世界",
    "求知",
    "启新",
    "星光",
    "复兴",
    "爱国",
    "新黄浦",
    "回民",
    "打虎山",
    "二师附",
    "东辉",
    "民办",
    "长宁",
    "曹光彪",
];

const BRANDS: &[&str] = &[
    "金色摇篮",
    "小天使",
    "蓝天",
    "童之梦",
    "贝贝",
    "阳光宝贝",
    "爱弥儿",
    "启明星",
    "七彩虹",
    "小太阳",
    "育英",
    "博雅",
];

const PRIVATE_SCHOOLS: &[&str] = &[
    "育才", "明远", "博文", "启智", "英才", "励志", "求实", "华英", "致远", "弘毅",
];

const ORDINALS: &[&str] = &[
    "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四",
    "十五",
];

const MAJORS: &[&str] = &[
    "数控技术应用",
    "计算机应用",
    "电子商务",
    "汽车运用与维修",
    "学前教育",
    "会计事务",
    "机电技术应用",
    "旅游服务与管理",
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "龙",
    "欧阳",
];

const MALE_GIVEN: &[&str] = &[
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "辉", "刚", "健", "浩", "宇", "轩",
    "泽", "睿", "博", "文", "俊", "子", "豪", "鑫", "航", "晨", "阳", "然", "凯", "鹏", "翔", "铭",
];

const FEMALE_GIVEN: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "婷", "雪", "琳", "欣", "怡", "梓", "涵", "佳",
    "悦", "诗", "雨", "萱", "思", "彤", "馨", "颖", "瑶", "琪", "璐", "晴", "月", "妍", "可", "玥",
];

const STAFF_POSTS: &[&str] = &[
    "教师",
    "教师",
    "教师",
    "教师",
    "教师",
    "教师",
    "班主任",
    "班主任",
    "教研组长",
    "校医",
    "后勤",
    "保安",
    "财务",
    "行政",
];

/// splitmix64: small, fast, and the same sequence on every platform and version.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: u32, high: u32) -> u32 {
        let span = high.saturating_sub(low) as usize + 1;
        low + u32::try_from(self.below(span)).unwrap_or(0)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

/// A region schools are placed in.
#[derive(Debug, Clone)]
struct Place {
    code: String,
    path: String,
    /// Prefix of school names: `郑州市金水区`, `盘州市`, `六盘水市` (市直), `上海市徐汇区`.
    prefix: String,
    /// The region prefix of its pupils' ID numbers.
    id_region: String,
    /// Whether a county department covers it (`false` for 市直: the city's or authority's).
    county: bool,
    /// Urban districts get street schools rather than township schools.
    urban: bool,
    towns: Vec<&'static str>,
}

/// One generated school.
#[derive(Debug, Clone)]
struct School {
    name: String,
    place: usize,
    school_type: SchoolType,
    private: bool,
    students: u32,
    contact: String,
    mobile: String,
    principal: String,
    address: String,
    /// What becomes of its enrolment.
    fate: Fate,
    /// Assigned to the central school.
    assigned: bool,
    central: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Submitted,
    /// A draft with its headcount and insurer, and a roster uploaded when `true`.
    Draft(bool),
    Nothing,
}

fn type_of(rng: &mut Rng, types: &[(SchoolType, u32)]) -> SchoolType {
    let total: u32 = types.iter().map(|t| t.1).sum();
    let mut roll = rng.between(0, total.saturating_sub(1));
    for (t, w) in types {
        if roll < *w {
            return *t;
        }
        roll -= w;
    }
    SchoolType::Primary
}

fn person_name(rng: &mut Rng, male: bool) -> String {
    let pool = if male { MALE_GIVEN } else { FEMALE_GIVEN };
    let mut name = rng.pick(SURNAMES).to_string();
    name.push_str(rng.pick(pool));
    if rng.chance(72) {
        name.push_str(rng.pick(pool));
    }
    name
}

/// A school name of `school_type` in `place`, not yet in `taken`.
fn school_name(
    rng: &mut Rng,
    place: &Place,
    school_type: SchoolType,
    private: bool,
    shanghai: bool,
    taken: &HashSet<String>,
) -> String {
    let p = &place.prefix;
    for attempt in 0..40 {
        let town = rng.pick(&place.towns);
        let n = rng.pick(ORDINALS);
        let zhen = if shanghai || place.urban { "" } else { "镇" };
        let name = match school_type {
            SchoolType::Kindergarten if private => format!("{p}{}幼儿园", rng.pick(BRANDS)),
            SchoolType::Kindergarten => match rng.below(3) {
                0 => format!("{p}第{n}幼儿园"),
                1 => format!("{p}{town}{zhen}中心幼儿园"),
                _ => format!("{p}机关幼儿园"),
            },
            SchoolType::Primary if private => {
                format!("{p}{}小学", rng.pick(PRIVATE_SCHOOLS))
            }
            SchoolType::Primary if shanghai => match rng.below(3) {
                0 => format!("{p}{}小学", rng.pick(SHANGHAI_WORDS)),
                1 => format!("{p}{town}小学"),
                _ => format!("{p}第{n}中心小学"),
            },
            SchoolType::Primary => match rng.below(5) {
                0 => format!("{p}第{n}实验小学"),
                1 if !place.urban => format!("{p}{town}镇中心小学"),
                2 if !place.urban => format!("{p}{town}镇{}村小学", rng.pick(VILLAGES)),
                3 => format!("{p}{}路小学", rng.pick(ROADS)),
                _ => format!("{p}{town}{}小学", if place.urban { "街道" } else { "镇" }),
            },
            SchoolType::JuniorHigh if private => {
                format!("{p}{}学校", rng.pick(PRIVATE_SCHOOLS))
            }
            SchoolType::JuniorHigh if shanghai => match rng.below(2) {
                0 => format!("{p}{}中学", rng.pick(SHANGHAI_WORDS)),
                _ => format!("{p}{town}中学"),
            },
            SchoolType::JuniorHigh => match rng.below(3) {
                0 => format!("{p}第{n}初级中学"),
                1 => format!("{p}{town}{zhen}初级中学"),
                _ => format!("{p}{}路中学", rng.pick(ROADS)),
            },
            SchoolType::SeniorHigh if private => {
                format!("{p}{}高级中学", rng.pick(PRIVATE_SCHOOLS))
            }
            SchoolType::SeniorHigh => match rng.below(2) {
                0 => format!("{p}第{n}高级中学"),
                _ => format!("{p}第{n}中学"),
            },
            SchoolType::Vocational if private => {
                format!("{p}{}职业学校", rng.pick(PRIVATE_SCHOOLS))
            }
            SchoolType::Vocational => match rng.below(3) {
                0 => format!("{p}职业技术学校"),
                1 => format!("{p}中等职业学校"),
                _ => format!("{p}{}职业中等专业学校", rng.pick(ROADS)),
            },
            SchoolType::NineYear => match rng.below(2) {
                0 => format!("{p}{}学校", rng.pick(SHANGHAI_WORDS)),
                _ => format!("{p}{town}学校"),
            },
            SchoolType::TwelveYear => format!("{p}{town}实验学校"),
            SchoolType::Special => match rng.below(2) {
                0 => format!("{p}特殊教育学校"),
                _ => format!("{p}启智学校"),
            },
            SchoolType::HigherEducation => format!("{p}{town}学院"),
        };
        let name = if attempt > 30 {
            format!("{name}{}校区", rng.pick(ORDINALS))
        } else {
            name
        };
        if !taken.contains(&name) && !RESERVED.contains(&name.as_str()) {
            return name;
        }
    }
    format!("{p}第{}学校", taken.len() + 1)
}

/// Students of a school type: (low, high) headcount.
fn headcount_range(school_type: SchoolType) -> (u32, u32) {
    match school_type {
        SchoolType::Kindergarten => (50, 160),
        SchoolType::Primary => (100, 280),
        SchoolType::JuniorHigh => (120, 300),
        SchoolType::SeniorHigh | SchoolType::NineYear => (150, 320),
        SchoolType::Vocational => (120, 280),
        SchoolType::Special => (40, 100),
        SchoolType::TwelveYear | SchoolType::HigherEducation => (200, 360),
    }
}

/// The places of a plan: every county and 市直 under its cities (or root), in tree order.
fn places(plan: &Plan, regions: &[RegionOption]) -> Vec<Place> {
    let names: HashMap<&str, &RegionOption> = regions
        .iter()
        .map(|r| (r.region_code.as_str(), r))
        .collect();
    let shanghai = plan.slug == "shanghai";
    let mut out = Vec::new();
    for region in regions {
        if !matches!(region.level.as_str(), "county" | "direct") {
            continue;
        }
        let segments: Vec<&str> = region.path.split('.').collect();
        if !plan.under.iter().any(|u| segments.contains(u)) {
            continue;
        }
        let parent = segments
            .len()
            .checked_sub(2)
            .and_then(|i| segments.get(i))
            .and_then(|c| names.get(c));
        let parent_name = parent.map(|p| p.name.as_str()).unwrap_or_default();
        let direct = region.level == "direct";
        let name = region.name.as_str();
        let prefix = if direct {
            parent_name.to_string()
        } else if name.ends_with("特区") || name.ends_with('县') || name.ends_with('市') {
            name.to_string()
        } else {
            format!("{parent_name}{name}")
        };
        let id_region = if direct {
            parent.map_or_else(|| region.region_code.clone(), |p| p.region_code.clone())
        } else {
            region.region_code.clone()
        };
        let own_towns = plan
            .towns
            .iter()
            .find(|(code, _)| *code == region.region_code)
            .map(|(_, t)| t.to_vec());
        let towns = own_towns.unwrap_or_else(|| {
            let pool = if shanghai { SHANGHAI_TOWNS } else { TOWNS };
            // A different slice of the pool per county, so neighbours differ.
            let start = region
                .region_code
                .bytes()
                .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize))
                % pool.len();
            (0..12)
                .map(|i| pool[(start + i * 5) % pool.len()])
                .collect()
        });
        let urban = shanghai || (name.ends_with('区') && !name.ends_with("特区"));
        out.push(Place {
            code: region.region_code.clone(),
            path: region.path.clone(),
            prefix,
            id_region,
            county: !direct,
            urban: urban && !direct,
            towns,
        });
    }
    out
}

/// The schools of a plan over `places`, always the same for the same places.
fn schools(plan: &Plan, places: &[Place]) -> Vec<School> {
    let mut rng = Rng::new(plan.seed);
    let shanghai = plan.slug == "shanghai";
    let mut taken: HashSet<String> = HashSet::new();
    let mut out: Vec<School> = Vec::new();
    let push = |rng: &mut Rng,
                out: &mut Vec<School>,
                taken: &mut HashSet<String>,
                place: usize,
                school_type: SchoolType,
                name: Option<String>| {
        let private = match school_type {
            SchoolType::Kindergarten => rng.chance(45),
            SchoolType::Vocational => rng.chance(25),
            SchoolType::Special => false,
            _ => rng.chance(8),
        };
        let name = name.unwrap_or_else(|| {
            school_name(rng, &places[place], school_type, private, shanghai, taken)
        });
        taken.insert(name.clone());
        let (low, high) = headcount_range(school_type);
        let contact_male = rng.chance(40);
        let principal_male = rng.chance(60);
        let index = u32::try_from(out.len()).unwrap_or(0);
        let roll = rng.below(100);
        let fate = if roll < 80 {
            Fate::Submitted
        } else if roll < 88 {
            Fate::Draft(roll < 84)
        } else {
            Fate::Nothing
        };
        let town = rng.pick(&places[place].towns);
        let road = rng.pick(ROADS);
        out.push(School {
            address: format!(
                "{}{town}{road}路{}号",
                places[place].prefix,
                rng.between(1, 299)
            ),
            name,
            place,
            school_type,
            private,
            students: rng.between(low, high),
            contact: person_name(rng, contact_male),
            mobile: format!("1390000{}{index:03}", plan.mobile_digit),
            principal: person_name(rng, principal_male),
            fate,
            assigned: false,
            central: false,
        });
    };
    // The central school and the village schools assigned to it.
    let (central_code, central_town, villages) = plan.central;
    if let Some(cp) = places.iter().position(|p| p.code == central_code) {
        let p = &places[cp].prefix;
        let suffix = if shanghai { "" } else { "镇" };
        let name = format!("{p}{central_town}{suffix}中心小学");
        push(
            &mut rng,
            &mut out,
            &mut taken,
            cp,
            SchoolType::Primary,
            Some(name),
        );
        if let Some(s) = out.last_mut() {
            s.central = true;
            s.private = false;
            s.fate = Fate::Submitted;
        }
        for v in 0..villages {
            let village = VILLAGES[(v * 3) % VILLAGES.len()];
            let (name, ty) = if v == villages - 1 {
                (
                    format!("{p}{central_town}{suffix}中心幼儿园"),
                    SchoolType::Kindergarten,
                )
            } else if shanghai {
                (
                    format!("{p}{central_town}{village}小学"),
                    SchoolType::Primary,
                )
            } else {
                (
                    format!("{p}{central_town}镇{village}村小学"),
                    SchoolType::Primary,
                )
            };
            push(&mut rng, &mut out, &mut taken, cp, ty, Some(name));
            if let Some(s) = out.last_mut() {
                s.assigned = true;
                s.private = false;
                s.students = s.students.min(180);
            }
        }
    }
    // Every place gets some; the rest go where the weights send them (urban districts and
    // county seats have more schools).
    let weights: Vec<usize> = places
        .iter()
        .map(|p| {
            if p.urban {
                3
            } else if p.county {
                2
            } else {
                1
            }
        })
        .collect();
    let total_weight: usize = weights.iter().sum();
    let base = 4usize;
    let mut i = 0usize;
    while out.len() < plan.schools {
        let place = if i < places.len() * base {
            i % places.len()
        } else {
            let mut roll = rng.below(total_weight);
            let mut chosen = 0;
            for (j, w) in weights.iter().enumerate() {
                if roll < *w {
                    chosen = j;
                    break;
                }
                roll -= w;
            }
            chosen
        };
        let ty = type_of(&mut rng, plan.types);
        push(&mut rng, &mut out, &mut taken, place, ty, None);
        i += 1;
    }
    out
}

/// Valid, programme-unique ID numbers: the next sequence number per region, birth date and
/// gender.
#[derive(Default)]
struct Ids {
    used: HashMap<(String, NaiveDate, bool), u16>,
}

impl Ids {
    fn next(&mut self, region: &str, mut birth: NaiveDate, male: bool) -> String {
        loop {
            let slot = self
                .used
                .entry((region.to_string(), birth, male))
                .or_insert(0);
            if *slot < 500 {
                let seq = *slot * 2 + u16::from(male);
                *slot += 1;
                let first17 = format!(
                    "{region}{:04}{:02}{:02}{seq:03}",
                    birth.year(),
                    birth.month(),
                    birth.day()
                );
                let check = xiaobao_domain::resident_id::check_char(&first17);
                return format!("{first17}{check}");
            }
            birth = birth.pred_opt().unwrap_or(birth);
        }
    }
}

/// A birth date making someone exactly `age` on `today`.
fn birth_for(rng: &mut Rng, today: NaiveDate, age: u32) -> NaiveDate {
    let year = today.year() - i32::try_from(age).unwrap_or(0);
    let anniversary = today
        .with_year(year)
        .or_else(|| NaiveDate::from_ymd_opt(year, today.month(), 28))
        .unwrap_or(today);
    anniversary
        .checked_sub_days(chrono::Days::new(u64::from(rng.between(1, 360))))
        .unwrap_or(anniversary)
}

/// One roster line.
#[derive(Debug, Clone)]
struct Person {
    name: String,
    male: bool,
    /// Class (students) or post (staff).
    class: String,
    id: String,
    student_no: String,
    /// In the final year (a vocational school's interns).
    final_year: bool,
}

/// Grades of a school type: (first age, class name of grade `g` and class `c`).
fn grades(school_type: SchoolType) -> (u32, u32) {
    match school_type {
        SchoolType::Kindergarten => (3, 3),
        SchoolType::Primary => (6, 6),
        SchoolType::JuniorHigh => (12, 3),
        SchoolType::SeniorHigh | SchoolType::Vocational => (15, 3),
        SchoolType::NineYear => (6, 9),
        SchoolType::TwelveYear => (6, 12),
        SchoolType::Special => (7, 9),
        SchoolType::HigherEducation => (18, 4),
    }
}

fn class_name(school_type: SchoolType, grade: u32, class: u32, year: i32) -> String {
    let o = |n: u32| ORDINALS[(n as usize).min(ORDINALS.len() - 1)];
    match school_type {
        SchoolType::Kindergarten => {
            let band = ["小", "中", "大"][(grade as usize).min(2)];
            format!("{band}{}班", o(class.saturating_sub(1)))
        }
        SchoolType::JuniorHigh => format!("{}年级{class}班", o(grade + 6)),
        SchoolType::SeniorHigh => format!("高{}年级{class}班", o(grade)),
        SchoolType::Vocational => {
            let major = MAJORS[(class as usize + grade as usize * 3) % MAJORS.len()];
            format!(
                "{}级{major}{class}班",
                year - i32::try_from(grade).unwrap_or(0)
            )
        }
        SchoolType::Special => format!("培智{}年级{class}班", o(grade)),
        _ => format!("{}年级{class}班", o(grade)),
    }
}

/// A school's students: even grades, classes of about 40, ages fitting the grade.
#[allow(clippy::too_many_arguments)]
fn students(
    rng: &mut Rng,
    ids: &mut Ids,
    school: &School,
    place: &Place,
    today: NaiveDate,
    year_start: i32,
    count: u32,
    serial: &mut u64,
) -> Vec<Person> {
    let (first_age, grade_count) = grades(school.school_type);
    let per_grade = count.div_ceil(grade_count).max(1);
    (0..count)
        .map(|i| {
            let grade = (i / per_grade).min(grade_count - 1);
            let class = (i % per_grade) / 40 + 1;
            let male = rng.chance(51);
            let birth = birth_for(rng, today, first_age + grade);
            *serial += 1;
            Person {
                name: person_name(rng, male),
                male,
                class: class_name(school.school_type, grade, class, year_start),
                id: ids.next(&place.id_region, birth, male),
                student_no: if school.school_type == SchoolType::Kindergarten {
                    String::new()
                } else {
                    format!("L{:02}{:010}", school.place % 100, *serial)
                },
                final_year: grade + 1 == grade_count,
            }
        })
        .collect()
}

fn staff(rng: &mut Rng, ids: &mut Ids, place: &Place, today: NaiveDate, count: u32) -> Vec<Person> {
    (0..count)
        .map(|_| {
            let male = rng.chance(35);
            let age = rng.between(23, 58);
            let birth = birth_for(rng, today, age);
            Person {
                name: person_name(rng, male),
                male,
                class: rng.pick(STAFF_POSTS).to_string(),
                id: ids.next(&place.id_region, birth, male),
                student_no: String::new(),
                final_year: false,
            }
        })
        .collect()
}

fn gender(p: &Person) -> &'static str {
    if p.male { "男" } else { "女" }
}

fn student_csv(people: &[Person]) -> Vec<u8> {
    let mut out = String::from("学生姓名,性别,班级,身份证号,学籍号,备注\n");
    for p in people {
        out.push_str(&format!(
            "{},{},{},{},{},\n",
            p.name,
            gender(p),
            p.class,
            p.id,
            p.student_no
        ));
    }
    out.into_bytes()
}

fn staff_csv(people: &[Person]) -> Vec<u8> {
    let mut out = String::from("姓名,性别,身份证号,岗位,备注\n");
    for p in people {
        out.push_str(&format!("{},{},{},{},\n", p.name, gender(p), p.id, p.class));
    }
    out.into_bytes()
}

/// One school's enrolments to make: per product, its generated roster.
struct Job {
    index: usize,
    org_id: i64,
    viewer: Viewer,
    name: String,
    fate: Fate,
    company_id: i64,
    /// In a county (a department decides its requests).
    county: bool,
    enrolments: Vec<(String, InsuredGroup, Vec<Person>)>,
}

/// What one school's enrolments came to.
struct JobOutcome {
    index: usize,
    submitted: u32,
    drafts: u32,
    rows: u64,
    /// The submitted student enrolment and its roster (schools in a county only).
    student: Option<(i64, Vec<Person>)>,
}

/// Enrols one school as the school itself: per product the draft (headcount, insurer), the
/// roster as a CSV upload, the submission — as far as the school's fate goes.
async fn enrol(
    state: &AppState,
    tenant: &Arc<Tenant>,
    sealer: xiaobao_roster::IdSealer,
    job: Job,
) -> anyhow::Result<JobOutcome> {
    let service = Enrolments::new(caller(state, tenant, job.viewer.clone()));
    let mut out = JobOutcome {
        index: job.index,
        submitted: 0,
        drafts: 0,
        rows: 0,
        student: None,
    };
    for (code, group, people) in job.enrolments {
        let headcount = u32::try_from(people.len()).unwrap_or(0);
        let draft = done(
            service
                .save_draft(
                    OrgId(job.org_id),
                    &code,
                    1,
                    &DraftInput {
                        headcount: Some(headcount),
                        company_id: Some(job.company_id),
                        cover_start: None,
                    },
                )
                .await,
            "投保草稿",
        )?;
        if !matches!(job.fate, Fate::Submitted | Fate::Draft(true)) {
            out.drafts += 1;
            continue;
        }
        let bytes = if group == InsuredGroup::Staff {
            staff_csv(&people)
        } else {
            student_csv(&people)
        };
        let enrolment = EnrolmentId(draft.enrolment_id);
        let result = done(
            service
                .upload_roster(
                    &state.documents,
                    sealer.clone(),
                    enrolment,
                    RosterUpload {
                        headcount: Some(headcount.to_string()),
                        file: Some(("花名册.csv".into(), bytes)),
                    },
                )
                .await,
            "花名册",
        )?;
        match result {
            RosterResult::Accepted { rows, .. } => out.rows += u64::from(rows),
            RosterResult::Rejected { problems, .. } => {
                let first = problems
                    .first()
                    .map(|p| format!("line {} {}", p.line, p.column.clone().unwrap_or_default()))
                    .unwrap_or_default();
                bail!(
                    "generated roster of {} rejected: {} problems, first at {first}",
                    job.name,
                    problems.len()
                );
            }
        }
        if job.fate != Fate::Submitted {
            out.drafts += 1;
            continue;
        }
        done(service.submit(enrolment).await, "提交投保")?;
        out.submitted += 1;
        if group == InsuredGroup::Student && job.county {
            out.student = Some((draft.enrolment_id, people));
        }
    }
    Ok(out)
}

/// A service answer, or an error naming what was being done.
fn done<T>(outcome: Outcome<T>, what: &str) -> anyhow::Result<T> {
    outcome.map_err(|f| anyhow::anyhow!("{what}: {f}"))
}

fn caller(state: &AppState, tenant: &Arc<Tenant>, viewer: Viewer) -> Caller {
    Caller {
        db: state.db.clone(),
        tenant: tenant.clone(),
        actor: viewer.actor(None, None),
        viewer,
        clock: state.clock.clone(),
        calendar: state.calendar.current(),
    }
}

/// The viewer of an account, as sign-in makes it.
async fn viewer_of(
    conn: &mut sqlx::PgConnection,
    account: &accounts::Account,
) -> anyhow::Result<Viewer> {
    Ok(Viewer {
        account_id: account.account_id,
        org_id: account.org_id,
        org_kind: account.org_kind.clone(),
        roles: accounts::roles(conn, account.account_id).await?,
        region_code: account.region_code.clone(),
        region_path: account.region_path.clone(),
        company_id: account.company_id,
        display_name: account.display_name.clone(),
    })
}

/// The department account of a county (its login is the county's name, or the city's name and
/// the county's when another department has it).
async fn department_of(
    conn: &mut sqlx::PgConnection,
    regions: &HashMap<String, RegionOption>,
    code: &str,
) -> anyhow::Result<Option<Viewer>> {
    let Some(region) = regions.get(code) else {
        return Ok(None);
    };
    let parent = region
        .path
        .rsplit('.')
        .nth(1)
        .and_then(|p| regions.get(p))
        .map(|p| p.name.clone())
        .unwrap_or_default();
    for login in [region.name.clone(), format!("{parent}{}", region.name)] {
        if let Some(account) =
            accounts::find_for_login(conn, AccountType::Department, &login).await?
            && account.region_code == code
        {
            return Ok(Some(viewer_of(conn, &account).await?));
        }
    }
    Ok(None)
}

/// Seeds the demo data of every demo programme (made by the demo seeding, `control.tenants.
/// demo`) for the academic year containing `today`, once per programme and year; school
/// accounts get the hash of `password`, the demo password. Run after
/// [`seed_demo_accounts`](crate::demo::seed_demo_accounts), which makes the departments,
/// insurer branches and opens the years. The programmes are seeded concurrently.
pub async fn seed_demo_data(
    state: &AppState,
    password: &str,
    today: NaiveDate,
) -> anyhow::Result<DemoDataReport> {
    let main = state.db.clusters.main();
    let picc = companies::ensure(main, "insurer", PICC.0, PICC.1).await?;
    let cpic = companies::ensure(main, "insurer", CPIC.0, CPIC.1).await?;
    let picc = CompanyRef {
        company_id: picc.company_id,
        name: picc.name,
    };
    let cpic = CompanyRef {
        company_id: cpic.company_id,
        name: cpic.name,
    };
    let mut report = DemoDataReport::default();
    let mut tasks = tokio::task::JoinSet::new();
    for plan in PLANS {
        let Ok(tenant) = state.db.active_tenant(plan.slug) else {
            continue;
        };
        let demo: bool = sqlx::query_scalar!(
            "select demo from control.tenants where tenant_id = $1",
            tenant.tenant_id
        )
        .fetch_one(main)
        .await?;
        if !demo {
            continue;
        }
        report.logins.push(DemoLogin {
            tenant: plan.slug.to_string(),
            account_type: AccountType::Insurer,
            login_name: plan.second.login.to_string(),
            what: "第二家承保机构".to_string(),
        });
        let state = state.clone();
        let (picc, cpic) = (picc.clone(), cpic.clone());
        let password = password.to_string();
        tasks.spawn(async move {
            seed_programme(&state, &tenant, plan, &password, &picc, &cpic, today)
                .await
                .with_context(|| format!("演示数据（{}）", plan.slug))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (data, central) = joined.context("demo data task")??;
        if let Some(central) = central {
            report.logins.push(DemoLogin {
                tenant: data.slug.clone(),
                account_type: AccountType::School,
                login_name: central,
                what: "中心校".to_string(),
            });
        }
        report.programmes.push(data);
    }
    let order = |slug: &str| PLANS.iter().position(|p| p.slug == slug);
    report.programmes.sort_by_key(|p| order(&p.slug));
    report
        .logins
        .sort_by_key(|l| (order(&l.tenant), l.account_type != AccountType::Insurer));
    Ok(report)
}

/// Whether the programme's data of `year` was made (its marker entry exists).
async fn marked(conn: &mut sqlx::PgConnection, year: AcademicYear) -> anyhow::Result<bool> {
    let rows = xiaobao_audit::search(
        conn,
        &AuditFilter {
            entity: Some(MARKER_ENTITY.into()),
            entity_id: Some(year.to_string()),
            limit: 1,
            ..AuditFilter::default()
        },
    )
    .await?;
    Ok(rows.iter().any(|r| r.action == MARKER_ACTION))
}

/// A school with its account, made now or found.
struct Made {
    plan: School,
    org_id: i64,
    viewer: Viewer,
    /// Made by this run (not found from an earlier one).
    new: bool,
}

#[allow(clippy::too_many_lines)]
async fn seed_programme(
    state: &AppState,
    tenant: &Arc<Tenant>,
    plan: &Plan,
    password: &str,
    picc: &CompanyRef,
    cpic: &CompanyRef,
    today: NaiveDate,
) -> anyhow::Result<(ProgrammeData, Option<String>)> {
    let started = Instant::now();
    let actor = Actor::system();
    let mut data = ProgrammeData {
        slug: plan.slug.to_string(),
        ..ProgrammeData::default()
    };
    let mut tx = state.db.tenant_tx(tenant).await?;
    let Some(year) = xiaobao_enrolment::years::current(&mut tx, today).await? else {
        tracing::warn!(tenant.slug = plan.slug, "no open year: no demo data");
        return Ok((data, None));
    };
    data.academic_year = year.to_string();
    let regions = school_admin::subtree_regions(&mut tx, &tenant.root_region_code).await?;
    let places = places(plan, &regions);
    let generated = schools(plan, &places);
    let central_name = generated.iter().find(|s| s.central).map(|s| s.name.clone());
    data.schools = u32::try_from(generated.len()).unwrap_or(0);
    if marked(&mut tx, year).await? {
        tx.commit().await?;
        data.seconds = started.elapsed().as_secs_f64();
        return Ok((data, central_name));
    }
    // The demo password's hash, shared by the accounts made here (as the demo's others).
    let hash = &state.auth.hasher.hash(password).await?;
    let regions: HashMap<String, RegionOption> = regions
        .into_iter()
        .map(|r| (r.region_code.clone(), r))
        .collect();

    // 1. The second insurer's branch and its admissions, in one transaction with the schools.
    if accounts::find_for_login(&mut tx, AccountType::Insurer, plan.second.login)
        .await?
        .is_none()
    {
        let mut branch = NewOrganisation::basic(
            OrgKind::InsurerBranch,
            plan.second.name,
            plan.second.region_code,
        );
        branch.company_id = Some(cpic.company_id);
        branch.company_name = Some(cpic.name.clone());
        branch.branch_level = Some(if plan.second.role == Role::InsurerProvince {
            "province"
        } else {
            "city"
        });
        branch.contact_name = Some("赵经理".into());
        let org = orgs::create(&mut tx, &actor, &branch)
            .await?
            .with_context(|| format!("region {} missing", plan.second.region_code))?;
        let account = accounts::create(
            &mut tx,
            &actor,
            org,
            AccountType::Insurer,
            plan.second.login,
            plan.second.name,
            &[plan.second.role],
        )
        .await?;
        accounts::set_password_hash(&mut tx, account, hash).await?;
    }
    for code in plan.second.admitted {
        xiaobao_enrolment::years::admit(&mut tx, year, cpic, code, &actor)
            .await?
            .map_err(|p| anyhow::anyhow!("admission of {} in {code}: {p}", cpic.name))?;
    }

    tracing::debug!(
        tenant.slug = plan.slug,
        seconds = started.elapsed().as_secs_f64(),
        "demo data: branch done"
    );
    // 2. The schools and their accounts (those an earlier run made are found).
    let root_scope = SchoolScope::Region {
        path_prefix: tenant.root_region_code.clone(),
    };
    let mut existing: HashSet<String> = HashSet::new();
    let mut offset = 0;
    loop {
        let (page, _) = orgs::list_schools(
            &mut tx,
            &root_scope,
            &SchoolFilter {
                limit: 500,
                offset,
                ..SchoolFilter::default()
            },
        )
        .await?;
        let n = page.len();
        existing.extend(page.into_iter().map(|s| s.name));
        if n < 500 {
            break;
        }
        offset += 500;
    }
    let mut made: Vec<Made> = Vec::with_capacity(generated.len());
    for school in generated {
        let place = &places[school.place];
        if existing.contains(&school.name) {
            let account =
                accounts::find_for_login(&mut tx, AccountType::School, &school.name).await?;
            if let Some(account) = account {
                let viewer = viewer_of(&mut tx, &account).await?;
                made.push(Made {
                    org_id: account.org_id,
                    plan: school,
                    viewer,
                    new: false,
                });
            }
            continue;
        }
        let mut org = NewOrganisation::basic(OrgKind::School, &school.name, &place.code);
        org.nature = Some(if school.private { "private" } else { "public" }.into());
        org.school_type = Some(school.school_type.code().into());
        org.address = Some(school.address.clone());
        org.principal = Some(school.principal.clone());
        org.contact_name = Some(school.contact.clone());
        org.contact_mobile = Some(school.mobile.clone());
        let org_id = orgs::create(&mut tx, &actor, &org)
            .await?
            .with_context(|| format!("region {} missing", place.code))?;
        let account_id = accounts::create(
            &mut tx,
            &actor,
            org_id,
            AccountType::School,
            &school.name,
            &school.name,
            &[Role::School],
        )
        .await?;
        accounts::set_password_hash(&mut tx, account_id, hash).await?;
        let viewer = Viewer {
            account_id,
            org_id,
            org_kind: "school".into(),
            roles: vec![Role::School],
            region_code: place.code.clone(),
            region_path: place.path.clone(),
            company_id: None,
            display_name: school.name.clone(),
        };
        data.schools_made += 1;
        made.push(Made {
            plan: school,
            org_id,
            viewer,
            new: true,
        });
    }
    // The departments deciding requests and marking the central school.
    let mut departments: HashMap<String, Viewer> = HashMap::new();
    for code in made
        .iter()
        .map(|m| &places[m.plan.place])
        .filter(|p| p.county)
    {
        if !departments.contains_key(&code.code)
            && let Some(v) = department_of(&mut tx, &regions, &code.code).await?
        {
            departments.insert(code.code.clone(), v);
        }
    }
    tx.commit().await?;

    tracing::debug!(
        tenant.slug = plan.slug,
        seconds = started.elapsed().as_secs_f64(),
        "demo data: schools done"
    );
    // 3. The central school and its schools, as the county's department sets them.
    if let Some(central) = made.iter().find(|m| m.plan.central)
        && let Some(dept) = departments.get(&places[central.plan.place].code)
    {
        let schools = Schools::new(caller(state, tenant, dept.clone()));
        done(
            schools.set_central(OrgId(central.org_id), true).await,
            "中心校",
        )?;
        for m in made.iter().filter(|m| m.plan.assigned) {
            done(
                schools.assign(OrgId(m.org_id), Some(central.org_id)).await,
                "所辖学校",
            )?;
        }
    }

    tracing::debug!(
        tenant.slug = plan.slug,
        seconds = started.elapsed().as_secs_f64(),
        "demo data: central done"
    );
    // 4. Enrolments, as each school.
    let rules = done(
        Enrolments::new(caller(
            state,
            tenant,
            made.first()
                .map(|m| m.viewer.clone())
                .context("no schools")?,
        ))
        .year_rules()
        .await,
        "学年规则",
    )?
    .rules;
    let products: Vec<(String, InsuredGroup)> = rules
        .products()
        .iter()
        .map(|p| (p.code.clone(), p.insured))
        .collect();
    let mut rng = Rng::new(plan.seed ^ 0x5EED_0F20_51E2);
    let mut ids = Ids::default();
    let mut serial = 0u64;
    let sealer = state.sealer(tenant);
    let year_start = year.start_year();
    // Every roster is generated first, in order, so that the same come out however the
    // uploads below interleave.
    let mut jobs: Vec<Job> = Vec::new();
    for (index, m) in made.iter().enumerate() {
        let place = &places[m.plan.place];
        if !m.new {
            // A school an earlier run made: only when it has no enrolment in the year.
            let service = Enrolments::new(caller(state, tenant, m.viewer.clone()));
            let overview = done(service.overview(OrgId(m.org_id)).await, "投保概况")?;
            if overview.products.iter().any(|p| !p.enrolments.is_empty()) {
                continue;
            }
        }
        if m.plan.fate == Fate::Nothing {
            continue;
        }
        let insurer = match (plan.insurer_of)(&place.code) {
            Insurer::Picc => picc,
            Insurer::Cpic => cpic,
        };
        let pupils = students(
            &mut rng,
            &mut ids,
            &m.plan,
            place,
            today,
            year_start,
            m.plan.students,
            &mut serial,
        );
        let mut enrolments = Vec::new();
        for (code, group) in &products {
            let product = rules.product(code).context("product")?;
            if !product.is_eligible(m.plan.school_type) {
                continue;
            }
            let people = match group {
                InsuredGroup::Student => pupils.clone(),
                InsuredGroup::Intern => pupils.iter().filter(|p| p.final_year).cloned().collect(),
                InsuredGroup::Staff => {
                    // Half the schools insure their staff too.
                    if !rng.chance(50) {
                        continue;
                    }
                    let n = m.plan.students / 13 + 4;
                    staff(&mut rng, &mut ids, place, today, n)
                }
            };
            if !people.is_empty() {
                enrolments.push((code.clone(), *group, people));
            }
        }
        jobs.push(Job {
            index,
            org_id: m.org_id,
            viewer: m.viewer.clone(),
            name: m.plan.name.clone(),
            fate: m.plan.fate,
            company_id: insurer.company_id,
            county: place.county,
            enrolments,
        });
    }
    // Several schools at a time: commits wait for the disk, and concurrent ones share it.
    let lanes = usize::try_from(state.config.database.max_connections.saturating_sub(2) / 3)
        .unwrap_or(1)
        .clamp(1, 4);
    let mut running = tokio::task::JoinSet::new();
    let mut outcomes: Vec<JobOutcome> = Vec::with_capacity(jobs.len());
    for job in jobs {
        if running.len() >= lanes
            && let Some(joined) = running.join_next().await
        {
            outcomes.push(joined.context("enrolment task")??);
        }
        let (state, tenant, sealer) = (state.clone(), tenant.clone(), sealer.clone());
        running.spawn(async move { enrol(&state, &tenant, sealer, job).await });
    }
    while let Some(joined) = running.join_next().await {
        outcomes.push(joined.context("enrolment task")??);
    }
    outcomes.sort_by_key(|o| o.index);
    // Per school: its enrolment of the student product and its roster, for the requests.
    let mut submitted: Vec<(usize, i64, Vec<Person>)> = Vec::new();
    for o in outcomes {
        data.submitted += o.submitted;
        data.drafts += o.drafts;
        data.roster_rows += o.rows;
        if let Some((enrolment_id, pupils)) = o.student {
            submitted.push((o.index, enrolment_id, pupils));
        }
    }

    tracing::debug!(
        tenant.slug = plan.slug,
        seconds = started.elapsed().as_secs_f64(),
        "demo data: enrolments done"
    );
    // 5. Requests after submission: pending modifications, approved ones (endorsements owed)
    // and second insurers, by schools spread over the list.
    let step = (submitted.len() / 7).max(1);
    let chosen: Vec<&(usize, i64, Vec<Person>)> = submitted.iter().step_by(step).take(6).collect();
    let modified: HashSet<usize> = chosen.iter().map(|c| c.0).collect();
    // Second insurers: schools from the end of the list whose region admits the other one.
    let mut asked = 0;
    for (index, enrolment_id, _) in submitted.iter().rev().step_by(3).take(60) {
        if asked == 2 {
            break;
        }
        if modified.contains(index) {
            continue;
        }
        let m = &made[*index];
        let place = &places[m.plan.place];
        let other = match (plan.insurer_of)(&place.code) {
            Insurer::Picc => cpic,
            Insurer::Cpic => picc,
        };
        let admitted = {
            let mut tx = state.db.tenant_tx(tenant).await?;
            let a = xiaobao_enrolment::years::admitted_for(&mut tx, year, &place.path).await?;
            tx.commit().await?;
            a
        };
        if !admitted.iter().any(|c| c.company_id == other.company_id) {
            continue;
        }
        let service = Enrolments::new(caller(state, tenant, m.viewer.clone()));
        done(
            service
                .request_second_insurer(
                    EnrolmentId(*enrolment_id),
                    other.company_id,
                    "学校分校区由另一家承保机构承保，申请增加保险机构",
                )
                .await,
            "增加保险机构",
        )?;
        data.second_insurer_requests += 1;
        asked += 1;
    }
    for (k, (index, enrolment_id, pupils)) in chosen.into_iter().enumerate() {
        let m = &made[*index];
        let place = &places[m.plan.place];
        let service = Enrolments::new(caller(state, tenant, m.viewer.clone()));
        let enrolment = EnrolmentId(*enrolment_id);
        // New pupils joined: a new roster with them, and the request.
        let joined = rng.between(3, 12);
        let mut roster = pupils.clone();
        roster.extend(students(
            &mut rng,
            &mut ids,
            &m.plan,
            place,
            today,
            year_start,
            joined,
            &mut serial,
        ));
        let headcount = u32::try_from(roster.len()).unwrap_or(0);
        let result = done(
            service
                .upload_roster(
                    &state.documents,
                    sealer.clone(),
                    enrolment,
                    RosterUpload {
                        headcount: Some(headcount.to_string()),
                        file: Some(("花名册（新增学生）.csv".into(), student_csv(&roster))),
                    },
                )
                .await,
            "修改花名册",
        )?;
        let RosterResult::Accepted { roster_id, rows } = result else {
            bail!("generated modification roster of {} rejected", m.plan.name);
        };
        data.roster_rows += u64::from(rows);
        let request = done(
            service
                .request_modification(
                    enrolment,
                    &ModificationInput {
                        new_headcount: Some(headcount),
                        new_company_id: None,
                        new_roster_id: Some(roster_id),
                        reason: format!("新学期转入学生{joined}人，申请增加投保人数"),
                    },
                )
                .await,
            "申请修改",
        )?;
        data.modification_requests += 1;
        if k % 2 == 1
            && let Some(dept) = departments.get(&place.code)
        {
            done(
                Enrolments::new(caller(state, tenant, dept.clone()))
                    .decide(
                        EnrolmentRequestId(request.request_id),
                        &Decision {
                            approve: true,
                            reason: "材料齐全，同意".into(),
                        },
                    )
                    .await,
                "审核申请",
            )?;
            data.endorsements += 1;
        }
    }

    tracing::debug!(
        tenant.slug = plan.slug,
        seconds = started.elapsed().as_secs_f64(),
        "demo data: requests done"
    );
    // 6. The marker: this programme's data of the year is made.
    let mut tx = state.db.tenant_tx(tenant).await?;
    xiaobao_audit::record(
        &mut tx,
        &actor,
        Entry::new(MARKER_ACTION, MARKER_ENTITY, Some(year))
            .detail("schools_made", data.schools_made)
            .detail("submitted", data.submitted)
            .detail("roster_rows", data.roster_rows),
    )
    .await?;
    tx.commit().await?;
    data.made = true;
    data.seconds = started.elapsed().as_secs_f64();
    Ok((data, central_name))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn region(code: &str, name: &str, level: &str, path: &str) -> RegionOption {
        RegionOption {
            region_code: code.into(),
            name: name.into(),
            level: level.into(),
            path: path.into(),
        }
    }

    fn liupanshui_regions() -> Vec<RegionOption> {
        vec![
            region("520200", "六盘水市", "city", "520200"),
            region("520201", "钟山区", "county", "520200.520201"),
            region("520203", "六枝特区", "county", "520200.520203"),
            region("520204", "水城区", "county", "520200.520204"),
            region("520281", "盘州市", "county", "520200.520281"),
            region("520299", "市直", "direct", "520200.520299"),
        ]
    }

    #[test]
    fn the_same_schools_come_out_every_time_with_valid_unique_ids() {
        let plan = &PLANS[1];
        let places = places(plan, &liupanshui_regions());
        assert_eq!(places.len(), 5);
        let prefixes: Vec<&str> = places.iter().map(|p| p.prefix.as_str()).collect();
        assert_eq!(
            prefixes,
            [
                "六盘水市钟山区",
                "六枝特区",
                "六盘水市水城区",
                "盘州市",
                "六盘水市"
            ]
        );
        let a = schools(plan, &places);
        let b = schools(plan, &places);
        assert_eq!(a.len(), 300);
        let names: Vec<&str> = a.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, b.iter().map(|s| s.name.as_str()).collect::<Vec<_>>());
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
        assert!(names.contains(&"盘州市红果镇中心小学"), "{names:?}");
        for p in 0..places.len() {
            assert!(a.iter().filter(|s| s.place == p).count() >= 4);
        }
        let mobiles: HashSet<&str> = a.iter().map(|s| s.mobile.as_str()).collect();
        assert_eq!(mobiles.len(), a.len());
        assert!(
            a.iter()
                .all(|s| xiaobao_identity::school_admin::is_mobile(&s.mobile))
        );
        let submitted = a.iter().filter(|s| s.fate == Fate::Submitted).count();
        assert!((200..=270).contains(&submitted), "{submitted}");

        let today = NaiveDate::from_ymd_opt(2025, 9, 15).unwrap();
        // The rosters too: the same every time, valid, unique.
        let roster = |seed: u64| -> Vec<(usize, Person)> {
            let mut rng = Rng::new(seed);
            let mut ids = Ids::default();
            let mut serial = 0;
            let mut out = Vec::new();
            for s in a.iter().take(60) {
                let place = &places[s.place];
                let people = students(
                    &mut rng,
                    &mut ids,
                    s,
                    place,
                    today,
                    2025,
                    s.students,
                    &mut serial,
                );
                out.extend(people.into_iter().map(|p| (s.place, p)));
            }
            out
        };
        let (first, again) = (roster(7), roster(7));
        let line = |p: &Person| format!("{}|{}|{}|{}", p.name, p.male, p.class, p.id);
        assert_eq!(
            first.iter().map(|(_, p)| line(p)).collect::<Vec<_>>(),
            again.iter().map(|(_, p)| line(p)).collect::<Vec<_>>()
        );
        let mut seen = HashSet::new();
        for (place, p) in first {
            let place = &places[place];
            let id = xiaobao_domain::ResidentId::parse_at(&p.id, today).unwrap();
            assert_eq!(id.region_prefix(), place.id_region);
            assert_eq!(id.gender() == xiaobao_domain::Gender::Male, p.male);
            assert!(p.class.ends_with('班'), "{}", p.class);
            assert!(seen.insert(p.id));
        }
    }
}
