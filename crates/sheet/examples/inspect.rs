//! Reads a spreadsheet file the way an upload is read and says what came of it.
//!
//! ```text
//! cargo run -p xiaobao-sheet --release --example inspect -- FILE [MAX_ROWS]
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use xiaobao_sheet::{Flow, Limits, Workbook, sniff};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: inspect FILE [MAX_ROWS]");
        return ExitCode::from(2);
    };
    let limits = match args.next().map(|n| n.parse::<u32>()) {
        Some(Ok(max_rows)) => Limits::DEFAULT.with_max_rows(max_rows),
        Some(Err(_)) => {
            eprintln!("MAX_ROWS must be a number");
            return ExitCode::from(2);
        }
        None => Limits::DEFAULT,
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let started = Instant::now();
    let _ = writeln!(
        out,
        "{path}: {} bytes, sniffed as {:?}",
        bytes.len(),
        sniff(&bytes)
    );
    let result = Workbook::open(&bytes, &limits).and_then(|mut book| {
        for (i, sheet) in book.sheets().to_vec().iter().enumerate() {
            let (mut rows, mut cells) = (0u64, 0u64);
            book.for_each_row(i, |_, row| {
                rows += 1;
                cells += row.len() as u64;
                Ok::<_, ()>(Flow::Continue)
            })?
            .ok();
            let _ = writeln!(
                out,
                "  sheet {i} {:?}{}: {rows} rows, {cells} cells",
                sheet.name,
                if sheet.hidden { " (hidden)" } else { "" }
            );
        }
        Ok(book.bytes_read())
    });
    let elapsed = started.elapsed();
    match result {
        Ok(read) => {
            let _ = writeln!(out, "  ok: {read} bytes decompressed in {elapsed:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let status = if e.is_limit() { 413 } else { 422 };
            let _ = writeln!(out, "  refused ({status}) in {elapsed:?}: {e}");
            ExitCode::FAILURE
        }
    }
}
