//! The `xiaobao` binary as an operator runs it: a command's own output alone on standard
//! output (so it can be redirected to a file), the logs on standard error.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::path::PathBuf;
use std::process::{Command, Output};

use xiaobao_test_support::{TEST_AUTH_SECRET_KEY, TEST_DOWNLOAD_KEY, TEST_ID_KEY, TestApp};

/// The binary with every log enabled, in `format`, and no configuration but `env`: none of
/// the calling environment's `XIAOBAO_*` variables, no configuration file.
fn xiaobao(format: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xiaobao"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("XIAOBAO_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XIAOBAO_LOG__FILTER", "trace")
        .env("XIAOBAO_LOG__FORMAT", format)
        .envs(env.iter().copied())
        .args(args);
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "xiaobao {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).unwrap()
}

/// The logs were on, and went to standard error.
fn assert_logged(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("configuration loaded"),
        "no log on standard error: {stderr}"
    );
}

#[test]
fn openapi_prints_the_json_document_alone_on_standard_output() {
    for format in ["pretty", "json"] {
        let output = xiaobao(format, &[], &["openapi"]);
        // The whole of standard output is one JSON document: anything else (a log line
        // before or after it) fails the parse.
        let doc: serde_json::Value = serde_json::from_str(stdout(&output))
            .unwrap_or_else(|e| panic!("{format}: not JSON alone ({e}): {}", stdout(&output)));
        assert_eq!(doc["openapi"], "3.1.0", "{format}");
        assert!(
            doc["paths"].as_object().is_some_and(|p| !p.is_empty()),
            "{format}: no paths"
        );
        assert_logged(&output);
    }
}

/// The 2025-2026 rules of the 六盘水 demo programme.
fn rules_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/domain/programmes/liupanshui-2025-2026.toml")
}

#[tokio::test]
async fn tenant_and_rules_commands_print_only_their_results_on_standard_output() {
    // A fresh database of the test cluster, reached as an external database; the tenant
    // roles the commands make carry the app's prefix and go with it.
    let app = TestApp::init().await;
    let url = app.urls["main"].clone();
    let env = [
        ("XIAOBAO_DATABASE__MODE", "external"),
        ("XIAOBAO_DATABASE__URL", url.as_str()),
        ("XIAOBAO_DATABASE__ROLE_PREFIX", app.name.as_str()),
        ("XIAOBAO_PERSONAL_DATA__ID_KEY", TEST_ID_KEY),
        ("XIAOBAO_STORAGE__DOWNLOAD_KEY", TEST_DOWNLOAD_KEY),
        ("XIAOBAO_AUTH__SECRET_KEY", TEST_AUTH_SECRET_KEY),
    ];
    let rules = rules_file();
    let created = xiaobao(
        "pretty",
        &env,
        &[
            "tenant",
            "create",
            "--slug",
            "cli",
            "--name",
            "六盘水市校方责任保险管理系统",
            "--root-region",
            "520200",
            "--rules",
            rules.to_str().unwrap(),
            "--academic-year",
            "2025-2026",
        ],
    );
    assert_eq!(stdout(&created), "已开通租户 cli\n");
    assert_logged(&created);

    let listed = xiaobao("json", &env, &["tenant", "list"]);
    let lines: Vec<Vec<&str>> = stdout(&listed)
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(
        lines,
        [[
            "cli",
            "六盘水市校方责任保险管理系统",
            "520200",
            "t_cli",
            "main",
            "Active"
        ]]
    );
    assert_logged(&listed);

    // `rules show > x.toml` makes a TOML file holding the rules document.
    let shown = xiaobao(
        "pretty",
        &env,
        &[
            "rules",
            "show",
            "--tenant",
            "cli",
            "--academic-year",
            "2025-2026",
        ],
    );
    let printed: toml::Table = stdout(&shown)
        .parse()
        .unwrap_or_else(|e| panic!("not TOML alone ({e}): {}", stdout(&shown)));
    let stored: toml::Table = std::fs::read_to_string(&rules).unwrap().parse().unwrap();
    assert_eq!(printed, stored);
    assert!(
        stdout(&shown).starts_with("# 第 1 版"),
        "{}",
        stdout(&shown)
    );
    assert_logged(&shown);
}
