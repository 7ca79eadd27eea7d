//! The byte stream under the XML parser: buffered, and counting what is really produced.

use std::io::{self, BufRead, Read};

const BUFFER: usize = 64 * 1024;

/// Which byte limit a read crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Breach {
    /// This part decompressed to more than `max_entry_bytes`.
    Entry,
    /// All parts read so far decompressed to more than `max_total_bytes`.
    Total,
    /// One XML token grew past `max_token_bytes`.
    Token,
}

/// A [`BufRead`] over a decompressing reader that refuses, the moment it happens, to produce
/// more bytes than the part and the workbook may have, and to hand the parser one token
/// longer than allowed (the parser copies a whole token into its buffer before returning
/// it). Tokens are measured when the buffer is refilled, so one may overshoot its limit by
/// at most one buffer (64 KiB) before it is refused.
pub(crate) struct Source<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    produced: u64,
    entry_limit: u64,
    total_left: u64,
    /// Bytes consumed before the current token began.
    token_start: u64,
    token_limit: u64,
    breach: Option<Breach>,
}

impl<R: Read> Source<R> {
    pub(crate) fn new(inner: R, entry_limit: u64, total_left: u64, token_limit: usize) -> Self {
        Self {
            inner,
            buf: vec![0; BUFFER].into_boxed_slice(),
            pos: 0,
            filled: 0,
            produced: 0,
            entry_limit,
            total_left,
            token_start: 0,
            token_limit: u64::try_from(token_limit).unwrap_or(u64::MAX),
            breach: None,
        }
    }

    /// Bytes decompressed so far.
    pub(crate) const fn produced(&self) -> u64 {
        self.produced
    }

    /// The limit that stopped reading, if one did.
    pub(crate) const fn breach(&self) -> Option<Breach> {
        self.breach
    }

    /// Bytes handed to the parser so far.
    const fn consumed(&self) -> u64 {
        self.produced
            .saturating_sub(self.filled.saturating_sub(self.pos) as u64)
    }

    /// Starts measuring a new token.
    #[inline]
    pub(crate) const fn start_token(&mut self) {
        self.token_start = self.consumed();
    }

    fn refuse(&mut self, breach: Breach) -> io::Error {
        self.breach = Some(breach);
        self.pos = 0;
        self.filled = 0;
        io::Error::other("limit")
    }

    /// The slow path of `fill_buf`: the limits, then the next block from the inner reader.
    #[cold]
    fn refill(&mut self) -> io::Result<&[u8]> {
        if self.breach.is_some() {
            return Err(io::Error::other("limit"));
        }
        if self.consumed().saturating_sub(self.token_start) > self.token_limit {
            return Err(self.refuse(Breach::Token));
        }
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.pos = 0;
        self.filled = n.min(self.buf.len());
        self.produced = self.produced.saturating_add(self.filled as u64);
        if self.produced > self.entry_limit {
            return Err(self.refuse(Breach::Entry));
        }
        if self.produced > self.total_left {
            return Err(self.refuse(Breach::Total));
        }
        Ok(self.buf.get(..self.filled).unwrap_or_default())
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Source<R> {
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.filled {
            return Ok(self.buf.get(self.pos..self.filled).unwrap_or_default());
        }
        self.refill()
    }

    #[inline]
    fn consume(&mut self, amount: usize) {
        self.pos = self.pos.saturating_add(amount).min(self.filled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_refuses() {
        let data = vec![b'x'; 200_000];
        let mut source = Source::new(data.as_slice(), 150_000, u64::MAX, usize::MAX);
        let mut sink = Vec::new();
        let err = source
            .read_to_end(&mut sink)
            .expect_err("over the entry limit");
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(source.breach(), Some(Breach::Entry));
        assert!(sink.len() <= 150_000);

        let mut source = Source::new(data.as_slice(), u64::MAX, 100_000, usize::MAX);
        assert!(source.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(source.breach(), Some(Breach::Total));

        let mut source = Source::new(data.as_slice(), u64::MAX, u64::MAX, usize::MAX);
        let mut sink = Vec::new();
        assert_eq!(source.read_to_end(&mut sink).ok(), Some(200_000));
        assert_eq!(source.produced(), 200_000);
    }

    #[test]
    fn tokens() {
        let data = vec![b'x'; 300_000];
        let mut source = Source::new(data.as_slice(), u64::MAX, u64::MAX, 100_000);
        for _ in 0..3 {
            let n = source.fill_buf().map(<[u8]>::len).unwrap_or(0);
            source.consume(n);
        }
        assert!(source.fill_buf().is_err());
        assert_eq!(source.breach(), Some(Breach::Token));

        let mut source = Source::new(data.as_slice(), u64::MAX, u64::MAX, 100_000);
        for _ in 0..4 {
            source.start_token();
            let n = source.fill_buf().map(<[u8]>::len).unwrap_or(0);
            source.consume(n);
        }
        assert_eq!(source.breach(), None);
    }
}
