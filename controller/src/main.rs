//! `prescient`: the predictive SDN controller's command line.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use prescient::cmd;

/// Prescient, a predictive SDN controller for OpenFlow 1.3 and P4Runtime networks.
#[derive(Debug, Parser)]
#[command(name = "prescient", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller and an emulated network on loopback (the embedded default).
    Demo(cmd::demo::Args),
    /// Run the controller for a lab: OpenFlow listener, P4Runtime targets.
    Run(cmd::run::Args),
    /// Run emulated OpenFlow and/or P4Runtime switches standalone.
    Sim(cmd::sim::Args),
    /// Run the host agent: a tenant's address records onto an interface (rtnetlink).
    Agent(cmd::agent::Args),
    /// Measure throughput and latency of the controller's parts.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Replay a trace through predictive, reactive, static and oracle capacity policies.
    Evaluate(cmd::evaluate::Args),
    /// Forecasting tools.
    #[command(subcommand)]
    Forecast(ForecastCommand),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented configuration with every setting at its default.
    Example,
    /// Check a configuration file and say what is wrong with it.
    Check {
        /// The file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// cbench-style PACKET_IN → FLOW_MOD load against an OpenFlow controller.
    Openflow(cmd::bench_openflow::Args),
    /// Batched P4Runtime table-entry writes per second.
    P4runtime(cmd::bench_p4runtime::Args),
    /// Path queries and ledger updates on generated topologies.
    Paths(cmd::bench_paths::Args),
    /// Update and forecast cost of many series.
    Forecast(cmd::bench_forecast::Args),
    /// The backtest of `forecast backtest` on one core and on every core, with the speed-up.
    Backtest(cmd::bench_backtest::Args),
    /// Services planning round, re-programming after a topology change, pool leases.
    Services(cmd::bench_services::Args),
    /// Cluster mode: takeover after killing the leader, acknowledged and lost writes, writes/s.
    Cluster(cmd::bench_cluster::Args),
    /// A `prescient run` process under churn: memory, descriptors and threads must hold.
    Soak(cmd::bench_soak::Args),
    /// One controller process holding thousands of emulated switches: connect and discovery
    /// time, memory per switch, CPU, REST latency, forecast round and tick lateness.
    Scale(cmd::bench_scale::Args),
}

#[derive(Debug, Subcommand)]
enum ForecastCommand {
    /// Backtest forecasting models on a traffic trace.
    Backtest(cmd::forecast::BacktestArgs),
}

/// Lets every flag that takes a value take one that starts with `-` and a digit, in every
/// subcommand: clap otherwise read `--seconds -1` as "unexpected argument '-1' found", naming
/// no flag; the flag's own parser now refuses it by name ("invalid value '-1' for
/// '--seconds <SECONDS>'"), or its command says why.
fn negative_values_reach_their_flag(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        if a.get_action().takes_values() {
            a.allow_negative_numbers(true)
        } else {
            a
        }
    })
    .mut_subcommands(negative_values_reach_their_flag)
}

fn main() -> anyhow::Result<()> {
    let matches = negative_values_reach_their_flag(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Every switch session (and, in `prescient sim`, every emulated switch) holds a socket: the
    // usual soft limit of 1,024 descriptors would refuse switches long before the hard limit.
    let fds = prescient::limits::raise_open_files();
    // The demo talks to people through its own summary lines, and `bench openflow` through its
    // table (with `--forecast-series` it runs the whole controller): session chatter would
    // drown them.
    init_tracing(
        if matches!(
            cli.command,
            Command::Demo(_) | Command::Bench(BenchCommand::Openflow(_))
        ) {
            "warn"
        } else {
            "info"
        },
    );
    match fds {
        Ok(n) => tracing::debug!(open_files = n, "descriptor limit"),
        Err(e) => tracing::warn!("{e}"),
    }
    match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Sim(args) => cmd::sim::run(args),
        Command::Agent(args) => cmd::agent::run(args),
        Command::Bench(BenchCommand::Openflow(args)) => cmd::bench_openflow::run(args),
        Command::Bench(BenchCommand::P4runtime(args)) => cmd::bench_p4runtime::run(args),
        Command::Bench(BenchCommand::Paths(args)) => cmd::bench_paths::run(args),
        Command::Bench(BenchCommand::Forecast(args)) => cmd::bench_forecast::run(args),
        Command::Bench(BenchCommand::Backtest(args)) => cmd::bench_backtest::run(args),
        Command::Bench(BenchCommand::Services(args)) => cmd::bench_services::run(args),
        Command::Bench(BenchCommand::Cluster(args)) => cmd::bench_cluster::run(args),
        Command::Bench(BenchCommand::Soak(args)) => cmd::bench_soak::run(args),
        Command::Bench(BenchCommand::Scale(args)) => cmd::bench_scale::run(args),
        Command::Forecast(ForecastCommand::Backtest(args)) => cmd::forecast::backtest(args),
        Command::Evaluate(args) => cmd::evaluate::run(args),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", prescient::config::EXAMPLE);
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file }) => {
            let config = prescient::config::Config::load(&file)?;
            config.service(&file.display().to_string())?;
            println!("{}: ok", file.display());
            Ok(())
        }
    }
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("PRESCIENT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
