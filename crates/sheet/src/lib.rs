//! Reading spreadsheets that users upload, safely whatever the bytes are.
//!
//! An XLSX file is a zip of XML parts, and both layers let a small file ask for a great deal:
//! a zip can declare any number of entries and any sizes, deflate can expand a thousandfold,
//! the shared-string table announces its own count, cell references may point at the far
//! corner of the grid, and XML nests as deep as the file likes. General-purpose readers trust
//! some of these numbers; a 1.7 KB file can make them reserve gigabytes and abort the process.
//! This crate trusts none of them:
//!
//! - **Zip directory** — before any zip library is given the bytes, the end-of-central-directory
//!   record (and its ZIP64 form) is read directly from the last 65,557 bytes: more than
//!   [`Limits::max_entries`] entries (1,000 by default; central-directory headers anywhere in
//!   the file are counted too), or a directory outside the file, is refused. Every entry whose
//!   declared size is over [`Limits::max_entry_bytes`] (200 MiB), or over
//!   [`Limits::max_ratio`] (1,000) times its compressed size plus 1 MiB, is refused.
//! - **Decompression** — declared sizes are never trusted. The bytes a part really decompresses
//!   to are counted as they are produced, and reading stops the moment a part passes
//!   [`Limits::max_entry_bytes`] or all parts read pass [`Limits::max_total_bytes`] (400 MiB).
//! - **XML** — parts are pulled through a streaming parser with one reused buffer; nothing
//!   recurses. Elements nested deeper than [`Limits::max_depth`] (64) and single tokens
//!   longer than [`Limits::max_token_bytes`] (4 MiB) are refused. Only the five predefined
//!   entities and character references are expanded; there is no DTD processing.
//! - **Shared strings** — all strings live in one text arena with one offset each. At most
//!   [`Limits::max_shared_strings`] (1,000,000) strings and
//!   [`Limits::max_shared_string_bytes`] (64 MiB) of text are kept; `uniqueCount` only sizes a
//!   reservation of at most 65,536 offsets.
//! - **Cells** — rows are streamed one at a time into a reused buffer; no grid is ever built,
//!   and `<dimension>` is only validated. References must be valid A1 style within Excel's
//!   grid (A..XFD, 1..1,048,576). Cells at column [`Limits::max_columns`] (256) and beyond are
//!   skipped without being stored; a value in a row beyond [`Limits::max_rows`] is refused
//!   with the row's number; text longer than [`Limits::max_cell_bytes`] (32,767 × 4 bytes) is
//!   refused with its row and column. At most [`Limits::max_cells`] (32 Mi) cell slots are
//!   handed out in all, so a short row naming a far column cannot multiply the work. At most
//!   [`Limits::max_sheets`] (256) sheets are listed.
//! - **No panics** — no indexing that can go out of range and no unwrapping of anything that
//!   comes from the file; a fuzz test runs random and mutated files through every entry point.
//!
//! Errors are [`SheetError`]s whose `Display` is a Chinese sentence for the person who
//! uploaded the file, never quoting its content; [`SheetError::is_limit`] separates limit
//! breaches (413) from unreadable files (422). Only XLSX is read: [`sniff`] tells XLS, XLSB,
//! ODS, PDF and text apart so callers can route CSV elsewhere and explain the rest.
//!
//! # Example
//!
//! ```
//! use xiaobao_sheet::{Cell, Flow, Limits, SheetError, Workbook};
//!
//! # fn upload() -> Vec<u8> {
//! #     let mut book = rust_xlsxwriter::Workbook::new();
//! #     let sheet = book.add_worksheet();
//! #     sheet.write_string(0, 0, "姓名").unwrap();
//! #     sheet.write_string(0, 1, "身份证号").unwrap();
//! #     sheet.write_string(1, 0, "张三").unwrap();
//! #     sheet.write_string(1, 1, "110101200001011234").unwrap();
//! #     book.save_to_buffer().unwrap()
//! # }
//! # fn main() -> Result<(), SheetError> {
//! let bytes = upload();
//! let limits = Limits::DEFAULT.with_max_rows(250_000);
//! let mut book = Workbook::open(&bytes, &limits)?;
//! let mut names = Vec::new();
//! for sheet in 0..book.sheets().len() {
//!     // Stop at the first sheet that has a row with something in it.
//!     let outcome = book.for_each_row(sheet, |line, cells| {
//!         if line == 1 {
//!             return Ok(Flow::Continue); // the header
//!         }
//!         match cells.first() {
//!             Some(Cell::Text(name)) => names.push(name.to_string()),
//!             Some(_) | None => return Err(format!("第 {line} 行缺少姓名")),
//!         }
//!         Ok(Flow::Continue)
//!     })?;
//!     outcome.expect("every row has a name");
//!     if !names.is_empty() {
//!         break;
//!     }
//! }
//! assert_eq!(names, ["张三"]);
//! # Ok(())
//! # }
//! ```

