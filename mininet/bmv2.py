"""BMv2 `simple_switch_grpc` as a Mininet switch, driven by Prescient over P4Runtime.

Each switch runs in a network namespace of its own (BMv2 always opens its Thrift server on
0.0.0.0:9090, so two in one namespace collide), starts with no program (`--no-p4`: Prescient
pushes p4/prescient.p4's BMv2 JSON and P4Info), and serves P4Runtime on a Unix socket, which
`socat` bridges to 127.0.0.1:`grpc_port` in the root namespace where the controller runs. Its
device id is its dpid (lab.py numbers switches with dpids 1..N), so the controller's
view is stable. `--cpu-port 255`, as prescient.p4 expects.

    from bmv2 import Bmv2Switch, Bmv2Host, p4runtime_config
    net = Mininet(topo=Linear(n=3), switch=Bmv2Switch, host=Bmv2Host, controller=None)
    net.start()
    open("lab.toml", "w").write(p4runtime_config(net.switches))
    # prescient run --config lab.toml

`Bmv2Host` turns checksum offloading off on the host's interfaces: BMv2 forwards what pcap gives
it, so a checksum the kernel left for the NIC to fill arrives unfinished and the receiver drops it
(pings pass, TCP and UDP do not). Mixed fabrics (OVS and BMv2 in one topology) work when each
switch is given its class (`addSwitch(..., cls=Bmv2Switch)`); hosts behind OVS need no
`Bmv2Host`, but it does no harm.

    sudo /usr/bin/python3 mininet/bmv2.py --size 3     # a BMv2 line and its [[p4runtime]] config
"""

import argparse
import os
import shutil
import socket
import subprocess
import time

from mininet.node import Host, Switch

CPU_PORT = 255
SIMPLE_SWITCH_GRPC = "simple_switch_grpc"
GRPC_BASE_PORT = 50000


def find_simple_switch_grpc():
    """/opt/p4/bin (scripts/setup installs it there from ../shared/p4), else PATH."""
    opt = "/opt/p4/bin/" + SIMPLE_SWITCH_GRPC
    if os.access(opt, os.X_OK):
        return opt
    found = shutil.which(SIMPLE_SWITCH_GRPC)
    if not found:
        raise RuntimeError("simple_switch_grpc not found in /opt/p4/bin or on PATH (see p4/README.md)")
    return found


