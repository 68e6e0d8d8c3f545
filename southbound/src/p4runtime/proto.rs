//! Generated P4Runtime v1 types (prost) and gRPC stubs (tonic client and server), compiled
//! from `southbound/proto/` by `build.rs`. Module paths mirror the proto packages.

/// Packages `p4.v1` and `p4.config.v1`.
pub mod p4 {
    /// P4Runtime service, entities and stream messages (`p4.v1`).
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/p4.v1.rs"));
    }
    /// P4Info and its type descriptions (`p4.config.v1`).
    pub mod config {
        /// P4Info messages (`p4.config.v1`).
        #[allow(clippy::all, clippy::pedantic, missing_docs)]
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/p4.config.v1.rs"));
        }
    }
}

/// Package `google.rpc`.
pub mod google {
    /// `google.rpc.Status` and `google.rpc.Code`.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

/// Encoded `FileDescriptorSet` of every proto above (plus well-known imports), for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/p4runtime_descriptor.bin"));

/// gRPC status codes as used in per-update errors (re-exported so callers need no tonic dep).
pub use tonic::Code as TonicCode;
