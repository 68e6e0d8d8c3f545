//! `prescient bench_openflow` (being built: see the open issues).

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Entry point.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("this subcommand is being built")
}
