//! A private Open vSwitch (ovsdb-server + ovs-vswitchd, userspace `netdev` datapath) per test.
//!
//! Each instance lives in its own run directory with its own database and control sockets, so
//! tests never touch a system-wide Open vSwitch and can run side by side. Bridge and port names
//! become kernel tap devices, so callers pick names unique to their test (at most 15 bytes).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A running private Open vSwitch; stopped and cleaned up on drop.
pub struct Ovs {
    dir: PathBuf,
    bridges: Vec<String>,
}

impl Ovs {
    /// Starts ovsdb-server and ovs-vswitchd in a fresh directory named after `tag`.
    pub fn start(tag: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("prescient-ovs-{tag}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let ovs = Ovs {
            dir,
            bridges: Vec::new(),
        };
        ovs.run("ovsdb-tool", &["create", &ovs.path("conf.db"), SCHEMA])?;
        ovs.run(
            "ovsdb-server",
            &[
                &format!("--remote=punix:{}", ovs.path("db.sock")),
                &format!("--pidfile={}", ovs.path("ovsdb.pid")),
                &format!("--unixctl={}", ovs.path("ovsdb.ctl")),
                &format!("--log-file={}", ovs.path("ovsdb.log")),
                "--detach",
                &ovs.path("conf.db"),
            ],
        )?;
        ovs.vsctl(&["--no-wait", "init"])?;
        ovs.start_vswitchd()?;
        Ok(ovs)
    }

    /// Starts ovs-vswitchd (again, after `kill_vswitchd`).
    pub fn start_vswitchd(&self) -> anyhow::Result<()> {
        self.run(
            "ovs-vswitchd",
            &[
                &format!("unix:{}", self.path("db.sock")),
                &format!("--pidfile={}", self.path("vswitchd.pid")),
                &format!("--unixctl={}", self.path("vswitchd.ctl")),
                &format!("--log-file={}", self.path("vswitchd.log")),
                "--detach",
                "--disable-system",
            ],
        )?;
        Ok(())
    }

    /// Kills ovs-vswitchd abruptly (SIGKILL), as a crash would; the database keeps the bridges.
    pub fn kill_vswitchd(&self) -> anyhow::Result<()> {
        let pid = std::fs::read_to_string(self.path("vswitchd.pid"))
            .context("reading ovs-vswitchd's pidfile")?;
        self.run("kill", &["-9", pid.trim()])?;
        // The pidfile names a dead process now; a fresh start must not trip over it.
        let _ = std::fs::remove_file(self.path("vswitchd.pid"));
        Ok(())
    }

    /// Adds a userspace bridge speaking only OpenFlow 1.3 with a fixed datapath id, pointed at
    /// `controller` (e.g. `tcp:127.0.0.1:6653`).
    pub fn add_bridge(&mut self, name: &str, dpid: u64, controller: &str) -> anyhow::Result<()> {
        self.vsctl(&[
            "add-br",
            name,
            "--",
            "set",
            "bridge",
            name,
            "datapath_type=netdev",
            "protocols=OpenFlow13",
            "fail_mode=secure",
            &format!("other-config:datapath-id={dpid:016x}"),
            "--",
            "set-controller",
            name,
            controller,
        ])?;
        self.bridges.push(name.to_owned());
        Ok(())
    }

    /// Adds an internal (tap) port with a fixed OpenFlow port number.
    pub fn add_internal_port(&self, bridge: &str, port: &str, ofport: u32) -> anyhow::Result<()> {
        self.vsctl(&[
            "add-port",
            bridge,
            port,
            "--",
            "set",
            "interface",
            port,
            "type=internal",
            &format!("ofport_request={ofport}"),
        ])?;
        Ok(())
    }

    /// Connects two bridges with a pair of patch ports (`a_port` on `a`, `b_port` on `b`).
    pub fn patch(
        &self,
        (a, a_port, a_ofport): (&str, &str, u32),
        (b, b_port, b_ofport): (&str, &str, u32),
    ) -> anyhow::Result<()> {
        self.vsctl(&[
            "add-port",
            a,
            a_port,
            "--",
            "set",
            "interface",
            a_port,
            "type=patch",
            &format!("options:peer={b_port}"),
            &format!("ofport_request={a_ofport}"),
            "--",
            "add-port",
            b,
            b_port,
            "--",
            "set",
            "interface",
            b_port,
            "type=patch",
            &format!("options:peer={a_port}"),
            &format!("ofport_request={b_ofport}"),
        ])?;
        Ok(())
    }

    /// Runs `ovs-vsctl` against this instance's database.
    pub fn vsctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let db = format!("--db=unix:{}", self.path("db.sock"));
        let mut full = vec![db.as_str(), "--timeout=10"];
        full.extend_from_slice(args);
        self.run("ovs-vsctl", &full)
    }

    /// Runs `ovs-ofctl -O OpenFlow13` against this instance's bridges.
    pub fn ofctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut full = vec!["-O", "OpenFlow13"];
        full.extend_from_slice(args);
        self.run("ovs-ofctl", &full)
    }

    /// The run directory, holding the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(program)
            .args(args)
            .env("OVS_RUNDIR", &self.dir)
            .env("OVS_LOGDIR", &self.dir)
            .env("OVS_DBDIR", &self.dir)
            .env("OVS_SYSCONFDIR", &self.dir)
            .output()
            .with_context(|| {
                format!("starting {program} (is Open vSwitch installed? run scripts/setup)")
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
}

impl Drop for Ovs {
    fn drop(&mut self) {
        // Deleting the bridges first removes their tap devices from the kernel; `exit --cleanup`
        // alone leaves ports of a crashed-and-restarted daemon behind.
        for bridge in std::mem::take(&mut self.bridges) {
            let _ = self.vsctl(&["--if-exists", "del-br", &bridge]);
        }
        let _ = self.run(
            "ovs-appctl",
            &["-t", &self.path("vswitchd.ctl"), "exit", "--cleanup"],
        );
        let _ = self.run("ovs-appctl", &["-t", &self.path("ovsdb.ctl"), "exit"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