mod cellref;
mod error;
mod limits;
mod shared;
mod sheet;
mod source;
mod workbook;
mod xml;
mod zipscan;

use std::borrow::Cow;

pub use error::SheetError;
pub use limits::Limits;
pub use workbook::{SheetInfo, Workbook};

/// What kind of file an upload is, judged from its bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A zip holding `xl/workbook.xml`: the only format [`Workbook`] reads.
    Xlsx,
    /// A zip holding `xl/workbook.bin` (Excel binary workbook).
    Xlsb,
    /// An OpenDocument spreadsheet (zip with the `mimetype` of one).
    Ods,
    /// An OLE compound file: Excel 97–2003 `.xls`, or an encrypted `.xlsx`.
    Xls,
    /// Any other zip, or a zip whose directory cannot be read.
    OtherZip,
    /// A PDF.
    Pdf,
    /// Zero bytes.
    Empty,
    /// Anything else; callers treat it as CSV text.
    Text,
}

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The kind told by the first bytes alone; zips come back as `OtherZip`.
fn head(bytes: &[u8]) -> Format {
    if bytes.is_empty() {
        Format::Empty
    } else if bytes.starts_with(&OLE_MAGIC) {
        Format::Xls
    } else if bytes.starts_with(b"%PDF") {
        Format::Pdf
    } else if zipscan::looks_like_zip(bytes) {
        Format::OtherZip
    } else {
        Format::Text
    }
}

/// Tells what kind of file `bytes` is.
///
/// Zips are told apart by the entry names in their central directory, which is read by the
/// same bounded scan [`Workbook::open`] starts with (declared entry sizes are not judged
/// here). A zip whose directory cannot be read, or has more entries than the default
/// [`Limits::max_entries`], is [`Format::OtherZip`]; [`Workbook::open`] says what is wrong.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Format {
    match head(bytes) {
        Format::OtherZip => zipscan::scan(bytes, &Limits::DEFAULT, zipscan::Sizes::Ignore)
            .map_or(Format::OtherZip, |directory| directory.format),
        other => other,
    }
}

/// One cell's value, as handed to [`Workbook::for_each_row`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// No value (also a value of empty text).
    Empty,
    /// Text: shared strings are borrowed from the workbook; inline strings, formula results
    /// (`t="str"`) and ISO dates (`t="d"`) from the row being read.
    Text(Cow<'a, str>),
    /// A number, as Excel stores it (dates are serial numbers; styles are not read).
    Number(f64),
    /// `TRUE` or `FALSE`.
    Bool(bool),
    /// An error value such as `#N/A`.
    Error,
}

impl Cell<'_> {
    /// True for [`Cell::Empty`].
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// The text of a [`Cell::Text`].
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The value of a [`Cell::Number`].
    #[must_use]
    pub const fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The same value, owning its text.
    #[must_use]
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Self::Empty => Cell::Empty,
            Self::Text(text) => Cell::Text(Cow::Owned(text.into_owned())),
            Self::Number(n) => Cell::Number(n),
            Self::Bool(b) => Cell::Bool(b),
            Self::Error => Cell::Error,
        }
    }
}

/// What the row callback of [`Workbook::for_each_row`] asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next row.
    Continue,
    /// Stop reading this sheet; `for_each_row` returns `Ok(Ok(()))`.
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert_eq!(sniff(b""), Format::Empty);
        assert_eq!(sniff(b"%PDF-1.4\n%\xe2\xe3"), Format::Pdf);
        assert_eq!(sniff(&OLE_MAGIC), Format::Xls);
        assert_eq!(sniff(b"name,id\n"), Format::Text);
        assert_eq!(sniff(b"PK\x03\x04"), Format::OtherZip);
        assert_eq!(sniff(b"PK\x05\x06"), Format::OtherZip);
    }

    #[test]
    fn workbooks_can_move_to_another_thread() {
        fn send<T: Send + Sync>() {}
        send::<Workbook<'static>>();
        send::<SheetError>();
        send::<Cell<'static>>();
    }

    #[test]
    fn cells() {
        let text = Cell::Text(Cow::Borrowed("x"));
        assert_eq!(text.as_text(), Some("x"));
        assert_eq!(text.as_number(), None);
        assert_eq!(Cell::Number(2.5).as_number(), Some(2.5));
        assert!(Cell::Empty.is_empty());
        assert!(!Cell::Error.is_empty());
        assert_eq!(text.clone().into_owned(), text);
    }
}
