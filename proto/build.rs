// Compiles the .proto with protox (pure Rust), so no system `protoc` is needed. Without the
// `grpc` feature there is nothing to generate.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "grpc")]
    {
        let fds = protox::compile(["proto/raft.proto"], ["proto"])?;
        tonic_prost_build::configure()
            .build_server(true)
            .build_client(true)
            .compile_fds(fds)?;
        println!("cargo:rerun-if-changed=proto/raft.proto");
    }
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}
