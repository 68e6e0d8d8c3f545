//! One module per subcommand: its arguments and its entry point.

pub mod agent;
pub mod bench_backtest;
pub mod bench_cluster;
pub mod bench_forecast;
pub mod bench_openflow;
pub mod bench_p4runtime;
pub mod bench_paths;
pub mod bench_scale;
pub mod bench_services;
pub mod bench_soak;
pub mod bench_support;
pub mod demo;
pub mod evaluate;
pub mod forecast;
pub mod run;
pub mod sim;
pub mod sim_openflow;
pub mod trace_input;
pub mod unix_bridge;