class Bmv2Switch(Switch):
    """simple_switch_grpc in its own namespace, P4Runtime bridged to 127.0.0.1:grpc_port.

    Options: device_id (default: the dpid), grpc_port (default 50000 + device id),
    priority_queues (`--priority-queues N`; 1 = started without: set the same number as
    `priority_queues` of the [[p4runtime]] device), log_dir (BMv2's output, default /tmp),
    sw_path (the binary). OpenFlow-only options of the topologies (`protocols`) are ignored."""

    def __init__(self, name, device_id=None, grpc_port=None, priority_queues=1, log_dir="/tmp",
                 sw_path=None, protocols=None, **params):
        params["inNamespace"] = True
        Switch.__init__(self, name, **params)
        self.device_id = int(device_id) if device_id is not None else int(self.dpid, 16)
        self.grpc_port = int(grpc_port) if grpc_port is not None else GRPC_BASE_PORT + self.device_id
        self.priority_queues = int(priority_queues)
        self.sw_path = sw_path or find_simple_switch_grpc()
        self.socket_path = "/tmp/prescient-bmv2-%s-%d.sock" % (name, os.getpid())
        self.log_path = os.path.join(log_dir, "prescient-bmv2-%s.log" % name)
        self.bmv2_pid = None
        self.bridge = None

    @classmethod
    def setup(cls):
        find_simple_switch_grpc()
        if not shutil.which("socat"):
            raise RuntimeError("socat is needed to bridge BMv2's P4Runtime socket (apt-get install socat)")

    def data_ports(self):
        """(port number, interface name) of every cabled port, lowest first."""
        return sorted((port, intf.name) for intf, port in self.ports.items() if intf.name != "lo")

    def start(self, controllers):
        """Starts BMv2 with the cabled ports; the controllers (OpenFlow) are not used."""
        for _, name in self.data_ports():
            self.cmd("ethtool -K %s tx off rx off sg off >/dev/null 2>&1" % name)
            self.cmd("sysctl -q -w net.ipv6.conf.%s.disable_ipv6=1" % name)
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        args = [self.sw_path, "--no-p4", "--device-id", str(self.device_id)]
        for port, name in self.data_ports():
            args += ["-i", "%d@%s" % (port, name)]
        args += ["--", "--grpc-server-addr", "unix:" + self.socket_path, "--cpu-port", str(CPU_PORT)]
        if self.priority_queues > 1:
            args += ["--priority-queues", str(self.priority_queues)]
        out = self.cmd(" ".join(args) + " >%s 2>&1 & echo $!" % self.log_path)
        self.bmv2_pid = int(out.strip().split()[-1])
        deadline = time.time() + 30
        while not self._socket_ready():
            if time.time() > deadline:
                raise RuntimeError("%s: simple_switch_grpc did not open %s (log: %s)"
                                   % (self.name, self.socket_path, self.log_path))
            time.sleep(0.05)
        # The bridge runs in the root namespace, where the controller is. nodelay: with Nagle on,
        # a P4Runtime answer can wait ~40 ms for a delayed ACK (p4/README.md, "Write throughput").
        self.bridge = subprocess.Popen(
            ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,nodelay" % self.grpc_port,
             "UNIX-CONNECT:" + self.socket_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _socket_ready(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket_path)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop(self, deleteIntfs=True):
        if self.bridge is not None:
            self.bridge.terminate()
            self.bridge.wait()
            self.bridge = None
        if self.bmv2_pid is not None:
            self.cmd("kill %d; wait %d 2>/dev/null" % (self.bmv2_pid, self.bmv2_pid))
            self.bmv2_pid = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        Switch.stop(self, deleteIntfs)

    def p4runtime_section(self, port_speed_mbps=1000, election_id=1):
        """This switch as a [[p4runtime]] device of `prescient run --config`."""
        ports = ", ".join(str(p) for p, _ in self.data_ports())
        return ("[[p4runtime]]\n"
                "address = \"127.0.0.1:%d\"\n"
                "device_id = %d\n"
                "ports = [%s]\n"
                "port_speed_mbps = %d\n"
                "election_id = %d\n"
                "priority_queues = %d\n"
                % (self.grpc_port, self.device_id, ports, port_speed_mbps, election_id,
                   self.priority_queues))


class Bmv2Host(Host):
    """A host whose interfaces leave no checksum to the NIC (BMv2 would forward it unfinished)."""

    def config(self, **params):
        result = Host.config(self, **params)
        for intf in self.intfList():
            if intf.name != "lo":
                self.cmd("ethtool -K %s tx off rx off sg off >/dev/null 2>&1" % intf.name)
        return result


def p4runtime_config(switches, **options):
    """The [[p4runtime]] sections of every Bmv2Switch among `switches` (others are skipped), each
    with a [[devices]] section naming it as the lab does (P4Runtime itself names no device)."""
    return "\n".join(s.p4runtime_section(**options) + '\n[[devices]]\nid = "p4:%d"\nname = "%s"\n'
                     % (s.device_id, s.name)
                     for s in switches if isinstance(s, Bmv2Switch))


def main():
    from mininet.net import Mininet
    from mininet.topo import LinearTopo

    parser = argparse.ArgumentParser(description="A line of BMv2 switches with a host each, for Prescient")
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--priority-queues", type=int, default=1)
    parser.add_argument("--config", default="prescient-bmv2.toml",
                        help="where to write the [[p4runtime]] sections for prescient run --config")
    parser.add_argument("--test", choices=["pingall"], help="ping all pairs (with prescient running) and exit")
    args = parser.parse_args()
    from functools import partial
    net = Mininet(topo=LinearTopo(k=args.size, n=1),
                  switch=partial(Bmv2Switch, priority_queues=args.priority_queues),
                  host=Bmv2Host, controller=None, autoSetMacs=True)
    net.start()
    try:
        with open(args.config, "w") as f:
            f.write(p4runtime_config(net.switches))
        print("wrote %s: start prescient run --config %s" % (args.config, args.config), flush=True)
        if args.test == "pingall":
            deadline = time.time() + 60
            loss = 100.0
            while time.time() < deadline and loss > 0:
                loss = net.pingAll(timeout=1)
            print("pingall loss %.0f%%" % loss, flush=True)
        else:
            from mininet.cli import CLI
            CLI(net)
    finally:
        net.stop()


if __name__ == "__main__":
    main()
