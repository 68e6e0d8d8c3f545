//! Write buffers lent to sessions for one turn at a time.
//!
//! A session writes in bursts (its answers to one read batch, a command batch, a keepalive)
//! and is idle in between; a buffer of its own for its whole life was 4 KiB or more for each of
//! 10,000 switches. Instead a session takes a buffer from its thread's free list when it first
//! writes in a turn and gives it back once the turn's bytes are on the socket, so a thread
//! keeps as many buffers as it has sessions writing at once (a few), warm for the next turn.

use std::cell::RefCell;

use bytes::BytesMut;

/// Buffers a thread keeps for reuse; more are freed.
const KEEP: usize = 16;
/// A buffer larger than this (a connect-time replay of many flows) is freed, not kept.
const KEEP_CAPACITY: usize = 256 * 1024;
/// What a new buffer starts with (it grows with what one turn writes).
const FIRST_CAPACITY: usize = 4 * 1024;

thread_local! {
    static FREE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
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
