//! Read and write buffers lent to sessions for one turn at a time.
//!
//! A session writes in bursts (its answers to one read batch, a command batch, a keepalive)
//! and is idle in between; a buffer of its own for its whole life was 4 KiB or more for each of
//! 10,000 switches. Instead a session takes a buffer from its thread's free list when it first
//! writes in a turn and gives it back once the turn's bytes are on the socket, so a thread
//! keeps as many buffers as it has sessions writing at once (a few), warm for the next turn.
//!
//! Reads work the same way with one buffer a thread: a session reads into its thread's buffer
//! only in the poll that finds bytes, and keeps of them just a frame the read split (see
//! [`reassemble`]). A read buffer of its own, even one that grew only for bursts, was 2.7 KB per
//! switch at 3,000 switches.

use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};

use crate::openflow::wire::{peek_frame_len, HEADER_LEN, MAX_FRAME_LEN};

/// Buffers a thread keeps for reuse; more are freed.
const KEEP: usize = 16;
/// A buffer larger than this (a connect-time replay of many flows) is freed, not kept.
const KEEP_CAPACITY: usize = 256 * 1024;
/// What a new buffer starts with (it grows with what one turn writes).
const FIRST_CAPACITY: usize = 4 * 1024;

/// The most a session reads at once: a switch punting at line rate fills this between two turns.
pub(crate) const READ_CHUNK: usize = 256 * 1024;

thread_local! {
    static FREE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    /// This thread's read buffer, [`READ_CHUNK`] long once first used; empty while lent.
    static READ: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Bytes one read found, in the thread's read buffer; dropping it gives the buffer back.
#[derive(Debug)]
pub(crate) struct LentRead {
    buf: Vec<u8>,
    len: usize,
}

impl LentRead {
    /// What the read found (empty at the end of the stream).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl Drop for LentRead {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.buf));
    }
}

fn give_back(buf: Vec<u8>) {
    READ.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_empty() {
            *slot = buf;
        }
    });
}

/// Reads what `stream` has into this thread's read buffer. The buffer is the session's only
/// for a read that found bytes: a pending read gives it back at once (`poll_read` keeps nothing
/// of a buffer it returns `Pending` for), so it serves every quiet session of the thread.
pub(crate) async fn read_lent<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<LentRead> {
    std::future::poll_fn(|cx| poll_read_lent(stream, cx)).await
}

fn poll_read_lent<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<LentRead>> {
    let mut buf = READ.with(|slot| std::mem::take(&mut *slot.borrow_mut()));
    // Zeroed once a thread (or again only if another read held it, which a session never does
    // across an await), so reading into it needs no unsafe code.
    buf.resize(READ_CHUNK, 0);
    let mut read = ReadBuf::new(&mut buf);
    match Pin::new(stream).poll_read(cx, &mut read) {
        Poll::Ready(Ok(())) => {
            let len = read.filled().len();
            Poll::Ready(Ok(LentRead { buf, len }))
        }
        Poll::Ready(Err(e)) => {
            give_back(buf);
            Poll::Ready(Err(e))
        }
        Poll::Pending => {
            give_back(buf);
            Poll::Pending
        }
    }
}

/// Feeds `bytes` (one read) to `process` in whole frames, with `rbuf` holding the frame a read
/// splits until the next read completes it. `process` takes bytes starting at a frame and
/// returns how many it used (the whole frames among them). Only the split frame is copied:
/// its missing head is taken from this read, the rest is processed where it was read. `rbuf`
/// holds no allocation once it holds no bytes.
pub(crate) fn reassemble(
    rbuf: &mut BytesMut,
    mut bytes: &[u8],
    mut process: impl FnMut(&[u8]) -> usize,
) {
    if !rbuf.is_empty() {
        loop {
            let want = match peek_frame_len(rbuf, MAX_FRAME_LEN) {
                Ok(Some(len)) => len,
                Ok(None) => HEADER_LEN,
                // `process` sees the bad header and closes the session.
                Err(_) => break,
            };
            if want <= rbuf.len() || bytes.is_empty() {
                break;
            }
            let (head, rest) = bytes.split_at((want - rbuf.len()).min(bytes.len()));
            rbuf.extend_from_slice(head);
            bytes = rest;
        }
        let used = process(rbuf);
        rbuf.advance(used.min(rbuf.len()));
        if !rbuf.is_empty() {
            // Still split (this read ended first) or the session is closing.
            rbuf.extend_from_slice(bytes);
            return;
        }
    }
    let used = process(bytes).min(bytes.len());
    match bytes.get(used..) {
        Some(rest) if !rest.is_empty() => rbuf.extend_from_slice(rest),
        _ => *rbuf = BytesMut::new(),
    }
}

/// A session's write buffer: borrowed from the thread's free list while the session has
/// bytes to write, empty (no allocation) otherwise.
#[derive(Debug, Default)]
pub(crate) struct WriteBuf {
    buf: BytesMut,
}

