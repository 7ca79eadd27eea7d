//! The shared-string table (`xl/sharedStrings.xml`): one text arena and the end of each
//! string in it.

use std::io::Read;

use quick_xml::events::Event;

use crate::xml::{Xml, attributes, decode_excel_escapes, local_name, resolve_ref};
use crate::{Limits, SheetError};

/// The most string offsets reserved up front, whatever `uniqueCount` says.
const RESERVE: usize = 65_536;

/// All shared strings, concatenated, and where each one ends.
#[derive(Debug, Default)]
pub(crate) struct SharedStrings {
    text: String,
    ends: Vec<u32>,
}

impl SharedStrings {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, index: u32) -> Option<&str> {
        let i = usize::try_from(index).ok()?;
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        self.text
            .get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Sst,
    Si,
    Run,
    Text,
    Other,
}

/// Reads the table. `<si>` holds a `<t>` or rich-text runs `<r><t>`, which are concatenated;
/// phonetic runs (`<rPh>`) are left out. The `count`/`uniqueCount` attributes only size a
/// small up-front reservation.
pub(crate) fn parse<R: Read>(
    xml: &mut Xml<R>,
    limits: &Limits,
) -> Result<SharedStrings, SheetError> {
    let max_bytes = limits.max_shared_string_bytes.min(u32::MAX as usize);
    let mut strings = SharedStrings::default();
    let mut stack: Vec<Tag> = Vec::with_capacity(8);
    let mut start = 0usize;
    let mut scratch = [0u8; 4];
    loop {
        let (tag, empty) = match xml.next()? {
            Event::Start(e) => (open(&e, stack.last().copied(), &mut strings)?, false),
            Event::Empty(e) => (open(&e, stack.last().copied(), &mut strings)?, true),
            Event::End(_) => {
                if stack.pop() == Some(Tag::Si) {
                    finish(&mut strings, start)?;
                }
                continue;
            }
            Event::Text(t) if stack.last() == Some(&Tag::Text) => {
                push(&mut strings.text, &t.xml10_content(), max_bytes)?;
                continue;
            }
            Event::CData(t) if stack.last() == Some(&Tag::Text) => {
                push(&mut strings.text, &t.xml10_content(), max_bytes)?;
                continue;
            }
            Event::GeneralRef(r) if stack.last() == Some(&Tag::Text) => {
                let c = resolve_ref(&r)?;
                push(&mut strings.text, c.encode_utf8(&mut scratch), max_bytes)?;
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if tag == Tag::Si {
            if strings.ends.len() >= limits.max_shared_strings {
                return Err(SheetError::too_complex("共享字符串过多"));
            }
            start = strings.text.len();
        }
        if empty {
            if tag == Tag::Si {
                finish(&mut strings, start)?;
            }
        } else {
            stack.push(tag);
        }
    }
    Ok(strings)
}

fn open(
    e: &quick_xml::events::BytesStart<'_>,
    parent: Option<Tag>,
    strings: &mut SharedStrings,
) -> Result<Tag, SheetError> {
    let name = local_name(e);
    Ok(match (parent, name) {
        (None, "sst") => {
            let [unique] = attributes(e, ["uniqueCount"])?;
            let declared = unique
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let reserve = usize::try_from(declared).unwrap_or(usize::MAX).min(RESERVE);
            strings.ends.reserve(reserve);
            Tag::Sst
        }
        (Some(Tag::Sst), "si") => Tag::Si,
        (Some(Tag::Si), "r") => Tag::Run,
        (Some(Tag::Si | Tag::Run), "t") => Tag::Text,
        _ => Tag::Other,
    })
}

fn push(text: &mut String, piece: &str, max_bytes: usize) -> Result<(), SheetError> {
    if text.len().saturating_add(piece.len()) > max_bytes {
        return Err(SheetError::too_complex("共享字符串总长度过大"));
    }
    text.push_str(piece);
    Ok(())
}

fn finish(strings: &mut SharedStrings, start: usize) -> Result<(), SheetError> {
    decode_excel_escapes(&mut strings.text, start);
    let end = u32::try_from(strings.text.len())
        .map_err(|_| SheetError::too_complex("共享字符串总长度过大"))?;
    strings.ends.push(end);
    Ok(())
}
