//! Mininet labs (`mininet/lab.py`) on the system Open vSwitch, driven from a test.
//!
//! Mininet's `OVSSwitch` only talks to the system-wide Open vSwitch (the default database socket
//! `/var/run/openvswitch/db.sock` and bridge sockets beside it), unlike the private instances of
//! [`crate::ovs`]. [`SystemOvs`] reuses a running one, or starts ovsdb-server on a scratch database
//! plus ovs-vswitchd with the userspace datapath only (no kernel module is needed) and stops both
//! on drop. Only one lab may use it at a time: take [`exclusive`] first.
//!
//! [`Lab`] runs a small Python driver over `mininet/lab.py` under the system interpreter (which has
//! the `mininet` module): the lab a user runs, with the same offload settings and, given the
//! controller's REST API, the same wait for the whole topology before any traffic. It reads one
//! JSON request a line on stdin and answers on stdout with `LAB <word> ...` lines, and
//! tears the network down when stdin closes or on SIGTERM, so a failing test leaves nothing behind;
//! anything Mininet could not remove is removed by name on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::{mpsc, Mutex, MutexGuard};

mod controlled;
pub use controlled::{lab_config, post_reservation, reserve, ControlledLab, LAB_TOKEN};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
const RUN_DIR: &str = "/var/run/openvswitch";
/// The system interpreter: it has the `mininet` module (a pyenv `python3` on PATH may not).
const PYTHON: &str = "/usr/bin/python3";

static LAB: Mutex<()> = Mutex::const_new(());

/// Serialises the labs of this test binary: they share the system Open vSwitch and Mininet names.
pub async fn exclusive() -> MutexGuard<'static, ()> {
    LAB.lock().await
}

/// The system Open vSwitch, running for as long as this value lives.
pub struct SystemOvs {
    /// Our scratch directory when we started the daemons; `None` when one was already running.
    started: Option<PathBuf>,
}

impl SystemOvs {
    /// Reuses a responsive system Open vSwitch, or starts one (userspace datapath only).
    pub fn ensure() -> anyhow::Result<Self> {
        reap_abandoned();
        if run("ovs-vsctl", &["--timeout=2", "show"]).is_ok() {
            return Ok(SystemOvs { started: None });
        }
        let dir = std::env::temp_dir().join(format!("prescient-sysovs-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::create_dir_all(RUN_DIR).with_context(|| format!("creating {RUN_DIR}"))?;
        // From here on, drop stops whatever did start.
        let ovs = SystemOvs {
            started: Some(dir.clone()),
        };
        let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
        run("ovsdb-tool", &["create", &file("conf.db"), SCHEMA])?;
        run(
            "ovsdb-server",
            &[
                &format!("--remote=punix:{RUN_DIR}/db.sock"),
                &format!("--pidfile={}", file("ovsdb.pid")),
                &format!("--unixctl={}", file("ovsdb.ctl")),
                &format!("--log-file={}", file("ovsdb.log")),
                "--detach",
                &file("conf.db"),
            ],
        )?;
        run("ovs-vsctl", &["--timeout=10", "--no-wait", "init"])?;
        run(
            "ovs-vswitchd",
            &[
                &format!("unix:{RUN_DIR}/db.sock"),
                &format!("--pidfile={}", file("vswitchd.pid")),
                &format!("--unixctl={}", file("vswitchd.ctl")),
                &format!("--log-file={}", file("vswitchd.log")),
                "--detach",
                // No kernel datapath here: only `datapath_type=netdev` bridges.
                "--disable-system",
            ],
        )?;
        run("ovs-vsctl", &["--timeout=10", "show"])?;
        Ok(ovs)
    }
}

/// Stops the daemons and removes the directories of earlier test processes that were killed
/// before their drop ran (their directory names carry their process id).
fn reap_abandoned() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = ["prescient-sysovs-", "prescient-lab-"]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix))
            .and_then(|pid| pid.parse::<u32>().ok());
        match owner {
            Some(pid) if !Path::new(&format!("/proc/{pid}")).exists() => {
                stop_daemons(&entry.path());
            }
            _ => {}
        }
    }
}

