//! Start or stop a private PostgreSQL cluster for the test suite (used by
//! `infra/test/services.sh` and `infra/test/fresh-clone.sh`).
//!
//! ```text
//! cargo run -q -p xiaobao-pgembed --example pgctl -- start --data-dir DIR --port PORT
//! cargo run -q -p xiaobao-pgembed --example pgctl -- stop  --data-dir DIR --port PORT
//! ```
//!
//! `start` runs [`ensure_running_for_tests`]: a **test-only** cluster with trust authentication
//! on loopback (anyone on the machine can connect as the superuser `postgres` without a
//! password), as the test suite expects; it refuses a cluster the service's
//! `ensure_running` has password-protected. `stop` stops either kind.
//!
//! `start` prints `url=…`, `port=…`, `data_dir=…` and `started_now=true|false` lines on
//! stdout; `stop` prints `was_running=true|false`. Logs go to stderr (`RUST_LOG`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use xiaobao_pgembed::{ClusterSpec, ensure_running_for_tests, stop};

const USAGE: &str = "usage: pgctl start|stop --data-dir DIR --port PORT";

enum Action {
    Start,
    Stop,
}

fn parse(args: &[String]) -> Result<(Action, ClusterSpec), String> {
    let mut iter = args.iter();
    let action = match iter.next().map(String::as_str) {
        Some("start") => Action::Start,
        Some("stop") => Action::Stop,
        other => return Err(format!("unknown command {:?}", other.unwrap_or(""))),
    };
    let mut data_dir = None;
    let mut port = None;
    while let Some(flag) = iter.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name {
            "--data-dir" => data_dir = Some(PathBuf::from(value()?)),
            "--port" => {
                let text = value()?;
                port = Some(
                    text.parse::<u16>()
                        .map_err(|e| format!("bad port {text:?}: {e}"))?,
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let data_dir = data_dir.ok_or("--data-dir is required")?;
    let port = port.ok_or("--port is required")?;
    Ok((action, ClusterSpec { data_dir, port }))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (action, spec) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("pgctl: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let report = match action {
        Action::Start => ensure_running_for_tests(&spec).map(|c| {
            format!(
                "url={}\nport={}\ndata_dir={}\nstarted_now={}\n",
                c.url,
                c.port,
                c.data_dir.display(),
                c.started_now
            )
        }),
        Action::Stop => stop(&spec).map(|was_running| format!("was_running={was_running}\n")),
    };
    match report {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pgctl: {e}");
            ExitCode::FAILURE
        }
    }
}
