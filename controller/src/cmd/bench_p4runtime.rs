//! `prescient bench p4runtime`: throughput of batched P4Runtime table writes through the real
//! client over gRPC, into the emulated prescient.p4 switch started in-process (or `--target`, e.g.
//! a BMv2 `simple_switch_grpc`: the compiled pipeline, P4Info and BMv2 JSON, is pushed first
//! unless `--keep-pipeline`).
//!
//! Each round INSERTs `--batch` distinct `ipv4_lpm` routes, then DELETEs them, so the
//! 4,096-entry table never fills; both halves count as written entries. Encoding from intents
//! (name resolution and validation) is inside the measured loop, as in the controller.
//!
//! `--in-flight N` keeps N Write RPCs outstanding: N lanes, each with its own routes, write over
//! the one HTTP/2 connection with the primary's election id (P4Runtime checks the id, not the
//! stream a write comes from), so the client's encoding and the transport overlap the target's
//! work; a lane still deletes only after its insert was acknowledged.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use prescient_sim::p4rt::{serve_listener, P4SimNetwork};
use prescient_southbound::p4runtime::pipeconf::Intent;
use prescient_southbound::p4runtime::proto::p4::v1::p4_runtime_client::P4RuntimeClient as Grpc;
use prescient_southbound::p4runtime::proto::p4::v1::update::Type;
use prescient_southbound::p4runtime::proto::p4::v1::write_request::Atomicity;
use prescient_southbound::p4runtime::proto::p4::v1::{Uint128, Update, WriteRequest};
use prescient_southbound::p4runtime::{
    load_p4info_file, ClientConfig, P4InfoIndex, P4RuntimeClient,
};
use tokio_util::sync::CancellationToken;

/// Arguments of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Table entries per Write RPC.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// An external P4Runtime target running prescient.p4 instead of the in-process switch.
    #[arg(long)]
    pub target: Option<String>,
    /// Device id on the target.
    #[arg(long, default_value_t = 1)]
    pub device_id: u64,
    /// Write RPCs kept in flight at once (lanes of `--batch` routes each; at most 4,096 routes
    /// in all).
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// P4Info to push (text or binary); prescient.p4's embedded one when absent.
    #[arg(long)]
    pub p4info: Option<std::path::PathBuf>,
    /// Target pipeline to push (BMv2 JSON); prescient.p4's embedded one when absent.
    #[arg(long)]
    pub device_config: Option<std::path::PathBuf>,
    /// Push nothing: write into the pipeline the target already runs (its P4Info is fetched).
    #[arg(long)]
    pub keep_pipeline: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

struct Report {
    entries: u64,
    batches: u64,
    elapsed: Duration,
    latency: hdrhistogram::Histogram<u64>,
}

/// Entry point.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=4096).contains(&args.batch),
        "--batch must be between 1 and 4096 (the size of ipv4_lpm), got {}",
        args.batch
    );
    anyhow::ensure!(
        // Checked: a huge --in-flight overflowed the product (a panic in a debug build, a
        // wrapped product let through in a release one).
        args.in_flight >= 1
            && args
                .in_flight
                .checked_mul(args.batch)
                .is_some_and(|n| n <= 4096),
        "--in-flight × --batch must be between 1 and 4096 (the size of ipv4_lpm), got {} × {}",
        args.in_flight,
        args.batch
    );
    // 0 was run as 1 s while the report said 0.
    anyhow::ensure!(args.seconds > 0, "--seconds 0: must be at least 1");
    // The in-process switch's devices are 1..=N: 0 read "arbitration refused by device 0".
    anyhow::ensure!(
        args.device_id > 0 || args.target.is_some(),
        "--device-id 0: the in-process switch numbers its devices from 1 (0 is for --target)"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        let stop = CancellationToken::new();
        let target = match &args.target {
            Some(t) => t.clone(),
            None => {
                let network = Arc::new(P4SimNetwork::new(args.device_id)?);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                tokio::spawn(serve_listener(listener, network, stop.clone()));
                addr.to_string()
            }
        };
        let report = measure(&args, &target).await;
        stop.cancel();
        let report = report?;
        print(&args, &target, &report)
    })
}

async fn measure(args: &Args, target: &str) -> anyhow::Result<Report> {
    let election = u128::from(std::process::id()) + 1_000;
    let mut client = P4RuntimeClient::connect(ClientConfig::new(target, args.device_id, election))
        .await
        .with_context(|| format!("connecting to {target}"))?;
    client
        .wait_for_primary(Duration::from_secs(5))
        .await
        .context("becoming primary")?;
    let index = if args.keep_pipeline {
        client
            .fetch_p4info()
            .await
            .context("reading the target's P4Info")?
    } else {
        let p4info = match &args.p4info {
            Some(path) => {
                load_p4info_file(path).with_context(|| format!("loading {}", path.display()))?
            }
            None => crate::driver::p4runtime::prescient_p4info()?,
        };
        let device_config = match &args.device_config {
            Some(path) => {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
            }
            None => crate::driver::p4runtime::PRESCIENT_BMV2_JSON.to_vec(),
        };
        client
            .set_pipeline(p4info, device_config, None, true)
            .await
            .context("pushing the pipeline")?;
        client.index()?.clone()
    };
    // Warm-up round (connection windows, allocator), not measured.
    let warm = routes(args.batch, 0);
    client.write(encode(&index, &warm, Type::Insert)?).await?;
    client.write(encode(&index, &warm, Type::Delete)?).await?;

    let budget = Duration::from_secs(args.seconds);
    if args.in_flight > 1 {
        return pipelined(args, target, election, &index, budget).await;
    }
    let routes = routes(args.batch, 0);
    let mut latency = histogram()?;
    let started = Instant::now();
    let (mut entries, mut batches) = (0u64, 0u64);
    while started.elapsed() < budget {
        for op in [Type::Insert, Type::Delete] {
            let t0 = Instant::now();
            client
                .write(encode(&index, &routes, op)?)
                .await
                .with_context(|| format!("{} batch {batches}", op.as_str_name()))?;
            latency.record(t0.elapsed().as_micros().max(1) as u64)?;
            entries += args.batch as u64;
            batches += 1;
        }
    }
    Ok(Report {
        entries,
        batches,
        elapsed: started.elapsed(),
        latency,
    })
}

