//! Opening a workbook: the zip, `xl/workbook.xml`, its relationships, the shared strings.

use std::fmt;
use std::io::Cursor;

use quick_xml::events::Event;
use zip::ZipArchive;
use zip::read::ZipFile;
use zip::result::ZipError;

use crate::shared::{self, SharedStrings};
use crate::source::Source;
use crate::xml::{Xml, attributes, each_attribute, local_name, unescape};
use crate::zipscan::{self, check_declared};
use crate::{Cell, Flow, Format, Limits, SheetError, sheet};

const WORKBOOK: &str = "xl/workbook.xml";
const WORKBOOK_RELS: &str = "xl/_rels/workbook.xml.rels";
const SHARED_STRINGS: &str = "xl/sharedStrings.xml";
/// Longest sheet name kept (Excel allows 31 characters).
const MAX_NAME_BYTES: usize = 1024;
/// Longest relationship target kept.
const MAX_TARGET_BYTES: usize = 4096;
/// Most relationships `xl/workbook.xml` may have (a handful is usual).
const MAX_RELATIONSHIPS: usize = 10_000;

type Archive<'a> = ZipArchive<Cursor<&'a [u8]>>;
type Part<'z, 'a> = Xml<ZipFile<'z, Cursor<&'a [u8]>>>;

/// One sheet as listed in `xl/workbook.xml`, in workbook order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetInfo {
    /// The name on the sheet's tab.
    pub name: String,
    /// `state="hidden"` or `state="veryHidden"`.
    pub hidden: bool,
    /// The part holding the sheet's cells, e.g. `xl/worksheets/sheet1.xml`.
    part: String,
}

/// An open XLSX workbook over the uploaded bytes.
///
/// Opening reads the workbook's sheet list, its relationships and its shared-string table
/// (bounded by [`Limits`]); cells are read only by [`Workbook::for_each_row`], one row at a
/// time. Styles are not read: numbers stay numbers and dates stay serial numbers.
pub struct Workbook<'a> {
    archive: Archive<'a>,
    limits: Limits,
    sheets: Vec<SheetInfo>,
    strings: SharedStrings,
    /// Decompressed bytes of all parts read so far.
    read: u64,
    /// Cell slots handed to row callbacks so far.
    cells: u64,
}

impl fmt::Debug for Workbook<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workbook")
            .field("sheets", &self.sheets)
            .field("shared_strings", &self.strings.len())
            .field("bytes_read", &self.read)
            .field("cells_delivered", &self.cells)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn zip_error(error: &ZipError) -> SheetError {
    match error {
        ZipError::UnsupportedArchive(_) | ZipError::CompressionMethodNotSupported(_) => {
            SheetError::corrupt("使用了不支持的压缩方式")
        }
        ZipError::InvalidPassword => SheetError::corrupt("文件已加密"),
        ZipError::FileNotFound => SheetError::corrupt("缺少必要的组成部分"),
        _ => SheetError::corrupt("压缩包结构损坏"),
    }
}

