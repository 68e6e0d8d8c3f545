//! `prescient forecast …` (being built: see the open issues).

/// Arguments of `prescient forecast backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {}

/// Entry point of `prescient forecast backtest`.
pub fn backtest(_args: BacktestArgs) -> anyhow::Result<()> {
    anyhow::bail!("this subcommand is being built")
}
