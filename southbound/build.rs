//! Compiles the P4Runtime protos with protox (pure Rust, no `protoc`) and generates prost
//! messages plus tonic client and server stubs. The encoded descriptor set is also written
//! to `OUT_DIR/p4runtime_descriptor.bin` so P4Info text format can be parsed by reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "p4/v1/p4runtime.proto",
    "p4/v1/p4data.proto",
    "p4/config/v1/p4info.proto",
    "p4/config/v1/p4types.proto",
    "google/rpc/status.proto",
    "google/rpc/code.proto",
    // In the descriptor set so that reflection resolves the protos' options from it: without,
    // prost-reflect builds a global pool of the well-known types (430 KB) it keeps forever.
    "google/protobuf/descriptor.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true);
    compiler.open_files(PROTOS)?;
    let fds = compiler.file_descriptor_set();
    std::fs::write(
        out_dir.join("p4runtime_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        // Small first buffers: a device's StreamChannel holds two for its life.
        .codec_path("crate::p4runtime::codec::SmallBufferCodec")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
