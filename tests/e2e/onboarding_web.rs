//! Bulk onboarding through the pages and the API: template downloads, an upload with bad rows
//! that imports nothing and lists every problem, a good upload, and who may do which import.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use xiaobao_domain::Role;
use xiaobao_test_support::{AccountSpec, SignedInSession, TestApp, TestResponse};

fn multipart(csrf: Option<&str>, name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "xbtestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    if let Some(token) = csrf {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    app: &TestApp,
    s: &SignedInSession,
    uri: &str,
    csv: &str,
    api: bool,
) -> TestResponse {
    let (content_type, body) = multipart(
        if api { None } else { Some(&s.csrf) },
        "学校.csv",
        csv.as_bytes(),
    );
    let mut request = Request::post(uri)
        .header("content-type", content_type)
        .header("cookie", &s.cookie);
    if api {
        request = request.header("x-csrf-token", &s.csrf);
    }
    app.request(request.body(Body::from(body)).unwrap()).await
}

async fn count(app: &TestApp) -> i64 {
    let tenant = app.db().active_tenant("henan").unwrap();
    let mut tx = app.db().tenant_tx(&tenant).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("select count(*) from organisations where name like '%导入测试%小学'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    n
}

const HEADER: &str = "学校全称,所在区域代码,办学性质,学校类型,学校地址,校长姓名,联系人(明白人),联系人手机号,中心校全称\n";

#[tokio::test]
async fn a_county_department_imports_its_schools_all_or_nothing() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("导入金水区"),
                ..AccountSpec::new("导入测试金水区教育局", "410105", &[Role::CountyDepartment])
            },
        )
        .await;
    let s = app.sign_in("henan", &dept).await;
    let template = app
        .get_with_cookie("/t/henan/onboarding/schools/template.xlsx", &s.cookie)
        .await;
    assert_eq!(template.status, StatusCode::OK);
    assert_eq!(&template.body[..2], b"PK", "a real XLSX (zip) file");
    assert!(
        template.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("filename*=UTF-8''")
    );
    let page = app
        .get_with_cookie("/t/henan/onboarding/schools", &s.cookie)
        .await;
    assert!(page.text().contains("批量导入学校"));

    // One good row, one row in another county: nothing is imported, the bad row is named.
    let bad = format!(
        "{HEADER}金水区导入测试第一小学,410105,公办,小学,文化路1号,王校长,李老师,13911110001,\n\
         中原区导入测试小学,410102,公办,小学,建设路2号,赵校长,钱老师,13911110002,\n"
    );
    let r = upload(&app, &s, "/t/henan/onboarding/schools", &bad, false).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let html = r.text();
    assert!(html.contains("未导入任何数据"), "{html}");
    assert!(html.contains("第 3 行"), "{html}");
    assert_eq!(count(&app).await, 0);
    // The problems as a spreadsheet.
    let problems_json = html
        .split("name=\"problems\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .replace("&quot;", "\"")
        .replace("&#34;", "\"");
    let r2 = app
        .post_as(
            &s,
            "/t/henan/onboarding/problems.xlsx",
            &[("problems", &problems_json)],
        )
        .await;
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(&r2.body[..2], b"PK");

    // The good file through the API.
    let good = format!(
        "{HEADER}金水区导入测试第一小学,410105,公办,小学,文化路1号,王校长,李老师,13911110001,\n"
    );
    let r = upload(&app, &s, "/api/v1/t/henan/onboarding/schools", &good, true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["created"], 1);
    assert_eq!(count(&app).await, 1);
    // The same file again: the name is taken now, so the API lists the problem.
    let r = upload(&app, &s, "/api/v1/t/henan/onboarding/schools", &good, true).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["code"], "invalid_rows");
    assert_eq!(r.json()["problems"][0]["line"], 2);
}

#[tokio::test]
async fn only_the_authority_imports_departments() {
    let app = TestApp::init().await.with_demo_tenants().await;
    let dept = app
        .account(
            "henan",
            AccountSpec {
                login_name: Some("导入二七区"),
                ..AccountSpec::new("导入测试二七区教育局", "410103", &[Role::CountyDepartment])
            },
        )
        .await;
    let s = app.sign_in("henan", &dept).await;
    let r = app
        .get_with_cookie("/t/henan/onboarding/departments", &s.cookie)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let authority = app
        .account(
            "henan",
            AccountSpec::new(
                "导入测试河南省教育厅",
                "410000",
                &[Role::ProgrammeAuthority],
            ),
        )
        .await;
    let a = app.sign_in("henan", &authority).await;
    let r = app
        .get_with_cookie("/t/henan/onboarding/departments/template.xlsx", &a.cookie)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let csv = "区域代码,区域名称,单位名称,联系人,联系人手机号\n410102,中原区,中原区教育局,周老师,13922220001\n";
    let r = upload(&app, &a, "/t/henan/onboarding/departments", csv, false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("已导入 1 个教育部门账号"), "{}", r.text());
}