/// Finds an entry by name, falling back to a case-insensitive match (part names in OOXML
/// are case-insensitive).
fn find(archive: &Archive<'_>, name: &str) -> Option<usize> {
    archive.index_for_name(name).or_else(|| {
        archive
            .file_names_raw()
            .position(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// Reads one part through a [`Source`] with the limits that remain, if the part exists.
fn read_part<'a, T>(
    archive: &mut Archive<'a>,
    limits: &Limits,
    read: &mut u64,
    name: &str,
    label: &'static str,
    parse: impl FnOnce(&mut Part<'_, 'a>) -> Result<T, SheetError>,
) -> Result<Option<T>, SheetError> {
    let Some(index) = find(archive, name) else {
        return Ok(None);
    };
    let file = archive.by_index(index).map_err(|e| zip_error(&e))?;
    if file.encrypted() {
        return Err(SheetError::corrupt("文件已加密"));
    }
    check_declared(file.size(), file.compressed_size(), limits)?;
    let total_left = limits.max_total_bytes.saturating_sub(*read);
    let source = Source::new(
        file,
        limits.max_entry_bytes,
        total_left,
        limits.max_token_bytes,
    );
    let mut xml = Xml::new(source, limits.max_depth, label);
    let result = parse(&mut xml);
    *read = read.saturating_add(xml.produced());
    result.map(Some)
}

impl<'a> Workbook<'a> {
    /// Opens an uploaded file as an XLSX workbook.
    ///
    /// Before any zip library sees the bytes, the archive's directory is checked against
    /// `limits` (entry count, directory within the file, each entry's declared size and
    /// compression ratio). Other formats are told apart: [`SheetError::Legacy`] for XLS, XLSB
    /// and ODS, [`SheetError::NotSpreadsheet`] for anything else, [`SheetError::EmptyFile`]
    /// for zero bytes.
    ///
    /// # Errors
    ///
    /// Any [`SheetError`]: the file is of another kind, damaged, or over a limit.
    pub fn open(bytes: &'a [u8], limits: &Limits) -> Result<Self, SheetError> {
        match crate::head(bytes) {
            Format::OtherZip => {}
            Format::Empty => return Err(SheetError::EmptyFile),
            Format::Xls => return Err(SheetError::Legacy(Format::Xls)),
            _ => return Err(SheetError::NotSpreadsheet),
        }
        let directory = zipscan::scan(bytes, limits, zipscan::Sizes::Check)?;
        match directory.format {
            Format::Xlsx => {}
            format @ (Format::Xlsb | Format::Ods) => return Err(SheetError::Legacy(format)),
            _ => return Err(SheetError::NotSpreadsheet),
        }
        let archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_error(&e))?;
        if archive.len() > limits.max_entries {
            return Err(SheetError::too_complex("压缩包内文件过多"));
        }
        let mut book = Self {
            archive,
            limits: *limits,
            sheets: Vec::new(),
            strings: SharedStrings::default(),
            read: 0,
            cells: 0,
        };
        book.read_structure()?;
        Ok(book)
    }

    fn read_structure(&mut self) -> Result<(), SheetError> {
        let Self {
            archive,
            limits,
            read,
            ..
        } = self;
        let limits: &Limits = limits;
        let listed = read_part(archive, limits, read, WORKBOOK, "工作簿", |xml| {
            parse_workbook(xml, limits)
        })?
        .ok_or(SheetError::NotSpreadsheet)?;
        if listed.is_empty() {
            return Err(SheetError::corrupt("工作簿中没有工作表"));
        }
        let rels = read_part(
            archive,
            limits,
            read,
            WORKBOOK_RELS,
            "工作簿关系",
            |xml| parse_rels(xml, &listed),
        )?
        .ok_or_else(|| SheetError::corrupt("缺少工作簿关系（workbook.xml.rels）"))?;

        let mut sheets = Vec::with_capacity(listed.len());
        for (i, sheet) in listed.into_iter().enumerate() {
            let missing = || SheetError::corrupt(format!("找不到第 {} 个工作表的数据", i + 1));
            let part = rels
                .sheets
                .iter()
                .find(|(id, _)| *id == sheet.relation)
                .map(|(_, target)| target.clone())
                .ok_or_else(missing)?;
            if find(archive, &part).is_none() {
                return Err(missing());
            }
            sheets.push(SheetInfo {
                name: sheet.name,
                hidden: sheet.hidden,
                part,
            });
        }
        let strings_part = rels
            .shared_strings
            .filter(|p| find(archive, p).is_some())
            .unwrap_or_else(|| SHARED_STRINGS.to_owned());
        let strings = read_part(
            archive,
            limits,
            read,
            &strings_part,
            "共享字符串表",
            |xml| shared::parse(xml, limits),
        )?
        .unwrap_or_default();
        self.sheets = sheets;
        self.strings = strings;
        Ok(())
    }

    /// The sheets in workbook order, hidden ones included.
    #[must_use]
    pub fn sheets(&self) -> &[SheetInfo] {
        &self.sheets
    }

    /// The sheet names in workbook order, hidden ones included.
    #[must_use]
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.iter().map(|s| s.name.clone()).collect()
    }

    /// The index of the sheet with this name (as [`Workbook::for_each_row`] takes it).
    #[must_use]
    pub fn sheet_index(&self, name: &str) -> Option<usize> {
        self.sheets.iter().position(|s| s.name == name)
    }

    /// How many strings the shared-string table holds.
    #[must_use]
    pub fn shared_string_count(&self) -> usize {
        self.strings.len()
    }

    /// Decompressed bytes of all parts read so far (counted against
    /// [`Limits::max_total_bytes`]).
    #[must_use]
    pub const fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Streams the rows of sheet `sheet` (0-based, in [`Workbook::sheets`] order) into `f`.
    ///
    /// `f` gets each row's line number as Excel shows it (1-based) and its cells, indexed by
    /// column from A (index 0) up to the last non-empty column kept (see
    /// [`Limits::max_columns`]); empty text counts as [`Cell::Empty`]. Rows without a
    /// non-empty cell are skipped. Text from the shared-string table is borrowed, not copied.
    /// `f` returns [`Flow::Stop`] to stop early, or its own error, which comes back as
    /// `Ok(Err(e))`.
    ///
    /// Rows handed to `f` before an error are not taken back: treat them as tentative until
    /// this returns `Ok`.
    ///
    /// # Errors
    ///
    /// [`SheetError`] when the sheet is damaged or over a limit, or [`SheetError::NoSuchSheet`].
    pub fn for_each_row<F, E>(
        &mut self,
        sheet: usize,
        mut f: F,
    ) -> Result<Result<(), E>, SheetError>
    where
        F: FnMut(u32, &[Cell<'_>]) -> Result<Flow, E>,
    {
        let Self {
            archive,
            limits,
            sheets,
            strings,
            read,
            cells,
        } = self;
        let limits: &Limits = limits;
        let info = sheets.get(sheet).ok_or(SheetError::NoSuchSheet {
            index: sheet,
            count: sheets.len(),
        })?;
        let strings = &*strings;
        read_part(archive, limits, read, &info.part, "工作表", |xml| {
            sheet::stream(xml, strings, limits, cells, &mut f)
        })?
        .ok_or_else(|| SheetError::corrupt("找不到工作表的数据"))
    }
}

/// A `<sheet>` of `xl/workbook.xml`.
struct Listed {
    name: String,
    relation: String,
    hidden: bool,
}

fn parse_workbook<R: std::io::Read>(
    xml: &mut Xml<R>,
    limits: &Limits,
) -> Result<Vec<Listed>, SheetError> {
    let mut listed = Vec::new();
    let mut path: Vec<bool> = Vec::with_capacity(8);
    loop {
        let (e, empty) = match xml.next()? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        // `<sheet>` counts only as workbook → sheets → sheet.
        let depth = path.len();
        let name = local_name(&e);
        let wanted = match depth {
            0 => name == "workbook",
            1 => path.last() == Some(&true) && name == "sheets",
            2 => path.iter().all(|w| *w) && name == "sheet",
            _ => false,
        };
        if wanted && depth == 2 {
            if listed.len() >= limits.max_sheets {
                return Err(SheetError::too_complex("工作表过多"));
            }
            listed.push(parse_sheet(&e)?);
        }
        if !empty {
            path.push(wanted);
        }
    }
    Ok(listed)
}

fn parse_sheet(e: &quick_xml::events::BytesStart<'_>) -> Result<Listed, SheetError> {
    let mut name = None;
    let mut relation = None;
    let mut hidden = false;
    each_attribute(e, |key, value| {
        match key.split_once(':') {
            None if key == "name" => name = Some(unescape(value)?),
            None if key == "state" => hidden = value != "visible",
            Some((_, "id")) => relation = Some(unescape(value)?),
            _ => {}
        }
        Ok(())
    })?;
    let (Some(name), Some(relation)) = (name, relation) else {
        return Err(SheetError::corrupt("工作簿中的工作表缺少名称或关系"));
    };
    if name.len() > MAX_NAME_BYTES || relation.len() > MAX_NAME_BYTES {
        return Err(SheetError::corrupt("工作表名称过长"));
    }
    Ok(Listed {
        name,
        relation,
        hidden,
    })
}

/// The relationships that matter: those of the listed sheets, and the shared strings.
struct Rels {
    sheets: Vec<(String, String)>,
    shared_strings: Option<String>,
}

fn parse_rels<R: std::io::Read>(xml: &mut Xml<R>, listed: &[Listed]) -> Result<Rels, SheetError> {
    let mut rels = Rels {
        sheets: Vec::new(),
        shared_strings: None,
    };
    let mut depth = 0usize;
    let mut seen = 0usize;
    loop {
        let (e, empty) = match xml.next()? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if depth == 1 && local_name(&e) == "Relationship" {
            seen += 1;
            if seen > MAX_RELATIONSHIPS {
                return Err(SheetError::too_complex("工作簿关系过多"));
            }
            let [id, kind, target, mode] = attributes(&e, ["Id", "Type", "Target", "TargetMode"])?;
            if let (Some(id), Some(kind), Some(target)) = (id, kind, target)
                && mode.as_deref() != Some("External")
                && target.len() <= MAX_TARGET_BYTES
            {
                let id = unescape(&id)?;
                if kind.ends_with("/sharedStrings") {
                    rels.shared_strings = resolve_target(&unescape(&target)?);
                } else if listed.iter().any(|s| s.relation == id)
                    && !rels.sheets.iter().any(|(known, _)| *known == id)
                    && let Some(part) = resolve_target(&unescape(&target)?)
                {
                    rels.sheets.push((id, part));
                }
            }
        }
        if !empty {
            depth += 1;
        }
    }
    Ok(rels)
}

/// Resolves a relationship target of `xl/workbook.xml` to a part name: relative to `xl/`,
/// or absolute from the package root (`/xl/worksheets/sheet1.xml`). `..` and `.` are
/// followed; a target leaving the package is refused.
fn resolve_target(target: &str) -> Option<String> {
    let (mut parts, rest) = match target.strip_prefix('/') {
        Some(rest) => (Vec::new(), rest),
        None => (vec!["xl"], target),
    };
    for segment in rest.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            resolve_target("worksheets/sheet1.xml").as_deref(),
            Some("xl/worksheets/sheet1.xml")
        );
        assert_eq!(
            resolve_target("/xl/worksheets/sheet2.xml").as_deref(),
            Some("xl/worksheets/sheet2.xml")
        );
        assert_eq!(
            resolve_target("./worksheets/../worksheets/s.xml").as_deref(),
            Some("xl/worksheets/s.xml")
        );
        assert_eq!(resolve_target("../../etc/passwd"), None);
        assert_eq!(resolve_target("/"), None);
    }
}
