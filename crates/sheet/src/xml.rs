//! The pull parser over one part, with nesting and token size bounded.

use std::borrow::Cow;
use std::io::Read;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::SheetError;
use crate::source::{Breach, Source};

/// Longest element name accepted (real ones are a few bytes).
const MAX_NAME_BYTES: usize = 256;

/// One XML part being read: a quick-xml reader over a [`Source`], one reused buffer, and the
/// current element depth (refused beyond the limit; nothing here recurses).
pub(crate) struct Xml<R> {
    reader: Reader<Source<R>>,
    buf: Vec<u8>,
    depth: u32,
    max_depth: u32,
    /// What the part is, for error messages: 工作簿, 工作表…
    part: &'static str,
}

impl<R: Read> Xml<R> {
    pub(crate) fn new(source: Source<R>, max_depth: u32, part: &'static str) -> Self {
        let mut reader = Reader::from_reader(source);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text_start = false;
        config.trim_text_end = false;
        Self {
            reader,
            buf: Vec::with_capacity(1024),
            depth: 0,
            max_depth,
            part,
        }
    }

    /// Turns quick-xml's check that every end tag names the element it closes on or off
    /// (on by default). A caller that checks the names it cares about itself turns it off.
    pub(crate) fn check_end_names(&mut self, check: bool) {
        self.reader.config_mut().check_end_names = check;
    }

    /// Bytes of the part decompressed so far.
    pub(crate) fn produced(&self) -> u64 {
        self.reader.get_ref().produced()
    }

    /// The next event. `Eof` comes only after every element was closed. (The error is boxed
    /// to keep the result small: this runs once per tag and text.)
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Result<Event<'_>, Box<SheetError>> {
        self.buf.clear();
        self.reader.get_mut().start_token();
        match self.reader.read_event_into(&mut self.buf) {
            Ok(event) => {
                match &event {
                    Event::Start(e) => {
                        self.depth = self.depth.saturating_add(1);
                        if self.depth > self.max_depth {
                            return Err(Box::new(SheetError::too_complex("XML 嵌套层级过深")));
                        }
                        // The parser keeps the names of open elements: keep them short.
                        if e.name().into_inner().len() > MAX_NAME_BYTES {
                            return Err(Box::new(SheetError::corrupt(format!(
                                "{}的 XML 格式错误",
                                self.part
                            ))));
                        }
                    }
                    Event::End(_) => self.depth = self.depth.saturating_sub(1),
                    Event::Eof if self.depth > 0 => {
                        return Err(Box::new(SheetError::corrupt(format!(
                            "{}内容不完整",
                            self.part
                        ))));
                    }
                    _ => {}
                }
                Ok(event)
            }
            Err(error) => Err(Box::new(failure(
                self.reader.get_ref().breach(),
                &error,
                self.part,
            ))),
        }
    }
}

#[cold]
fn failure(breach: Option<Breach>, error: &quick_xml::Error, part: &str) -> SheetError {
    match breach {
        Some(breach) => breach_error(breach),
        None => match error {
            quick_xml::Error::Io(_) => SheetError::corrupt("压缩数据损坏"),
            _ => SheetError::corrupt(format!("{part}的 XML 格式错误")),
        },
    }
}

fn breach_error(breach: Breach) -> SheetError {
    SheetError::too_complex(match breach {
        Breach::Entry => "压缩包内单个文件解压后过大",
        Breach::Total => "解压后总量过大",
        Breach::Token => "单个 XML 片段过大",
    })
}

/// The local name of an element, without any namespace prefix.
#[inline]
pub(crate) fn local_name<'e>(element: &'e BytesStart<'_>) -> &'e str {
    element.name().local_name().into_inner()
}

/// Looks up attributes by local name in one linear pass over the raw tag (no duplicate
/// checks, which cost more than the lookup on hostile input). `found[i]` receives the raw,
/// still escaped value of `names[i]`; a later duplicate wins.
#[inline]
pub(crate) fn attributes<'e, const N: usize>(
    element: &'e BytesStart<'_>,
    names: [&str; N],
) -> Result<[Option<Cow<'e, str>>; N], SheetError> {
    let mut found = [const { None }; N];
    each_attribute(element, |key, value| {
        let local = match key.bytes().position(|b| b == b':') {
            Some(colon) => key.get(colon + 1..).unwrap_or_default(),
            None => key,
        };
        if let Some(slot) = names
            .iter()
            .position(|n| same(n, local))
            .and_then(|i| found.get_mut(i))
        {
            *slot = Some(Cow::Borrowed(value));
        }
        Ok(())
    })?;
    Ok(found)
}

/// String equality without a call to `memcmp`, for the very short names compared here.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Every attribute of a tag as (qualified name, raw value), in order.
#[inline]
pub(crate) fn each_attribute<'e>(
    element: &'e BytesStart<'_>,
    mut f: impl FnMut(&'e str, &'e str) -> Result<(), SheetError>,
) -> Result<(), SheetError> {
    let raw = element.attributes_raw();
    let bytes = raw.as_bytes();
    let mut at = 0;
    loop {
        while bytes.get(at).is_some_and(|b| is_xml_space(*b)) {
            at += 1;
        }
        if at >= bytes.len() {
            return Ok(());
        }
        let (key, value, next) = split_attribute(raw, at).ok_or_else(malformed_attribute)?;
        f(key, value)?;
        at = next;
    }
}

#[cold]
fn malformed_attribute() -> SheetError {
    SheetError::corrupt("XML 属性格式错误")
}

const fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits `name = "value"` (either quote) starting at byte `at`; returns where it ends.
/// All positions found are ASCII bytes, so every slice falls on a character boundary.
#[inline]
fn split_attribute(raw: &str, at: usize) -> Option<(&str, &str, usize)> {
    let bytes = raw.as_bytes();
    let mut i = at;
    while bytes
        .get(i)
        .is_some_and(|b| *b != b'=' && !is_xml_space(*b))
    {
        i += 1;
    }
    let key = raw.get(at..i).filter(|k| !k.is_empty())?;
    while bytes.get(i).is_some_and(|b| is_xml_space(*b)) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'=') {
        return None;
    }
    i += 1;
    while bytes.get(i).is_some_and(|b| is_xml_space(*b)) {
        i += 1;
    }
    let quote = *bytes.get(i).filter(|q| **q == b'"' || **q == b'\'')?;
    let start = i + 1;
    let len = bytes.get(start..)?.iter().position(|b| *b == quote)?;
    let value = raw.get(start..start + len)?;
    Some((key, value, start + len + 1))
}

/// Resolves `&amp;`, `&#x41;` and the other predefined references to a character.
pub(crate) fn resolve_ref(reference: &BytesRef<'_>) -> Result<char, SheetError> {
    let unknown = || SheetError::corrupt("XML 中有无法识别的字符引用");
    if let Some(c) = reference.resolve_char_ref().map_err(|_| unknown())? {
        return Ok(c);
    }
    match &**reference {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(unknown()),
    }
}

/// Replaces an attribute value's references (`&amp;` and the like); raw otherwise.
pub(crate) fn unescape(raw: &str) -> Result<String, SheetError> {
    if !raw.contains('&') {
        return Ok(raw.to_owned());
    }
    quick_xml::escape::unescape(raw)
        .map(Cow::into_owned)
        .map_err(|_| SheetError::corrupt("XML 中有无法识别的字符引用"))
}

/// Decodes Excel's `_xHHHH_` escapes (a UTF-16 code unit in hex; `_x005F_` is a literal
/// underscore) in place, from byte `start` of `text` on. Unpaired surrogates stay as written.
pub(crate) fn decode_excel_escapes(text: &mut String, start: usize) {
    let Some(tail) = text.get(start..) else {
        return;
    };
    if !tail.contains("_x") {
        return;
    }
    let mut out = String::with_capacity(tail.len());
    let mut rest = tail;
    while let Some(at) = rest.find("_x") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match escape_unit(from) {
            Some(high @ 0xD800..=0xDBFF) => {
                let low = from.get(7..).and_then(escape_unit);
                match low.map(|low| char::decode_utf16([high, low]).next()) {
                    Some(Some(Ok(c))) => {
                        out.push(c);
                        rest = from.get(14..).unwrap_or_default();
                    }
                    _ => {
                        out.push_str(from.get(..7).unwrap_or_default());
                        rest = from.get(7..).unwrap_or_default();
                    }
                }
            }
            Some(unit) => {
                match char::from_u32(u32::from(unit)) {
                    Some(c) => out.push(c),
                    None => out.push_str(from.get(..7).unwrap_or_default()),
                }
                rest = from.get(7..).unwrap_or_default();
            }
            None => {
                out.push_str("_x");
                rest = from.get(2..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    text.truncate(start);
    text.push_str(&out);
}

/// The code unit of a `_xHHHH_` escape at the start of `text`.
fn escape_unit(text: &str) -> Option<u16> {
    let b = text.as_bytes();
    if b.len() < 7 || !b.starts_with(b"_x") || b.get(6) != Some(&b'_') {
        return None;
    }
    let hex = text.get(2..6)?;
    if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_attributes() {
        let tag = BytesStart::from_content(r#"c r="A1"  s = '2' x:t="s" t="n" empty="""#, 1);
        let [r, s, t, missing, empty] =
            attributes(&tag, ["r", "s", "t", "q", "empty"]).expect("well formed");
        assert_eq!(r.as_deref(), Some("A1"));
        assert_eq!(s.as_deref(), Some("2"));
        assert_eq!(t.as_deref(), Some("n"));
        assert_eq!(missing, None);
        assert_eq!(empty.as_deref(), Some(""));
        for bad in [r#"c r"#, r#"c r="#, r#"c r="A1"#, r#"c ="A1""#, r#"c r=A1"#] {
            let tag = BytesStart::from_content(bad, 1);
            assert!(attributes(&tag, ["r"]).is_err(), "{bad}");
        }
        let tag = BytesStart::from_content("row", 3);
        assert_eq!(attributes(&tag, ["r"]).ok(), Some([None]));
    }

    fn decoded(s: &str) -> String {
        let mut text = format!("keep{s}");
        decode_excel_escapes(&mut text, 4);
        text.split_off(4)
    }

    #[test]
    fn excel_escapes() {
        assert_eq!(decoded("plain"), "plain");
        assert_eq!(decoded("a_x000D_b"), "a\rb");
        assert_eq!(decoded("_x005F_x0041_"), "_x0041_");
        assert_eq!(decoded("_x0041__x0042_"), "AB");
        assert_eq!(decoded("_xD83D__xDE00_"), "😀");
        assert_eq!(decoded("_xD83D_"), "_xD83D_");
        assert_eq!(decoded("_xDE00_"), "_xDE00_");
        assert_eq!(decoded("_x12_"), "_x12_");
        assert_eq!(decoded("_xZZZZ_"), "_xZZZZ_");
        assert_eq!(decoded("_x"), "_x");
        assert_eq!(decoded("中_x4E2D_文"), "中中文");
        assert_eq!(decoded("_x_x0041_"), "_xA");
    }
}
