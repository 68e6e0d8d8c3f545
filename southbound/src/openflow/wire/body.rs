//! `body_api!`: the public `parse` / `buffer_len` / `emit` trio of a message body type, built on
//! its crate-private `read` / `body_len` / `write`.

/// Gives a body type the smoltcp-style `Repr` API over the bytes after the 8-byte header.
macro_rules! body_api {
    ($ty:ident, $name:literal) => {
        impl $ty {
            /// Parses the message body (the bytes after the 8-byte header); all bytes must be used.
            pub fn parse(body: &[u8]) -> $crate::openflow::wire::wire_error::Result<Self> {
                let mut r = $crate::openflow::wire::cursor::Reader::new(body, $name);
                let v = Self::read(&mut r)?;
                r.finish($name)?;
                Ok(v)
            }

            /// Encoded body size in bytes (header excluded).
            pub fn buffer_len(&self) -> usize {
                self.body_len()
            }

            /// Encodes the body into `buf`, which must be `buffer_len()` bytes (never panics).
            pub fn emit(&self, buf: &mut [u8]) {
                self.write(&mut $crate::openflow::wire::cursor::Writer::new(buf));
            }
        }
    };
}

pub(crate) use body_api;
