//! Real BMv2 labs: `simple_switch_grpc` switches and Linux hosts, each in a network namespace of
//! its own, cabled with veth pairs, torn down on drop.
//!
//! BMv2 always opens its Thrift server on 0.0.0.0:9090, hence one namespace per switch. Its
//! P4Runtime server listens on a Unix socket in the lab's directory (reachable from every
//! namespace), bridged to a loopback TCP port of the test process, which is the address the
//! controller is given. Every name (namespaces, sockets) carries a tag unique to the lab, and
//! veth pairs are created directly inside their namespaces, so labs run side by side and never
//! touch the root namespace's interfaces.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use prescient::cmd::unix_bridge::UnixBridge;
use prescient::driver::p4runtime::{prescient_p4info, P4Target, PRESCIENT_BMV2_JSON};
use prescient::service::ServiceConfig;

use crate::TempDir;

/// BMv2's CPU port, as prescient.p4 expects it.
pub const CPU_PORT: u32 = 255;

/// Where the P4 toolchain is.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The p4c driver.
    pub p4c: PathBuf,
    /// BMv2 with the P4Runtime server.
    pub simple_switch_grpc: PathBuf,
}

/// The P4 toolchain for a test that runs BMv2 (namespaces: root), else `None` after a loud
/// skip message (see [`toolchain`]).
pub fn lab_toolchain(test: &str) -> Option<Toolchain> {
    if !crate::root_tests_enabled(test) {
        return None;
    }
    toolchain(test)
}