/// Stops the daemons (if any) run from `dir`, deleting their bridges first, and removes `dir`.
fn stop_daemons(dir: &Path) {
    let ctl = |name: &str| dir.join(name).to_string_lossy().into_owned();
    // Only a live server of ours owns the default socket; otherwise the bridges are not ours.
    if run("ovs-appctl", &["-t", &ctl("ovsdb.ctl"), "version"]).is_ok() {
        // Deleting the bridges first removes their tap devices from the kernel.
        if let Ok(bridges) = run("ovs-vsctl", &["--timeout=5", "list-br"]) {
            for bridge in bridges.lines().filter(|b| !b.is_empty()) {
                let _ = run(
                    "ovs-vsctl",
                    &["--timeout=5", "--if-exists", "del-br", bridge],
                );
            }
        }
        let _ = run(
            "ovs-appctl",
            &["-t", &ctl("vswitchd.ctl"), "exit", "--cleanup"],
        );
        let _ = run("ovs-appctl", &["-t", &ctl("ovsdb.ctl"), "exit"]);
    }
    let _ = std::fs::remove_dir_all(dir);
}

impl Drop for SystemOvs {
    fn drop(&mut self) {
        if let Some(dir) = self.started.take() {
            stop_daemons(&dir);
        }
    }
}

/// A Mininet network of `mininet/lab.py`, up until dropped.
pub struct Lab {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    dir: PathBuf,
    /// Mininet's node shells and interfaces, as the driver reported them, for cleanup by name.
    pids: Vec<u32>,
    links: Vec<String>,
    bridges: Vec<String>,
}

const DRIVER: &str = r#"
import json, signal, subprocess, sys

repo, kind, size, ip, port, api = sys.argv[1:7]
sys.path.insert(0, repo + "/mininet")

from mininet.log import setLogLevel
import lab

def answer(*words):
    print("LAB", *words, flush=True)

# SIGTERM from the test's cleanup: unwind through `finally` so Mininet removes what it made.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
setLogLevel("info")
topo = lab.make_topo(kind, int(size))
lab.remove_leftovers(topo)
net = lab.build_net(topo, "ovs", [(ip, int(port))])
try:
    answer("pids", *[n.pid for n in net.hosts + net.switches])
    answer("links", *[i.name for s in net.switches for i in s.intfList() if i.name != "lo"])
    answer("bridges", *[s.name for s in net.switches])
    net.start()
    lab.tcp_ready(net)
    if api != "-":
        lab.wait_for_controller(topo, api, timeout=90)
    answer("started")
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "pingall":
            loss = net.pingAll(timeout=lab.PING_TIMEOUT)
            if loss:
                # What the switches held when pings were lost goes into the log a failing test prints.
                for s in net.switches:
                    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", s.name], capture_output=True, text=True).stdout
                    print("FLOWS", s.name, out, file=sys.stderr, flush=True)
            answer("loss", loss)
        elif op == "iperf":
            flows = [(net.get(f["client"]), net.get(f["server"]), f.get("udp_bps"), f["port"]) for f in req["flows"]]
            answer("bps", *lab.iperf_flows(flows, req["seconds"]))
        elif op == "link":
            net.configLinkStatus(req["a"], req["b"], req["state"])
            answer("done")
        elif op == "cmd":
            answer("out", json.dumps(net.get(req["host"]).cmd(req["cmd"])))
        elif op == "hosts":
            answer("hosts", *["%s=%s=%s=%s" % (h.name, h.IP(), h.MAC(), topo_sw) for topo_sw, hn in topo.host_of.items() for h in [net.get(hn)]])
finally:
    net.stop()
"#;

/// One iperf3 flow of [`Lab::iperf`].
#[derive(Debug, Clone)]
pub struct Flow {
    /// Sending host (`h1`, ...).
    pub client: String,
    /// Receiving host.
    pub server: String,
    /// UDP at this many bits/s; TCP when `None`.
    pub udp_bps: Option<u64>,
    /// The server's port (distinct per flow to one server).
    pub port: u16,
}

