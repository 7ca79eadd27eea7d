//! The bounds every read stays within.

/// Bounds on what one upload may make the reader do.
///
/// Every field caps something an attacker controls: how many zip entries are looked at, how
/// many bytes are decompressed, how many shared strings are kept, how deep XML may nest. None
/// of them is ever used to size an allocation up front. Build one with struct update syntax,
/// `Limits { max_rows: 250_000, ..Limits::DEFAULT }`, or with the `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Zip entries in the archive (checked from the end-of-central-directory record and by
    /// counting central-directory headers, before the archive is opened). Default 1,000.
    pub max_entries: usize,
    /// Decompressed bytes of any one part that is read. Default 200 MiB.
    pub max_entry_bytes: u64,
    /// Decompressed bytes of all parts read through one [`crate::Workbook`]. Default 400 MiB.
    pub max_total_bytes: u64,
    /// An entry declaring more than `max_ratio` × its compressed size + 1 MiB is refused up
    /// front. Default 1,000.
    pub max_ratio: u64,
    /// Strings in the shared-string table. Default 1,000,000.
    pub max_shared_strings: usize,
    /// Bytes of text in the shared-string table, all strings together. Default 64 MiB.
    pub max_shared_string_bytes: usize,
    /// Highest row (as Excel numbers it) that may hold a value. Default 1,048,576, Excel's own
    /// limit; callers usually lower it.
    pub max_rows: u32,
    /// Columns kept per row: cells at column index `max_columns` (0-based) and beyond are
    /// skipped, never stored. Default 256 (A..IV).
    pub max_columns: u32,
    /// Bytes of text in one cell. Default 32,767 × 4 (Excel's 32,767 characters, 4 bytes
    /// each at most in UTF-8).
    pub max_cell_bytes: usize,
    /// Nesting depth of XML elements. Default 64.
    pub max_depth: u32,
    /// Sheets in the workbook. Default 256.
    pub max_sheets: usize,
    /// Bytes of one XML token (a tag with its attributes, a run of text, a comment). Default
    /// 4 MiB; this bounds the parser's buffer.
    pub max_token_bytes: usize,
    /// Cell slots handed to row callbacks through one [`crate::Workbook`], the empty ones that
    /// fill gaps included. A short row element naming a far column yields a long slice, so
    /// this bounds the work a small file can cause. Default 32 Mi (33,554,432): more than a
    /// dense sheet within [`Limits::max_total_bytes`] can hold.
    pub max_cells: u64,
}

const MIB: u64 = 1024 * 1024;

impl Limits {
    /// The defaults documented on each field.
    pub const DEFAULT: Self = Self {
        max_entries: 1_000,
        max_entry_bytes: 200 * MIB,
        max_total_bytes: 400 * MIB,
        max_ratio: 1_000,
        max_shared_strings: 1_000_000,
        max_shared_string_bytes: 64 * 1024 * 1024,
        max_rows: 1_048_576,
        max_columns: 256,
        max_cell_bytes: 32_767 * 4,
        max_depth: 64,
        max_sheets: 256,
        max_token_bytes: 4 * 1024 * 1024,
        max_cells: 32 * 1024 * 1024,
    };

    /// Same as [`Limits::DEFAULT`].
    #[must_use]
    pub const fn new() -> Self {
        Self::DEFAULT
    }

    /// These limits with another [`Limits::max_rows`].
    #[must_use]
    pub const fn with_max_rows(mut self, max_rows: u32) -> Self {
        self.max_rows = max_rows;
        self
    }

    /// These limits with another [`Limits::max_columns`].
    #[must_use]
    pub const fn with_max_columns(mut self, max_columns: u32) -> Self {
        self.max_columns = max_columns;
        self
    }

    /// These limits with other byte limits for one part and for all parts together.
    #[must_use]
    pub const fn with_max_bytes(mut self, per_entry: u64, total: u64) -> Self {
        self.max_entry_bytes = per_entry;
        self.max_total_bytes = total;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
