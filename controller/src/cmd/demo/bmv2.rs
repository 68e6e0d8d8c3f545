//! `prescient demo --bmv2`: the demo's P4 switches are real BMv2 `simple_switch_grpc` processes
//! running prescient.p4 instead of emulated ones.
//!
//! Each switch runs in a network namespace of its own (BMv2 always opens its Thrift server on
//! 0.0.0.0:9090), with `--cpu-port 255` and no program: the controller pushes the compiled
//! pipeline, as it would to any BMv2. Its P4Runtime server and its dataplane gRPC interface
//! (`--dp-grpc-server-addr`) listen on Unix sockets in a private directory, reachable from the
//! root namespace, each bridged to a loopback TCP port. Every BMv2 port is carried by that
//! dataplane interface rather than by a Linux interface: the emulated OpenFlow switches live in
//! this process, so the frames of a cable between a BMv2 port and an OpenFlow port, and between
//! two BMv2 switches, are relayed here ([`Bmv2Side`] is what the OpenFlow emulator sees of the
//! BMv2 switches). BMv2 counts the frames it forwards; the traffic model's background load moves
//! only the OpenFlow switches' counters. Everything is torn down on drop: processes killed,
//! namespaces deleted, sockets removed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use prescient_sim::fabric::P4Device;
use prescient_sim::openflow::{Foreign, FrameInlet};
use prescient_sim::topology::{Endpoint, SimTopology};
use prescient_sim::traffic::FabricCounters;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cmd::unix_bridge::UnixBridge;

/// BMv2's CPU port, as prescient.p4 expects it.
const CPU_PORT: u32 = 255;
/// How long a BMv2 switch may take to open its sockets, and its dataplane stream to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames queued per switch towards BMv2 before new ones are dropped (a full NIC queue).
const QUEUE: usize = 4096;

/// `p4.bm.PacketStreamRequest` of BMv2's `dataplane_interface.proto`: a frame into a port.
#[derive(Clone, PartialEq, prost::Message)]
struct PacketStreamRequest {
    /// Correlation id (0: none).
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    device_id: u64,
    #[prost(uint32, tag = "3")]
    port: u32,
    #[prost(bytes = "vec", tag = "4")]
    packet: Vec<u8>,
}

/// `p4.bm.PacketStreamResponse`: a frame out of a port.
#[derive(Clone, PartialEq, prost::Message)]
struct PacketStreamResponse {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    device_id: u64,
    #[prost(uint32, tag = "3")]
    port: u32,
    #[prost(bytes = "vec", tag = "4")]
    packet: Vec<u8>,
}

/// `simple_switch_grpc` when it can be run here: root (network namespaces) and the binary in
/// /opt/p4/bin or on PATH; otherwise an error that says what is missing and how to get it.
pub fn preflight() -> anyhow::Result<PathBuf> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .context("--bmv2: running `id -u`")?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        bail!(
            "--bmv2 needs root: each BMv2 switch runs in a network namespace of its own \
             (`ip netns`); run the demo as root, or without --bmv2 for emulated P4 switches"
        );
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("simple_switch_grpc"))
            .find(|p| p.is_file())
    });
    let opt = Path::new("/opt/p4/bin/simple_switch_grpc");
    let binary = if opt.is_file() {
        opt.to_path_buf()
    } else if let Some(found) = on_path {
        found
    } else {
        bail!(
            "--bmv2: BMv2 is not installed (no simple_switch_grpc in /opt/p4/bin or on PATH): \
             scripts/setup installs it from ../shared/p4 where that exists; p4/README.md says \
             how to get p4c and BMv2 otherwise; or run the demo without --bmv2"
        );
    };
    let ip = Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ip {
        bail!("--bmv2 needs `ip` (iproute2) to create network namespaces");
    }
    Ok(binary)
}

struct Switch {
    device_id: u64,
    child: Option<Child>,
    p4runtime: UnixBridge,
    dataplane: UnixBridge,
}

/// The running BMv2 switches of the demo; dropping it tears them down.
pub struct Bmv2Switches {
    dir: PathBuf,
    namespaces: Vec<String>,
    switches: Vec<Switch>,
}