/// A host of the lab: name, IPv4 address, MAC and the switch it hangs off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHost {
    /// Mininet name (`h1`, ...).
    pub name: String,
    /// IPv4 address.
    pub ip: String,
    /// MAC address.
    pub mac: String,
    /// The switch (bridge) name.
    pub switch: String,
}

impl Lab {
    /// Builds `kind` (`ring`, `linear`, `fat-tree`, `abilene`) of `size` with every switch
    /// pointed at `controller`, and returns once Mininet has started it and, given `api` (the
    /// controller's REST base URL), once the API shows every switch and link.
    pub async fn start(
        kind: &str,
        size: usize,
        controller: SocketAddr,
        api: Option<SocketAddr>,
    ) -> anyhow::Result<Lab> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the tests crate has no parent directory")?
            .to_path_buf();
        let dir = std::env::temp_dir().join(format!("prescient-lab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let script = dir.join("driver.py");
        std::fs::write(&script, DRIVER).context("writing the Mininet driver")?;
        let log = std::fs::File::create(dir.join("mininet.log")).context("creating the log")?;
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .arg(&repo)
            .arg(kind)
            .arg(size.to_string())
            .arg(controller.ip().to_string())
            .arg(controller.port().to_string())
            .arg(api.map_or("-".to_owned(), |a| format!("http://{a}")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {PYTHON} (is Mininet installed? scripts/setup)"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the driver's stdout")?;
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lab = Lab {
            child,
            stdin,
            lines,
            dir,
            pids: Vec::new(),
            links: Vec::new(),
            bridges: Vec::new(),
        };
        lab.pids = lab
            .answer("pids", Duration::from_secs(30))
            .await?
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        lab.links = lab.answer("links", Duration::from_secs(10)).await?;
        lab.bridges = lab.answer("bridges", Duration::from_secs(10)).await?;
        lab.answer("started", Duration::from_secs(150)).await?;
        Ok(lab)
    }

    /// Runs Mininet's `pingAll` (every host pings every other once) and returns the loss, percent.
    pub async fn ping_all(&mut self) -> anyhow::Result<f64> {
        self.send(&serde_json::json!({"op": "pingall"}))?;
        let words = self.answer("loss", Duration::from_secs(120)).await?;
        let loss = words.first().context("a loss figure")?;
        loss.parse()
            .with_context(|| format!("the loss figure {loss:?}"))
    }

    /// Runs `flows` side by side for `seconds` and returns the bits/s each receiver saw.
    pub async fn iperf(&mut self, flows: &[Flow], seconds: u32) -> anyhow::Result<Vec<f64>> {
        let flows: Vec<_> = flows
            .iter()
            .map(|f| {
                serde_json::json!({"client": f.client, "server": f.server,
                    "udp_bps": f.udp_bps, "port": f.port})
            })
            .collect();
        self.send(&serde_json::json!({"op": "iperf", "flows": flows, "seconds": seconds}))?;
        let words = self
            .answer("bps", Duration::from_secs(u64::from(seconds) + 60))
            .await?;
        words
            .iter()
            .map(|w| w.parse().with_context(|| format!("the rate {w:?}")))
            .collect()
    }

    /// Sets the Mininet link between nodes `a` and `b` up or down (both interfaces).
    pub async fn set_link(&mut self, a: &str, b: &str, up: bool) -> anyhow::Result<()> {
        let state = if up { "up" } else { "down" };
        self.send(&serde_json::json!({"op": "link", "a": a, "b": b, "state": state}))?;
        self.answer("done", Duration::from_secs(20)).await?;
        Ok(())
    }

    /// Runs a shell command on `host` and returns what it printed.
    pub async fn cmd(&mut self, host: &str, cmd: &str) -> anyhow::Result<String> {
        self.send(&serde_json::json!({"op": "cmd", "host": host, "cmd": cmd}))?;
        let line = self.answer_line("out", Duration::from_secs(120)).await?;
        serde_json::from_str(&line).context("the command's output")
    }

    /// The lab's hosts, one per switch (the first host of switches with several).
    pub async fn hosts(&mut self) -> anyhow::Result<Vec<LabHost>> {
        self.send(&serde_json::json!({"op": "hosts"}))?;
        let words = self.answer("hosts", Duration::from_secs(20)).await?;
        words
            .iter()
            .map(|w| match w.split('=').collect::<Vec<_>>()[..] {
                [name, ip, mac, switch] => Ok(LabHost {
                    name: name.to_owned(),
                    ip: ip.to_owned(),
                    mac: mac.to_owned(),
                    switch: switch.to_owned(),
                }),
                _ => bail!("the host entry {w:?}"),
            })
            .collect()
    }

    fn send(&mut self, request: &serde_json::Value) -> anyhow::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .context("the driver's stdin is closed")?;
        writeln!(stdin, "{request}")
            .and_then(|()| stdin.flush())
            .context("sending the driver a request")
    }

    /// The flow table of one of the lab's switches, as `ovs-ofctl` shows it with port numbers.
    pub fn dump_flows(&self, bridge: &str) -> anyhow::Result<String> {
        run(
            "ovs-ofctl",
            &["-O", "OpenFlow13", "--no-names", "dump-flows", bridge],
        )
    }

    /// The meters of one of the lab's switches, as `ovs-ofctl` shows them.
    pub fn dump_meters(&self, bridge: &str) -> anyhow::Result<String> {
        run("ovs-ofctl", &["-O", "OpenFlow13", "dump-meters", bridge])
    }

    /// The group table of one of the lab's switches, as `ovs-ofctl` shows it with port numbers.
    pub fn dump_groups(&self, bridge: &str) -> anyhow::Result<String> {
        run(
            "ovs-ofctl",
            &["-O", "OpenFlow13", "--no-names", "dump-groups", bridge],
        )
    }

    /// Mininet's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mininet.log")).unwrap_or_default()
    }