/// The P4 toolchain when it is installed, else `None` after a loud skip message. Where
/// `../shared/p4` exists (CI), `scripts/setup` installs the toolchain, so a missing one there
/// is a failure, never a skip.
pub fn toolchain(test: &str) -> Option<Toolchain> {
    let find = |name: &str| -> Option<PathBuf> {
        let opt = Path::new("/opt/p4/bin").join(name);
        if opt.is_file() {
            return Some(opt);
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    match (find("p4c"), find("simple_switch_grpc")) {
        (Some(p4c), Some(simple_switch_grpc)) => Some(Toolchain {
            p4c,
            simple_switch_grpc,
        }),
        _ => {
            let shared = shared_p4();
            if shared.join("install.sh").is_file() {
                panic!(
                    "{test}: {} exists but p4c / simple_switch_grpc are not installed: \
                     run scripts/setup (it installs them into /opt/p4)",
                    shared.display()
                );
            }
            eprintln!(
                "SKIPPED {test}: no BMv2 (p4c and simple_switch_grpc are not in /opt/p4/bin or on \
                 PATH; p4/README.md says how to get them)"
            );
            None
        }
    }
}

/// `../shared/p4` beside the repository.
fn shared_p4() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/p4")
}

/// A switch of a [`Lab`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchId(usize);

/// A host of a [`Lab`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostId(usize);

/// How a switch is started.
#[derive(Debug, Clone, Copy)]
pub struct SwitchOptions {
    /// `--priority-queues N` (1: started without the flag).
    pub priority_queues: u8,
}

impl Default for SwitchOptions {
    fn default() -> Self {
        SwitchOptions { priority_queues: 1 }
    }
}

struct Switch {
    ns: String,
    device_id: u64,
    options: SwitchOptions,
    /// (port number, interface name in the switch's namespace).
    ports: Vec<(u32, String)>,
    socket: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    proxy: Option<UnixBridge>,
    /// P4Runtime over TLS: BMv2's certificate and key, and the CA clients need (mutual TLS).
    tls: Option<prescient::tls::ServerTls>,
}

struct Host {
    ns: String,
    ip: std::net::Ipv4Addr,
    mac: [u8; 6],
    at: (SwitchId, u32),
}

/// A set of BMv2 switches and hosts; every process and namespace goes away on drop.
pub struct Lab {
    tag: String,
    toolchain: Toolchain,
    dir: TempDir,
    switches: Vec<Switch>,
    hosts: Vec<Host>,
    namespaces: Vec<String>,
}

static LABS: AtomicU32 = AtomicU32::new(0);

impl Lab {
    /// An empty lab named after `test` (names carry this process's id and a counter).
    pub fn new(toolchain: Toolchain, test: &str) -> anyhow::Result<Lab> {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("pb{}x{n}", std::process::id());
        // Short: a Unix socket path has at most 107 bytes.
        let dir = TempDir::new("pbmv2")?;
        std::fs::write(dir.path().join("test"), test)?;
        Ok(Lab {
            tag,
            toolchain,
            dir,
            switches: Vec::new(),
            hosts: Vec::new(),
            namespaces: Vec::new(),
        })
    }

    /// Adds a switch (device id = its position, from 1); started by [`Lab::start`].
    pub fn switch(&mut self, options: SwitchOptions) -> anyhow::Result<SwitchId> {
        let i = self.switches.len();
        let ns = format!("{}s{}", self.tag, i + 1);
        self.add_namespace(&ns)?;
        self.switches.push(Switch {
            ns,
            device_id: i as u64 + 1,
            options,
            ports: Vec::new(),
            socket: self.dir.path().join(format!("s{}.sock", i + 1)),
            log: self.dir.path().join(format!("s{}.log", i + 1)),
            child: None,
            proxy: None,
            tls: None,
        });
        Ok(SwitchId(i))
    }

    /// Makes `switch` serve P4Runtime over TLS (`--grpc-server-ssl`) from its next start; with
    /// a client CA, clients must present a certificate it signed.
    pub fn serve_tls(&mut self, switch: SwitchId, tls: prescient::tls::ServerTls) {
        self.switches[switch.0].tls = Some(tls);
    }

    /// Adds a host with `ip/24` and a MAC derived from its number, cabled to the next port of
    /// `switch`.
    pub fn host(&mut self, switch: SwitchId, ip: std::net::Ipv4Addr) -> anyhow::Result<HostId> {
        let i = self.hosts.len();
        let ns = format!("{}h{}", self.tag, i + 1);
        self.add_namespace(&ns)?;
        let mac = [0x02, 0x00, 0x00, 0x00, 0x00, i as u8 + 1];
        let port = self.next_port(switch);
        let sw_if = format!("eth{port}");
        let sw_ns = self.switches[switch.0].ns.clone();
        veth(&ns, "eth0", &sw_ns, &sw_if)?;
        let mac_text = mac_string(mac);
        ip_in(&ns, &["link", "set", "eth0", "address", &mac_text])?;
        ip_in(&ns, &["addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
        ip_in(&ns, &["link", "set", "eth0", "up"])?;
        // BMv2 forwards what pcap hands it: checksums the kernel left to the NIC would
        // arrive unfinished at the other host, which drops them.
        offload_off(&ns, "eth0")?;
        self.switches[switch.0].ports.push((port, sw_if));
        self.hosts.push(Host {
            ns,
            ip,
            mac,
            at: (switch, port),
        });
        Ok(HostId(i))
    }

    /// Cables the next free ports of `a` and `b`; returns the two port numbers.
    pub fn link(&mut self, a: SwitchId, b: SwitchId) -> anyhow::Result<(u32, u32)> {
        let pa = self.next_port(a);
        let pb = self.next_port(b);
        let (na, nb) = (self.switches[a.0].ns.clone(), self.switches[b.0].ns.clone());
        let (ia, ib) = (format!("eth{pa}"), format!("eth{pb}"));
        veth(&na, &ia, &nb, &ib)?;
        offload_off(&na, &ia)?;
        offload_off(&nb, &ib)?;
        self.switches[a.0].ports.push((pa, ia));
        self.switches[b.0].ports.push((pb, ib));
        Ok((pa, pb))
    }

    /// Starts every switch (with no program: the controller pushes it) and its TCP bridge, and
    /// waits until each P4Runtime server accepts connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        for i in 0..self.switches.len() {
            self.start_switch(SwitchId(i)).await?;
        }
        Ok(())
    }

    /// Kills a switch abruptly and starts it again with no program (its tables empty): a
    /// restarted target the controller must reprogram.
    pub async fn restart(&mut self, switch: SwitchId) -> anyhow::Result<()> {
        self.kill_switch(switch);
        self.start_switch(switch).await
    }

    /// Kills a switch abruptly (SIGKILL), as a crash would; its TCP bridge stays.
    pub fn kill_switch(&mut self, switch: SwitchId) {
        let s = &mut self.switches[switch.0];
        if let Some(mut child) = s.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&s.socket);
    }

    async fn start_switch(&mut self, id: SwitchId) -> anyhow::Result<()> {
        let bin = self.toolchain.simple_switch_grpc.clone();
        let s = &mut self.switches[id.0];
        let _ = std::fs::remove_file(&s.socket);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &s.ns]).arg(&bin);
        cmd.args(["--no-p4", "--device-id", &s.device_id.to_string()]);
        for (port, iface) in &s.ports {
            cmd.args(["-i", &format!("{port}@{iface}")]);
        }
        cmd.arg("--");
        cmd.arg("--grpc-server-addr")
            .arg(format!("unix:{}", s.socket.display()));
        cmd.args(["--cpu-port", &CPU_PORT.to_string()]);
        if s.options.priority_queues > 1 {
            cmd.args(["--priority-queues", &s.options.priority_queues.to_string()]);
        }
        if let Some(tls) = &s.tls {
            cmd.arg("--grpc-server-ssl")
                .arg("--grpc-server-cert")
                .arg(&tls.files.cert)
                .arg("--grpc-server-key")
                .arg(&tls.files.key);
            if let Some(ca) = &tls.client_ca {
                cmd.arg("--grpc-server-with-client-auth")
                    .arg("--grpc-server-cacert")
                    .arg(ca);
            }
        }
        let log = std::fs::File::create(&s.log)
            .with_context(|| format!("creating {}", s.log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting simple_switch_grpc")?;
        s.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::UnixStream::connect(&s.socket).await.is_ok() {
                break;
            }
            if let Some(status) = s.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "simple_switch_grpc in {} exited with {status}: {}",
                    s.ns,
                    std::fs::read_to_string(&s.log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "simple_switch_grpc in {} did not open {}",
                    s.ns,
                    s.socket.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if s.proxy.is_none() {
            s.proxy = Some(UnixBridge::bind(s.socket.clone()).await?);
        }
        Ok(())
    }

    /// The controller's view of a started switch: its TCP address, device id, ports, and
    /// prescient.p4 to push (the checked-in BMv2 JSON and P4Info).
    pub fn target(&self, switch: SwitchId) -> P4Target {
        let s = &self.switches[switch.0];
        let address = s
            .proxy
            .as_ref()
            .map(|p| p.address().to_string())
            .unwrap_or_default();
        P4Target {
            device_config: bytes::Bytes::from_static(PRESCIENT_BMV2_JSON),
            priority_queues: s.options.priority_queues,
            stats_interval: Duration::from_millis(500),
            // Above the observer's (see `Lab::observer`), so the controller is primary.
            election_id: 10,
            ..P4Target::running_prescient(
                address,
                s.device_id,
                s.ports.iter().map(|(p, _)| *p).collect(),
                prescient_p4info().expect("the embedded P4Info parses"),
            )
        }
    }

    /// A backup P4Runtime client of a switch (election id 1, below the controller's): reads
    /// what the switch holds without taking it over. Waits for a pipeline to be installed.
    pub async fn observer(
        &self,
        switch: SwitchId,
    ) -> anyhow::Result<prescient_southbound::p4runtime::P4RuntimeClient> {
        use prescient_southbound::p4runtime::{ClientConfig, P4RuntimeClient};
        let target = self.target(switch);
        let config = ClientConfig::new(target.address, target.device_id, 1);
        let mut client = P4RuntimeClient::connect(config).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.fetch_p4info().await {
                Ok(_) => return Ok(client),
                Err(e) if Instant::now() > deadline => {
                    bail!("no pipeline on device {}: {e}", target.device_id)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Every switch's target.
    pub fn targets(&self) -> Vec<P4Target> {
        (0..self.switches.len())
            .map(|i| self.target(SwitchId(i)))
            .collect()
    }

    /// A controller configuration driving every switch of the lab (see
    /// [`crate::controller::config`]), links expiring after 3 s without an LLDP probe: BMv2
    /// punts and forwards slower than the emulator.
    pub fn controller_config(&self) -> ServiceConfig {
        let mut config =
            crate::controller::config(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), None);
        config.core.topology.discovery.link_timeout = Duration::from_secs(3);
        config.p4 = self.targets();
        config
    }

    /// The host's address.
    pub fn ip(&self, host: HostId) -> std::net::Ipv4Addr {
        self.hosts[host.0].ip
    }

    /// The host's MAC.
    pub fn mac(&self, host: HostId) -> [u8; 6] {
        self.hosts[host.0].mac
    }

    /// The device id of a switch.
    pub fn device_id(&self, switch: SwitchId) -> u64 {
        self.switches[switch.0].device_id
    }

    /// The switch and port a host is cabled to.
    pub fn attachment(&self, host: HostId) -> (u64, u32) {
        let (s, port) = self.hosts[host.0].at;
        (self.switches[s.0].device_id, port)
    }

    /// A command that runs inside the host's namespace.
    pub fn command(&self, host: HostId, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[host.0].ns, program]);
        cmd.kill_on_drop(true);
        cmd
    }

    /// Whether one ping from `from` to `to` is answered within a second.
    pub async fn ping(&self, from: HostId, to: HostId) -> bool {
        self.command(from, "ping")
            .args(["-c", "1", "-W", "1", "-q", &self.ip(to).to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success())
    }

    /// Pings until one is answered, or fails after `timeout` (the first ones are lost while
    /// the controller learns the hosts and installs routes).
    pub async fn wait_for_ping(
        &self,
        from: HostId,
        to: HostId,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.ping(from, to).await {
                return Ok(());
            }
        }
        bail!(
            "no ping answered from {} to {} within {timeout:?}",
            self.ip(from),
            self.ip(to)
        )
    }

    /// What the receiver got of an iperf3 UDP flow `from` → `to` of 1000-byte datagrams sent
    /// at `rate_bps` of frames for `secs`: bits/s of whole frames (Ethernet, IPv4 and UDP
    /// headers included, as meters count them).
    pub async fn udp_received_bps(
        &self,
        from: HostId,
        to: HostId,
        rate_bps: u64,
        secs: u32,
    ) -> anyhow::Result<f64> {
        /// An iperf3 datagram of 1000 bytes on the wire.
        const FRAME_BYTES: f64 = 1042.0;
        let payload_rate = (rate_bps * 1000 / 1042).to_string();
        let client = ["-u", "-b", &payload_rate, "-l", "1000"];
        let (json, out) = self.iperf3(from, to, "5301", &client, secs).await?;
        // The receiver's view.
        let sum = &json["end"]["sum"];
        let number = |k: &str| {
            sum[k]
                .as_f64()
                .with_context(|| format!("no end.sum.{k} in iperf3's report: {out}"))
        };
        let (seconds, lost, packets) = (
            number("seconds")?,
            number("lost_packets")?,
            number("packets")?,
        );
        let received = (packets - lost).max(0.0) * FRAME_BYTES * 8.0 / seconds;
        eprintln!(
            "iperf3 UDP at {rate_bps} bit/s of frames: {received:.0} bit/s received \
             ({lost}/{packets} lost in {seconds:.2} s)"
        );
        Ok(received)
    }

    /// What the receiver got of an iperf3 TCP flow `from` → `to` paced at `rate_bps` for
    /// `secs`: bits/s of payload, as the receiver counts it.
    pub async fn tcp_received_bps(
        &self,
        from: HostId,
        to: HostId,
        rate_bps: u64,
        secs: u32,
    ) -> anyhow::Result<f64> {
        let pace = rate_bps.to_string();
        let (json, out) = self.iperf3(from, to, "5302", &["-b", &pace], secs).await?;
        let received = json["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .with_context(|| format!("no end.sum_received.bits_per_second: {out}"))?;
        eprintln!("iperf3 TCP paced at {rate_bps} bit/s: {received:.0} bit/s received");
        Ok(received)
    }

    /// Runs a one-shot iperf3 server on `to` (port `port`) and a client on `from` with
    /// `client_args` for `secs`; the server's JSON report, and its text for error messages.
    async fn iperf3(
        &self,
        from: HostId,
        to: HostId,
        port: &str,
        client_args: &[&str],
        secs: u32,
    ) -> anyhow::Result<(serde_json::Value, String)> {
        let mut server = self
            .command(to, "iperf3")
            .args(["-s", "-1", "-J", "-p", port])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the iperf3 server")?;
        // The client retries until the server listens (no fixed sleep).
        let mut client_ok = false;
        for _ in 0..50 {
            let client = self
                .command(from, "iperf3")
                .args(["-c", &self.ip(to).to_string(), "-p", port])
                .args(client_args)
                .args(["-t", &secs.to_string(), "--connect-timeout", "3000"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            // A control connection that opened and then stalls would wait forever.
            let limit = Duration::from_secs(u64::from(secs) + 20);
            let client = tokio::time::timeout(limit, client)
                .await
                .with_context(|| format!("the iperf3 client did not finish within {limit:?}"))?
                .context("running the iperf3 client")?;
            if client.status.success() {
                client_ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !client_ok {
            bail!("the iperf3 client never ran");
        }
        let mut stdout = server.stdout.take().context("iperf3 server output")?;
        let out = tokio::time::timeout(Duration::from_secs(60), async {
            let mut text = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text).await?;
            let _ = server.wait().await;
            anyhow::Ok(text)
        })
        .await
        .context("the iperf3 server did not finish")??;
        let json =
            serde_json::from_str(&out).with_context(|| format!("iperf3 server output: {out}"))?;
        Ok((json, out))
    }

    /// The log of a switch so far (for failure messages).
    pub fn switch_log(&self, switch: SwitchId) -> String {
        std::fs::read_to_string(&self.switches[switch.0].log).unwrap_or_default()
    }

    fn next_port(&self, switch: SwitchId) -> u32 {
        self.switches[switch.0].ports.len() as u32 + 1
    }

    fn add_namespace(&mut self, ns: &str) -> anyhow::Result<()> {
        run("ip", &["netns", "add", ns])?;
        self.namespaces.push(ns.to_string());
        ip_in(ns, &["link", "set", "lo", "up"])?;
        // No IPv6: router and neighbour solicitations would only be noise on the switches.
        run(
            "ip",
            &[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-q",
                "-w",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        )?;
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 0..self.switches.len() {
            self.kill_switch(SwitchId(i));
            self.switches[i].proxy = None;
        }
        // Deleting a namespace deletes the veth ends inside it (and so their peers).
        for ns in &self.namespaces {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A veth pair with one end in each namespace, both up.
fn veth(ns_a: &str, if_a: &str, ns_b: &str, if_b: &str) -> anyhow::Result<()> {
    run(
        "ip",
        &[
            "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b,
        ],
    )?;
    ip_in(ns_a, &["link", "set", if_a, "up"])?;
    ip_in(ns_b, &["link", "set", if_b, "up"])?;
    Ok(())
}

fn offload_off(ns: &str, iface: &str) -> anyhow::Result<()> {
    run(
        "ip",
        &[
            "netns", "exec", ns, "ethtool", "-K", iface, "tx", "off", "rx", "off", "sg", "off",
        ],
    )
}

fn ip_in(ns: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    run("ip", &all)
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
