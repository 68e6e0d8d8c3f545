//! Bounds-checked big-endian reader and writer shared by every wire module.
//!
//! Invariants: no method of [`Reader`] or [`Writer`] panics. The reader turns every short read
//! into [`WireError::Truncated`] naming the message and field; the writer drops bytes that do not
//! fit, which can only happen when a caller ignores `buffer_len()` (all `emit` functions size the
//! buffer first), so a short buffer yields a short encoding, never a panic.

use bytes::Bytes;

use super::wire_error::{Result, WireError};

/// Sequential reader over one message, carrying the message name for error context.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Message name used in every error.
    pub(crate) msg: &'static str,
    /// Frame the buffer was cut from; when present, payloads become zero-copy `Bytes` slices.
    owner: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` that copies payloads.
    pub(crate) fn new(buf: &'a [u8], msg: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            msg,
            owner: None,
        }
    }

    /// A reader over `owner[start..]` whose payloads share `owner`'s memory.
    pub(crate) fn with_owner(owner: &'a Bytes, msg: &'static str) -> Self {
        Reader {
            buf: owner.as_ref(),
            pos: 0,
            msg,
            owner: Some(owner),
        }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when everything was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes, advancing past them.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        let have = self.remaining();
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.buf.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(WireError::Truncated {
                msg: self.msg,
                field,
                need: n,
                have,
            }),
        }
    }

    /// A reader over the next `n` bytes (same message, same owner), advancing past them.
    pub(crate) fn sub(&mut self, n: usize, field: &'static str) -> Result<Reader<'a>> {
        let s = self.take(n, field)?;
        Ok(Reader {
            buf: s,
            pos: 0,
            msg: self.msg,
            owner: self.owner,
        })
    }

    /// Skips `n` padding bytes.
    pub(crate) fn skip(&mut self, n: usize, field: &'static str) -> Result<()> {
        self.take(n, field).map(|_| ())
    }

    /// Everything not yet read.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }

    /// Everything not yet read, as `Bytes` (zero-copy when the reader has an owner).
    pub(crate) fn rest_bytes(&mut self) -> Bytes {
        let s = self.rest();
        self.to_bytes(s)
    }

    fn to_bytes(&self, s: &'a [u8]) -> Bytes {
        match self.owner {
            // `s` always borrows from `owner`'s memory, so `slice_ref` cannot fail.
            Some(owner) if !s.is_empty() => owner.slice_ref(s),
            _ => Bytes::copy_from_slice(s),
        }
    }

    /// A fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let s = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// One byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }

    /// A big-endian u16.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// A big-endian u32.
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// A big-endian u64.
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A NUL-terminated string in a fixed `N`-byte field. At most `N - 1` bytes are kept, and
    /// bytes that are not valid UTF-8 become `?`, so the value re-emits to the same text.
    pub(crate) fn cstr<const N: usize>(&mut self, field: &'static str) -> Result<String> {
        let raw: [u8; N] = self.array(field)?;
        let end = raw
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(N)
            .min(N.saturating_sub(1));
        let text = raw.get(..end).unwrap_or(&[]);
        Ok(match core::str::from_utf8(text) {
            Ok(s) => s.to_owned(),
            Err(_) => text
                .iter()
                .map(|&c| if c.is_ascii() { char::from(c) } else { '?' })
                .collect(),
        })
    }

    /// Fails with `TrailingBytes` unless everything was read.
    pub(crate) fn finish(&self, field: &'static str) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(WireError::TrailingBytes {
                msg: self.msg,
                field,
                extra,
            }),
        }
    }

    /// Reads the 4-byte `type`/`length` header of a TLV element and returns the element's type and
    /// a reader over its body (the bytes after the 4-byte header, up to `length`).
    ///
    /// `name` maps the type to its spec name for error messages.
    pub(crate) fn tlv(
        &mut self,
        what: &'static str,
        index: usize,
        name: fn(u16) -> &'static str,
    ) -> Result<(u16, Reader<'a>)> {
        let remaining = self.remaining();
        let ty = self.u16(what)?;
        let len = usize::from(self.u16(what)?);
        if len < 4 {
            return Err(WireError::BadElementLength {
                msg: self.msg,
                what,
                index,
                kind: name(ty),
                len,
                why: "shorter than its 4-byte header",
            });
        }
        if len > remaining {
            return Err(WireError::ElementOverrun {
                msg: self.msg,
                what,
                index,
                kind: name(ty),
                len,
                remaining,
            });
        }
        let body = self.sub(len - 4, what)?;
        Ok((ty, body))
    }
}

impl<'a> Reader<'a> {
    /// Cuts the next length-prefixed entry (the 16-bit length sits `len_at` bytes into the
    /// entry and counts the whole entry) and returns a reader over all of it.
    pub(crate) fn entry(
        &mut self,
        what: &'static str,
        index: usize,
        len_at: usize,
        min_len: usize,
    ) -> Result<Reader<'a>> {
        let remaining = self.remaining();
        let mut peek = self.clone();
        peek.skip(len_at, what)?;
        let len = usize::from(peek.u16(what)?);
        if len < min_len {
            return Err(WireError::BadElementLength {
                msg: self.msg,
                what,
                index,
                kind: what,
                len,
                why: "shorter than the entry's fixed part",
            });
        }
        if len > remaining {
            return Err(WireError::ElementOverrun {
                msg: self.msg,
                what,
                index,
                kind: what,
                len,
                remaining,
            });
        }
        self.sub(len, what)
    }
}

/// Sequential writer into a caller-sized buffer.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    /// Writes `s`; bytes beyond the buffer are dropped (see the module invariant).
    pub(crate) fn put(&mut self, s: &[u8]) {
        let start = self.pos.min(self.buf.len());
        let end = self.pos.saturating_add(s.len()).min(self.buf.len());
        if let (Some(dst), Some(src)) = (self.buf.get_mut(start..end), s.get(..end - start)) {
            dst.copy_from_slice(src);
        }
        self.pos = self.pos.saturating_add(s.len());
    }

    /// Writes `n` zero bytes of padding.
    pub(crate) fn zeros(&mut self, n: usize) {
        const Z: [u8; 8] = [0; 8];
        let mut left = n;
        while left > 0 {
            let k = left.min(8);
            self.put(&Z[..k]);
            left -= k;
        }
    }

    /// One byte.
    pub(crate) fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    /// A big-endian u16.
    pub(crate) fn u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }

    /// A big-endian u32.
    pub(crate) fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }

    /// A big-endian u64.
    pub(crate) fn u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }

    /// `s` in a fixed `n`-byte NUL-padded field, cut at a character boundary to leave a NUL.
    pub(crate) fn cstr(&mut self, s: &str, n: usize) {
        let mut k = s.len().min(n.saturating_sub(1));
        while !s.is_char_boundary(k) {
            k -= 1;
        }
        self.put(s.as_bytes().get(..k).unwrap_or(&[]));
        self.zeros(n - k);
    }

    /// A length field; lengths beyond u16 are rejected before emit by `Message::emit`, so the
    /// saturation here only affects callers that emit an oversized element on its own.
    pub(crate) fn len16(&mut self, v: usize) {
        self.u16(u16::try_from(v).unwrap_or(u16::MAX));
    }
}

/// `n` rounded up to a multiple of 8 (OpenFlow's alignment for matches, actions, elements).
pub(crate) const fn pad8(n: usize) -> usize {
    (n + 7) & !7
}