    /// Waits for the driver's `LAB <word> ...` line and returns the words after `word`.
    async fn answer(&mut self, word: &str, timeout: Duration) -> anyhow::Result<Vec<String>> {
        let rest = self.answer_line(word, timeout).await?;
        Ok(rest.split_whitespace().map(str::to_owned).collect())
    }

    /// Waits for the driver's `LAB <word> ...` line and returns the text after `word`.
    async fn answer_line(&mut self, word: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    if let Some(rest) = line
                        .strip_prefix("LAB ")
                        .and_then(|l| l.strip_prefix(word))
                        .filter(|r| r.is_empty() || r.starts_with(' '))
                    {
                        return Ok(rest.trim_start().to_owned());
                    }
                }
                Ok(None) => bail!(
                    "the Mininet driver exited before `{word}`; its log:\n{}",
                    self.log()
                ),
                Err(_) => bail!(
                    "no `{word}` from the Mininet driver within {timeout:?}; its log:\n{}",
                    self.log()
                ),
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Closing stdin ends the driver's request loop; it then stops the network itself.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut exited = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Whatever Mininet left behind: its node shells, the switch side of its veth pairs, and
        // the bridges, all by the exact names and ids the driver reported.
        for pid in &self.pids {
            // Only a process that is still one of Mininet's shells: the id may have been reused.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("mininet:") {
                // Its process group too: a shell leads its own (mnexec setsid), and what a test
                // started in the background on the host (servers, iperf3) runs in it.
                if run("kill", &["-9", "--", &format!("-{pid}")]).is_err() {
                    let _ = run("kill", &["-9", &pid.to_string()]);
                }
            }
        }
        for link in &self.links {
            if Path::new("/sys/class/net").join(link).exists() {
                let _ = run("ip", &["link", "del", link]);
            }
        }
        for bridge in &self.bridges {
            let _ = run(
                "ovs-vsctl",
                &["--timeout=5", "--if-exists", "del-br", bridge],
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program).args(args).output().with_context(|| {
        format!("starting {program} (is Open vSwitch installed? scripts/setup)")
    })?;
    if !output.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