impl Bmv2Switches {
    /// Starts one `binary` per device (see the module docs) and waits until each serves
    /// P4Runtime. What was started before a failure is torn down.
    pub async fn start(binary: &Path, devices: &[P4Device]) -> anyhow::Result<Bmv2Switches> {
        let pid = std::process::id();
        // Short: a Unix socket path has at most 107 bytes.
        let dir = std::env::temp_dir().join(format!("pdemo{pid}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut lab = Bmv2Switches {
            dir,
            namespaces: Vec::new(),
            switches: Vec::new(),
        };
        for d in devices {
            lab.start_switch(binary, d.device_id).await?;
        }
        Ok(lab)
    }

    async fn start_switch(&mut self, binary: &Path, device_id: u64) -> anyhow::Result<()> {
        let ns = format!("pdemo{}s{device_id}", std::process::id());
        run("ip", &["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        let socket = self.dir.join(format!("s{device_id}.sock"));
        let dp_socket = self.dir.join(format!("s{device_id}-dp.sock"));
        let log_path = self.dir.join(format!("s{device_id}.log"));
        for s in [&socket, &dp_socket] {
            let _ = std::fs::remove_file(s);
        }
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(binary)
            .args(["--no-p4", "--device-id", &device_id.to_string()])
            .arg("--")
            .arg("--grpc-server-addr")
            .arg(format!("unix:{}", socket.display()))
            .arg("--dp-grpc-server-addr")
            .arg(format!("unix:{}", dp_socket.display()))
            .args(["--cpu-port", &CPU_PORT.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if tokio::net::UnixStream::connect(&socket).await.is_ok()
                && tokio::net::UnixStream::connect(&dp_socket).await.is_ok()
            {
                break;
            }
            let exited = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                bail!(
                    "BMv2 device {device_id} (namespace {ns}) did not open its sockets{}: {}",
                    exited.map(|s| format!(" ({s})")).unwrap_or_default(),
                    std::fs::read_to_string(&log_path)
                        .unwrap_or_default()
                        .trim()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.switches.push(Switch {
            device_id,
            child,
            p4runtime: UnixBridge::bind(socket).await?,
            dataplane: UnixBridge::bind(dp_socket).await?,
        });
        Ok(())
    }

    /// `host:port` of the P4Runtime server of `device_id`.
    pub fn p4runtime_address(&self, device_id: u64) -> Option<String> {
        self.switches
            .iter()
            .find(|s| s.device_id == device_id)
            .map(|s| s.p4runtime.address().to_string())
    }

    /// Relays the frames of every cable of a BMv2 port (see the module docs) until `stop`:
    /// frames BMv2 sends out of a port go to the OpenFlow switch at the other end (through
    /// `inlet`) or into the other BMv2 switch; `side`'s queues carry the other direction.
    pub async fn relay(
        &self,
        side: &Bmv2Side,
        mut queues: Bmv2Queues,
        inlet: FrameInlet,
        stop: CancellationToken,
    ) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
        let mut tasks = Vec::new();
        for s in &self.switches {
            let queue = queues
                .0
                .remove(&s.device_id)
                .with_context(|| format!("no frame queue for BMv2 device {}", s.device_id))?;
            let frames = stream(s.device_id, s.dataplane.address(), queue).await?;
            let far_end = side.far_end.clone();
            let senders = side.senders.clone();
            let inlet = inlet.clone();
            let stop = stop.clone();
            let device = s.device_id;
            tasks.push(tokio::spawn(async move {
                let mut frames = frames;
                loop {
                    let next = tokio::select! {
                        _ = stop.cancelled() => break,
                        m = frames.message() => m,
                    };
                    let out = match next {
                        Ok(Some(out)) => out,
                        Ok(None) => break,
                        Err(status) => {
                            tracing::warn!(device, "BMv2 dataplane stream ended: {status}");
                            break;
                        }
                    };
                    match far_end.get(&(device, out.port)) {
                        Some(FarEnd::OpenFlow(to)) => {
                            inlet.deliver(*to, Bytes::from(out.packet), 1);
                        }
                        Some(FarEnd::Bmv2(peer, port)) => {
                            if let Some(tx) = senders.get(peer) {
                                let _ = tx.try_send(PacketStreamRequest {
                                    id: 0,
                                    device_id: *peer,
                                    port: *port,
                                    packet: out.packet,
                                });
                            }
                        }
                        // A host port: the emulated hosts only announce themselves.
                        None => {}
                    }
                }
            }));
        }
        Ok(tasks)
    }
}

impl Drop for Bmv2Switches {
    fn drop(&mut self) {
        for s in &mut self.switches {
            if let Some(mut c) = s.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // Deleting a namespace deletes everything inside it.
        for ns in &self.namespaces {
            let _ = run("ip", &["netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Opens the dataplane stream of one switch, retrying until it has started (BMv2 answers
/// UNAVAILABLE until then); frames to send are taken from `queue`.
async fn stream(
    device_id: u64,
    address: SocketAddr,
    queue: mpsc::Receiver<PacketStreamRequest>,
) -> anyhow::Result<tonic::Streaming<PacketStreamResponse>> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to the dataplane of BMv2 device {device_id}"))?;
    // Shared across attempts: a refused attempt leaves the queued frames where they are.
    let queue = Arc::new(tokio::sync::Mutex::new(queue));
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/p4.bm.DataplaneInterface/PacketStream",
    );
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready()
            .await
            .with_context(|| format!("the dataplane of BMv2 device {device_id}"))?;
        let requests = futures::stream::unfold(Arc::clone(&queue), |q| async move {
            let next = q.lock().await.recv().await;
            next.map(|r| (r, q))
        });
        let codec = tonic_prost::ProstCodec::<PacketStreamRequest, PacketStreamResponse>::default();
        match grpc
            .streaming(tonic::Request::new(requests), path.clone(), codec)
            .await
        {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) if Instant::now() < deadline => {
                tracing::debug!(device_id, "BMv2 dataplane not ready: {status}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => bail!("the dataplane of BMv2 device {device_id}: {status}"),
        }
    }
}

/// Where the cable of a BMv2 port leads.
#[derive(Debug, Clone, Copy)]
enum FarEnd {
    OpenFlow(Endpoint),
    Bmv2(u64, u32),
}

/// The frames waiting to go into each BMv2 switch (taken by [`Bmv2Switches::relay`]).
pub struct Bmv2Queues(BTreeMap<u64, mpsc::Receiver<PacketStreamRequest>>);

/// The BMv2 switches as the OpenFlow emulator sees them ([`Foreign`]): frames for their ports
/// are queued into their dataplane streams.
#[derive(Debug)]
pub struct Bmv2Side {
    /// Per topology index: the BMv2 device id, or None for an OpenFlow switch.
    device: Vec<Option<u64>>,
    senders: Arc<BTreeMap<u64, mpsc::Sender<PacketStreamRequest>>>,
    far_end: Arc<BTreeMap<(u64, u32), FarEnd>>,
}

impl Bmv2Side {
    /// The side for `devices` of `topo`, and the queues its frames go into.
    pub fn new(topo: &SimTopology, devices: &[P4Device]) -> (Bmv2Side, Bmv2Queues) {
        let mut device = vec![None; topo.switches.len()];
        for d in devices {
            if let Some(slot) = device.get_mut(d.switch) {
                *slot = Some(d.device_id);
            }
        }
        let bmv2 = |e: Endpoint| device.get(e.switch).copied().flatten();
        let mut far_end = BTreeMap::new();
        for l in &topo.links {
            for (near, far) in [(l.a, l.b), (l.b, l.a)] {
                let Some(near_device) = bmv2(near) else {
                    continue;
                };
                let end = match bmv2(far) {
                    Some(far_device) => FarEnd::Bmv2(far_device, far.port.0),
                    None => FarEnd::OpenFlow(far),
                };
                far_end.insert((near_device, near.port.0), end);
            }
        }
        let (mut senders, mut receivers) = (BTreeMap::new(), BTreeMap::new());
        for d in devices {
            let (tx, rx) = mpsc::channel(QUEUE);
            senders.insert(d.device_id, tx);
            receivers.insert(d.device_id, rx);
        }
        (
            Bmv2Side {
                device,
                senders: Arc::new(senders),
                far_end: Arc::new(far_end),
            },
            Bmv2Queues(receivers),
        )
    }

    fn send(&self, at: Endpoint, frame: Bytes) {
        let Some(device_id) = self.device.get(at.switch).copied().flatten() else {
            return;
        };
        if let Some(tx) = self.senders.get(&device_id) {
            let _ = tx.try_send(PacketStreamRequest {
                id: 0,
                device_id,
                port: at.port.0,
                packet: frame.to_vec(),
            });
        }
    }
}

impl Foreign for Bmv2Side {
    fn runs(&self, switch: usize) -> bool {
        self.device.get(switch).copied().flatten().is_some()
    }

    fn carry(&self, to: Endpoint, frame: Bytes, _hops: u8) {
        self.send(to, frame);
    }

    fn host_frame(&self, at: Endpoint, frame: Bytes) {
        self.send(at, frame);
    }

    fn counters_moved(&self, _counters: &FabricCounters) {
        // BMv2 counts the frames it forwards; the model's background load is not sent.
    }
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
