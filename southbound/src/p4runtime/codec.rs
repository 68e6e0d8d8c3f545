//! The protobuf codec of the generated P4Runtime stubs: prost's, with smaller first buffers.
//!
//! tonic gives every call an encode and a decode buffer of the codec's size up front (8 KiB
//! each with prost's defaults) and keeps them for the call's life. A device's StreamChannel
//! lives as long as its connection and carries arbitration updates, packet-ins and digests of a
//! few hundred bytes, so two 8 KiB buffers were 16 KB of every device, held for nothing. Larger
//! messages (a Write batch, a pipeline, a Read answer) grow the buffer as they need.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::BufferSettings;
use tonic_prost::ProstCodec;

/// First size of a call's encode and decode buffers.
pub const BUFFER_SIZE: usize = 1024;
/// tonic's default: how much an encoder fills before it yields to the runtime.
const YIELD_THRESHOLD: usize = 32 * 1024;

/// prost's codec with [`BUFFER_SIZE`] buffers (the generated stubs' `codec_path`).
#[derive(Debug, Clone)]
pub struct SmallBufferCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallBufferCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
}

impl<T, U> tonic::codec::Codec for SmallBufferCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as tonic::codec::Codec>::Encoder;
    type Decoder = <ProstCodec<T, U> as tonic::codec::Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings())
    }
}