fn histogram() -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    Ok(hdrhistogram::Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?)
}

/// `count` distinct /24 routes, the `lane`-th set of that size.
fn routes(count: usize, lane: usize) -> Vec<Intent> {
    (0..count)
        .map(|i| Intent::ForwardToPort {
            dst: Ipv4Addr::from(0x0a00_0000 | (((lane * count + i) as u32) << 8)),
            prefix_len: 24,
            port: (i % 64) as u16 + 1,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
        })
        .collect()
}

fn encode(index: &P4InfoIndex, routes: &[Intent], op: Type) -> anyhow::Result<Vec<Update>> {
    Ok(routes
        .iter()
        .map(|r| r.update(index, op))
        .collect::<Result<Vec<_>, _>>()?)
}

/// `--in-flight` lanes writing concurrently (see the module docs).
async fn pipelined(
    args: &Args,
    target: &str,
    election: u128,
    index: &Arc<P4InfoIndex>,
    budget: Duration,
) -> anyhow::Result<Report> {
    let uri = if target.contains("://") {
        target.to_string()
    } else {
        format!("http://{target}")
    };
    let channel = tonic::transport::Endpoint::from_shared(uri)?
        .tcp_nodelay(true)
        .initial_stream_window_size(8 * 1024 * 1024)
        .initial_connection_window_size(16 * 1024 * 1024)
        .http2_max_header_list_size(16 * 1024 * 1024)
        .connect()
        .await
        .with_context(|| format!("connecting to {target}"))?;
    let election_id = Some(Uint128 {
        high: (election >> 64) as u64,
        low: election as u64,
    });
    let started = Instant::now();
    let lanes: Vec<_> = (0..args.in_flight)
        .map(|lane| {
            let mut grpc = Grpc::new(channel.clone());
            let index = Arc::clone(index);
            let routes = routes(args.batch, lane);
            let device_id = args.device_id;
            tokio::spawn(async move {
                let mut latency = histogram()?;
                let (mut entries, mut batches) = (0u64, 0u64);
                while started.elapsed() < budget {
                    for op in [Type::Insert, Type::Delete] {
                        let t0 = Instant::now();
                        let req = WriteRequest {
                            device_id,
                            election_id,
                            updates: encode(&index, &routes, op)?,
                            atomicity: Atomicity::ContinueOnError as i32,
                            ..Default::default()
                        };
                        grpc.write(req).await.map_err(|s| {
                            anyhow::anyhow!(
                                "lane {lane}: {} batch {batches}: {:?}: {}",
                                op.as_str_name(),
                                s.code(),
                                s.message()
                            )
                        })?;
                        latency.record(t0.elapsed().as_micros().max(1) as u64)?;
                        entries += routes.len() as u64;
                        batches += 1;
                    }
                }
                anyhow::Ok((entries, batches, latency))
            })
        })
        .collect();
    let mut report = Report {
        entries: 0,
        batches: 0,
        elapsed: Duration::ZERO,
        latency: histogram()?,
    };
    for lane in lanes {
        let (entries, batches, latency) = lane.await??;
        report.entries += entries;
        report.batches += batches;
        report.latency.add(latency)?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

fn print(args: &Args, target: &str, r: &Report) -> anyhow::Result<()> {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let eps = r.entries as f64 / secs;
    let p50 = r.latency.value_at_quantile(0.5) as f64 / 1000.0;
    let p99 = r.latency.value_at_quantile(0.99) as f64 / 1000.0;
    let where_ = if args.target.is_some() {
        target.to_string()
    } else {
        "in-process emulated switch".to_string()
    };
    if args.json {
        let v = serde_json::json!({
            "bench": "p4runtime",
            "target": where_,
            "batch": args.batch,
            "in_flight": args.in_flight,
            "entries": r.entries,
            "batches": r.batches,
            "seconds": secs,
            "entries_per_sec": eps,
            "batch_latency_ms_p50": p50,
            "batch_latency_ms_p99": p99,
        });
        println!("{v}");
    } else {
        println!("P4Runtime batched writes into {where_}");
        println!(
            "  batch {}, {} in flight: {:.0} entries/s ({} entries in {} Write RPCs over {:.2} s)",
            args.batch, args.in_flight, eps, r.entries, r.batches, secs
        );
        println!("  Write latency per batch: p50 {p50:.3} ms, p99 {p99:.3} ms");
    }
    Ok(())
}