impl WriteBuf {
    /// The buffer to append to, taken from the free list when the session holds none.
    pub(crate) fn get(&mut self) -> &mut BytesMut {
        if self.buf.capacity() == 0 {
            self.buf = FREE
                .with(|free| free.borrow_mut().pop())
                .unwrap_or_else(|| BytesMut::with_capacity(FIRST_CAPACITY));
        }
        &mut self.buf
    }

    /// The bytes waiting to be written.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Drops what was written and gives the buffer back to this thread's free list.
    pub(crate) fn release(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        if buf.capacity() == 0 || buf.capacity() > KEEP_CAPACITY {
            return;
        }
        buf.clear();
        FREE.with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < KEEP {
                free.push(buf);
            }
        });
    }

    /// Bytes this session holds for writing (0 while it holds no buffer).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_session_holds_no_buffer_and_a_busy_one_reuses_the_last() {
        let mut a = WriteBuf::default();
        assert_eq!(a.capacity(), 0);
        a.get().extend_from_slice(b"hello");
        assert_eq!(a.bytes(), b"hello");
        let held = a.get().as_ptr();
        a.release();
        assert_eq!(a.capacity(), 0, "released after its turn");
        let mut b = WriteBuf::default();
        b.get().extend_from_slice(b"x");
        assert_eq!(
            b.get().as_ptr(),
            held,
            "the next writer on this thread reuses it"
        );
        assert_eq!(b.bytes(), b"x", "nothing of the previous turn is left");
        b.release();
    }

    /// OpenFlow 1.3 frames of `lens` bytes each (type ECHO_REQUEST, the body a count).
    fn frames(lens: &[u16]) -> Vec<Vec<u8>> {
        lens.iter()
            .enumerate()
            .map(|(i, &len)| {
                let mut f = vec![4, 2];
                f.extend_from_slice(&len.to_be_bytes());
                f.extend_from_slice(&(i as u32).to_be_bytes());
                f.extend((8..len).map(|b| (b as usize + i) as u8));
                f
            })
            .collect()
    }

    /// What `process` is given in a session: the whole frames at the start of its bytes.
    fn whole_frames(bytes: &[u8], seen: &mut Vec<Vec<u8>>) -> usize {
        let mut at = 0;
        while let Ok(Some(len)) = peek_frame_len(&bytes[at..], MAX_FRAME_LEN) {
            if at + len > bytes.len() {
                break;
            }
            seen.push(bytes[at..at + len].to_vec());
            at += len;
        }
        at
    }

    #[test]
    fn frames_split_anywhere_between_reads_arrive_whole_and_in_order() {
        let sent = frames(&[8, 9, 64, 8, 1500, 13, 8, 300]);
        let stream: Vec<u8> = sent.concat();
        // Every read length from 1 byte (a header split too) to more than the whole stream.
        for step in 1..=stream.len() + 1 {
            let mut rbuf = BytesMut::new();
            let mut seen = Vec::new();
            for read in stream.chunks(step) {
                reassemble(&mut rbuf, read, |b| whole_frames(b, &mut seen));
            }
            assert_eq!(seen, sent, "reads of {step} B");
            assert_eq!(
                rbuf.capacity(),
                0,
                "reads of {step} B: nothing kept at the end"
            );
        }
    }

    #[test]
    fn a_read_of_whole_frames_keeps_no_buffer_and_a_split_one_keeps_only_its_tail() {
        let stream: Vec<u8> = frames(&[64, 64]).concat();
        let mut rbuf = BytesMut::new();
        let mut seen = Vec::new();
        reassemble(&mut rbuf, &stream[..100], |b| whole_frames(b, &mut seen));
        assert_eq!(
            (seen.len(), rbuf.len()),
            (1, 36),
            "the split frame's head is kept"
        );
        reassemble(&mut rbuf, &stream[100..], |b| whole_frames(b, &mut seen));
        assert_eq!(seen.len(), 2);
        assert_eq!(rbuf.capacity(), 0);
    }

    #[tokio::test]
    async fn reads_share_the_thread_buffer_and_find_what_was_sent() {
        use tokio::io::AsyncWriteExt;
        let (mut switch, mut controller) = tokio::io::duplex(1 << 20);
        let burst: Vec<u8> = (0..64 * 1024).map(|i| i as u8).collect();
        switch.write_all(&burst).await.unwrap();
        let mut got = Vec::new();
        let mut first = None;
        while got.len() < burst.len() {
            let read = read_lent(&mut controller).await.unwrap();
            first.get_or_insert(read.bytes().as_ptr());
            assert_eq!(read.bytes().as_ptr(), first.unwrap(), "one buffer a thread");
            got.extend_from_slice(read.bytes());
        }
        assert_eq!(got, burst);
        drop(switch);
        let end = read_lent(&mut controller).await.unwrap();
        assert!(
            end.bytes().is_empty(),
            "the end of the stream reads nothing"
        );
    }

    #[test]
    fn oversized_buffers_are_freed_not_kept() {
        let mut a = WriteBuf::default();
        a.get().reserve(KEEP_CAPACITY * 2);
        a.release();
        let mut b = WriteBuf::default();
        assert!(b.get().capacity() <= KEEP_CAPACITY);
        b.release();
    }
}
