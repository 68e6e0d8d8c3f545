#!/usr/bin/python3
"""A Prescient lab on Mininet: real switches, real hosts, real traffic.

Topologies: ring, linear and fat-tree (k-ary), the Abilene backbone (switches named after its
routers), or a topology file (SNDlib native format, or JSON {"nodes": [...], "links": [[a, b], ...]})
whose node names become the switch names. One host per switch (k/2 per edge switch in a fat-tree).
Switches are Open vSwitch with the userspace datapath (no kernel module needed), OpenFlow 1.3, fail
mode secure, pointed at the controller(s) given with --controller.

The lab starts Open vSwitch's daemons when none are running (and stops them at exit), turns off
transmit checksum offload on the hosts' interfaces (the userspace datapath does not complete
checksums left to offload, so TCP would not cross it), and waits until the controller's REST API
shows every switch and every link before any traffic is sent.

    sudo /usr/bin/python3 mininet/lab.py --topology abilene --test pingall
    sudo /usr/bin/python3 mininet/lab.py --topology fat-tree --size 4 --test iperf
    sudo /usr/bin/python3 mininet/lab.py --topology abilene \\
        --replay ../shared/data/abilene-tm-5min-2004-03.csv --scale 0.02 --speed 300 --cli
"""

import argparse
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from mininet.topo import Topo

# Abilene backbone, as in SNDlib's abilene network: node names and the 15 bidirectional links.
ABILENE_NODES = [
    "ATLAng", "ATLAM5", "CHINng", "DNVRng", "HSTNng", "IPLSng",
    "KSCYng", "LOSAng", "NYCMng", "SNVAng", "STTLng", "WASHng",
]
ABILENE_LINKS = [
    ("ATLAM5", "ATLAng"), ("ATLAng", "HSTNng"), ("ATLAng", "IPLSng"), ("ATLAng", "WASHng"),
    ("CHINng", "IPLSng"), ("CHINng", "NYCMng"), ("DNVRng", "KSCYng"), ("DNVRng", "SNVAng"),
    ("DNVRng", "STTLng"), ("HSTNng", "KSCYng"), ("HSTNng", "LOSAng"), ("IPLSng", "KSCYng"),
    ("LOSAng", "SNVAng"), ("NYCMng", "WASHng"), ("SNVAng", "STTLng"),
]

# Interface names are `<switch>-eth<n>` and at most 15 bytes (IFNAMSIZ - 1).
MAX_SWITCH_NAME = 9


def dpid(n):
    """Datapath ids 1..N, as 16 hex digits (Mininet's format), so the controller's view is stable."""
    return "%016x" % n


def host_ip(n):
    """The n-th host's address in 10.0.0.0/8 (10.0.0.1, ..., 10.0.1.0, ...)."""
    return "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255)


class LabTopo(Topo):
    """A topology whose switches get datapath ids 1..N in creation order and whose hosts are
    recorded by the switch they hang off (`host_of`), for traffic replay by switch name."""

    def build(self, **_opts):
        self.host_of = {}
        self.switch_links = 0

    def switch(self, name):
        n = len(self.switches()) + 1
        return self.addSwitch(name, dpid=dpid(n), protocols="OpenFlow13")

    def host(self, switch):
        n = len(self.hosts()) + 1
        host = self.addHost("h%d" % n, ip=host_ip(n) + "/8", mac="00:00:00:00:%02x:%02x" % (n >> 8 & 255, n & 255))
        self.addLink(host, switch)
        self.host_of.setdefault(switch, host)
        return host

    def cable(self, a, b):
        self.addLink(a, b)
        self.switch_links += 1


class Ring(LabTopo):
    """N switches s1..sN in a ring, a host on each."""

    def build(self, n=4):
        super().build()
        switches = [self.switch("s%d" % i) for i in range(1, n + 1)]
        for sw in switches:
            self.host(sw)
        for i in range(n if n > 2 else n - 1):
            self.cable(switches[i], switches[(i + 1) % n])


class Linear(LabTopo):
    """N switches s1..sN in a line, a host on each."""

    def build(self, n=4):
        super().build()
        switches = [self.switch("s%d" % i) for i in range(1, n + 1)]
        for sw in switches:
            self.host(sw)
        for a, b in zip(switches, switches[1:]):
            self.cable(a, b)


class FatTree(LabTopo):
    """k-ary fat-tree: (k/2)^2 core switches c<i>, k pods of k/2 aggregation a<pod>_<i> and k/2 edge
    e<pod>_<i> switches, k/2 hosts per edge switch."""

    def build(self, k=4):
        super().build()
        if k < 2 or k % 2:
            raise ValueError("fat-tree k must be even and at least 2, got %d" % k)
        half = k // 2
        cores = [self.switch("c%d" % i) for i in range(half * half)]
        for pod in range(k):
            aggs = [self.switch("a%d_%d" % (pod, i)) for i in range(half)]
            edges = [self.switch("e%d_%d" % (pod, i)) for i in range(half)]
            for i, agg in enumerate(aggs):
                for j in range(half):
                    self.cable(agg, cores[i * half + j])
                for edge in edges:
                    self.cable(agg, edge)
            for edge in edges:
                for _ in range(half):
                    self.host(edge)


class Named(LabTopo):
    """Switches named after the nodes of a network (Abilene, a topology file), a host on each."""

    def build(self, nodes=(), links=()):
        super().build()
        switches = {}
        for node in nodes:
            switches[node] = self.switch(node)
            self.host(switches[node])
        for a, b in links:
            self.cable(switches[a], switches[b])


def switch_name(node):
    """A node name as a switch (bridge and interface prefix) name: kept when it fits, otherwise
    its letters and digits cut to fit."""
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,%d}" % (MAX_SWITCH_NAME - 1), node):
        return node
    cleaned = re.sub(r"[^A-Za-z0-9_]", "", node)
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "n" + cleaned
    return cleaned[:MAX_SWITCH_NAME]


def read_topology_file(path):
    """(nodes, links) from an SNDlib native file (NODES ( name ( x y ) ... ) LINKS ( id ( a b ) ...
    ) ...) or a JSON file {"nodes": [names], "links": [[a, b], ...]}. Duplicate and self links are
    dropped; names are made valid switch names (see `switch_name`) and must stay unique."""
    with open(path) as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        nodes = [str(n["name"] if isinstance(n, dict) else n) for n in doc.get("nodes", [])]
        links = []
        for link in doc.get("links", []):
            if isinstance(link, dict):
                links.append((str(link["source"]), str(link["target"])))
            else:
                links.append((str(link[0]), str(link[1])))
    else:
        nodes, links = [], []
        section = None
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            head = re.match(r"([A-Z_]+)\s*\($", line)
            if head:
                section = head.group(1)
                continue
            if line == ")":
                section = None
                continue
            if section == "NODES":
                nodes.append(line.split()[0])
            elif section == "LINKS":
                ends = re.match(r"\S+\s*\(\s*(\S+)\s+(\S+)\s*\)", line)
                if not ends:
                    raise SystemExit("%s: cannot read the link line %r" % (path, raw))
                links.append((ends.group(1), ends.group(2)))
    if not nodes:
        raise SystemExit("%s: no nodes found (SNDlib NODES section, or JSON \"nodes\")" % path)
    names = {n: switch_name(n) for n in nodes}
    if len(set(names.values())) != len(names):
        raise SystemExit("%s: node names collide once cut to %d characters: %s" % (path, MAX_SWITCH_NAME, names))
    seen, cables = set(), []
    for a, b in links:
        if a not in names or b not in names:
            raise SystemExit("%s: link %s-%s names a node that is not in the node list" % (path, a, b))
        key = frozenset((a, b))
        if a != b and key not in seen:
            seen.add(key)
            cables.append((names[a], names[b]))
    return [names[n] for n in nodes], cables


TOPOLOGIES = ["ring", "linear", "fat-tree", "abilene"]


def make_topo(kind, size=4):
    """One of TOPOLOGIES, or a topology file's path; `size` is N for ring/linear, k for fat-tree."""
    if kind == "ring":
        return Ring(n=size)
    if kind == "linear":
        return Linear(n=size)
    if kind == "fat-tree":
        return FatTree(k=size)
    if kind == "abilene":
        return Named(nodes=ABILENE_NODES, links=ABILENE_LINKS)
    if os.path.isfile(kind):
        nodes, links = read_topology_file(kind)
        return Named(nodes=nodes, links=links)
    raise SystemExit("--topology %r is neither one of %s nor a file" % (kind, ", ".join(TOPOLOGIES)))


# --- Open vSwitch -------------------------------------------------------------------------------

OVS_RUN = "/var/run/openvswitch"
OVS_DB = "/etc/openvswitch/conf.db"
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def ovs_running():
    return subprocess.run(["ovs-vsctl", "--timeout=2", "show"], capture_output=True).returncode == 0


def ensure_ovs():
    """Starts ovsdb-server and ovs-vswitchd (userspace datapath only) unless Open vSwitch answers
    already. Returns a function that stops what was started (nothing when it was running)."""
    if ovs_running():
        return lambda: None
    print("*** Starting Open vSwitch (ovsdb-server, ovs-vswitchd --disable-system)", flush=True)
    os.makedirs(OVS_RUN, exist_ok=True)
    os.makedirs(os.path.dirname(OVS_DB), exist_ok=True)
    if not os.path.exists(OVS_DB):
        subprocess.run(["ovsdb-tool", "create", OVS_DB, OVS_SCHEMA], check=True)
    subprocess.run([
        "ovsdb-server", "--remote=punix:%s/db.sock" % OVS_RUN, "--pidfile", "--detach",
        "--log-file", OVS_DB,
    ], check=True)
    subprocess.run(["ovs-vsctl", "--timeout=10", "--no-wait", "init"], check=True)
    # No kernel datapath here: the lab's bridges are `datapath_type=netdev`.
    subprocess.run(["ovs-vswitchd", "--pidfile", "--detach", "--log-file", "--disable-system"], check=True)
    subprocess.run(["ovs-vsctl", "--timeout=10", "show"], check=True, capture_output=True)

    def stop():
        print("*** Stopping the Open vSwitch this lab started", flush=True)
        subprocess.run(["ovs-appctl", "-t", "ovs-vswitchd", "exit", "--cleanup"], capture_output=True)
        subprocess.run(["ovs-appctl", "-t", "ovsdb-server", "exit"], capture_output=True)

    return stop


def remove_leftovers(topo):
    """Bridges and switch-side interfaces of an earlier run of this topology that died before
    cleaning up, by this lab's names only (`mn -c` would also kill unrelated processes)."""
    for sw in topo.switches():
        subprocess.run(["ovs-vsctl", "--timeout=5", "--if-exists", "del-br", sw], check=False)
    ours = re.compile(r"(%s)-eth[0-9]+" % "|".join(map(re.escape, topo.switches())))
    for dev in os.listdir("/sys/class/net"):
        if ours.fullmatch(dev):
            subprocess.run(["ip", "link", "del", dev], check=False)


# --- The network --------------------------------------------------------------------------------

def parse_controllers(texts):
    out = []
    for text in texts:
        host, _, port = text.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit("--controller %r: expected HOST:PORT" % text)
        out.append((host, int(port)))
    return out


def build_net(topo, switch="ovs", controllers=(("127.0.0.1", 6653),), ipv6=False):
    """A Mininet network of `topo` (not started) with every switch pointed at `controllers`
    (Open vSwitch), or of BMv2 switches that the controller reaches over P4Runtime (`bmv2.py`;
    their `[[p4runtime]]` sections come from `bmv2.p4runtime_config(net.switches)`). IPv6 is
    off on every lab interface unless `ipv6` (see `quiet_hosts`)."""
    from functools import partial

    from mininet.net import Mininet
    from mininet.node import OVSSwitch, RemoteController

    class Remote(RemoteController):
        """Mininet's own check pipes into `telnet`, which now and then hangs on the open
        OpenFlow session; a plain connect says the same."""

        def checkListening(self):
            try:
                socket.create_connection((self.ip, self.port), timeout=2).close()
            except OSError as e:
                print("*** Warning: no controller listening at %s:%d (%s)" % (self.ip, self.port, e), flush=True)

    if switch == "ovs":
        net = Mininet(topo=topo, controller=None, autoSetMacs=False, build=False,
                      switch=partial(OVSSwitch, datapath="user", protocols="OpenFlow13", failMode="secure"))
        for i, (ip, port) in enumerate(controllers):
            net.addController("c%d" % i, controller=Remote, ip=ip, port=port)
    elif switch == "bmv2":
        from bmv2 import Bmv2Host, Bmv2Switch
        net = Mininet(topo=topo, switch=Bmv2Switch, host=Bmv2Host, controller=None, autoSetMacs=False, build=False)
    else:
        raise SystemExit("--switch %r: expected ovs or bmv2" % switch)
    net.build()
    if not ipv6:
        quiet_hosts(net)
    return net


def quiet_hosts(net):
    """IPv6 off on every lab interface (the hosts' and the switches' side of each veth) before the
    switches start. Their router solicitations and multicast listener reports at link-up are
    flooded while the controller is still discovering links and has no loop guard yet. Before
    the controller dropped looped copies (session 23), thousands circled a fat-tree k=4 for
    seconds and the first pings drowned; since, `--ipv6` (hosts as plain Mininet makes them)
    pings all pairs on the first try too, but the lab stays quiet by default: IPv6 is not
    what it measures."""
    for host in net.hosts:
        host.cmd("sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
    for switch in net.switches:
        for intf in switch.intfList():
            if intf.name != "lo":
                subprocess.run(["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % intf.name], check=False)


def tcp_ready(net):
    """Transmit checksum offload off on every host interface: the hosts' veths leave TCP checksums
    to offload, and Open vSwitch's userspace datapath forwards them uncomputed, so receivers drop
    every TCP segment (ping, whose checksums the kernel always computes, still works)."""
    for host in net.hosts:
        for intf in host.intfList():
            if intf.name != "lo":
                out = host.cmd("ethtool -K %s tx off 2>&1 >/dev/null; echo rc=$?" % intf.name)
                if "rc=0" not in out:
                    raise SystemExit("ethtool -K %s tx off failed on %s: %s (is ethtool installed?)" % (intf.name, host.name, out.strip()))


# --- The controller's view ----------------------------------------------------------------------

def api_get(api, path, token=None):
    req = urllib.request.Request(api.rstrip("/") + "/api/v1" + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read().decode())


def expected_view(topo, switch="ovs"):
    """The device ids and the directed switch-to-switch links (as device-id pairs, with
    multiplicity) the controller must show for `topo` (BMv2 device ids are the dpids)."""
    if switch == "bmv2":
        ids = {sw: "p4:%d" % int(topo.nodeInfo(sw)["dpid"], 16) for sw in topo.switches()}
    else:
        ids = {sw: "of:" + topo.nodeInfo(sw)["dpid"] for sw in topo.switches()}
    links = {}
    for a, b in topo.links():
        if a in ids and b in ids:
            for key in ((ids[a], ids[b]), (ids[b], ids[a])):
                links[key] = links.get(key, 0) + 1
    return ids, links


def wait_for_controller(topo, api, token=None, timeout=60.0, switch="ovs"):
    """Polls the REST API until every switch is up and every link discovered; exits with what is
    missing after `timeout` seconds."""
    ids, want = expected_view(topo, switch)
    print("*** Waiting for the controller at %s to discover %d switches and %d links" % (api, len(ids), sum(want.values())), flush=True)
    deadline = time.monotonic() + timeout
    missing_devices, missing_links, error = sorted(ids.values()), sorted(want), None
    while time.monotonic() < deadline:
        try:
            devices = {d["id"] for d in api_get(api, "/devices", token) if d.get("up")}
            seen = {}
            for link in api_get(api, "/links", token):
                key = (link["src"].rsplit(":", 1)[0], link["dst"].rsplit(":", 1)[0])
                seen[key] = seen.get(key, 0) + 1
            error = None
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            error = e
            time.sleep(0.5)
            continue
        name_of = {v: k for k, v in ids.items()}
        missing_devices = sorted(name_of[d] for d in ids.values() if d not in devices)
        missing_links = sorted("%s->%s" % (name_of[a], name_of[b]) for (a, b), n in want.items() if seen.get((a, b), 0) < n)
        if not missing_devices and not missing_links:
            print("*** The controller shows the whole topology", flush=True)
            return
        time.sleep(0.5)
    if error is not None:
        raise SystemExit("the controller's REST API at %s did not answer within %.0f s: %s" % (api, timeout, error))
    raise SystemExit("the controller did not discover the topology within %.0f s; switches missing: %s; links missing: %s"
                     % (timeout, ", ".join(missing_devices) or "none", ", ".join(missing_links) or "none"))


# --- Traffic ------------------------------------------------------------------------------------

# Seconds one ping waits for its answer (Mininet's pingAll default is none: wait forever).
PING_TIMEOUT = 2

def wait_listening(host, port, timeout=5.0):
    """Waits until a TCP listener on `port` shows in `host`'s namespace (iperf3 binds after it
    starts, and 3.12 clients do not retry a refused connection)."""
    deadline = time.monotonic() + timeout
    while ":%d " % port not in host.cmd("ss -ltnH") and time.monotonic() < deadline:
        time.sleep(0.1)


def iperf_flows(flows, seconds=5):
    """Runs iperf3 flows side by side for `seconds`; each flow is (client, server, udp_bps or
    None for TCP, port). Returns the bits/s each receiver saw, in order."""
    listeners, clients = [], []
    try:
        for _, server, _, port in flows:
            listeners.append(server.popen(["iperf3", "-s", "-1", "-p", str(port)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _, server, _, port in flows:
            wait_listening(server, port)
        for client, server, udp_bps, port in flows:
            mode = ["-u", "-b", str(int(udp_bps))] if udp_bps else []
            clients.append(client.popen(["timeout", str(seconds + 30), "iperf3", "-c", server.IP(), "-p", str(port),
                                         "-t", str(seconds), "-J"] + mode,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        outputs = [c.communicate()[0].decode(errors="replace") for c in clients]
    finally:
        for p in listeners + clients:
            if p.poll() is None:
                p.terminate()
            p.wait()
    rates = []
    for (client, server, _, _), out in zip(flows, outputs):
        try:
            end = json.loads(out[out.index("{"):])["end"]
            summary = end.get("sum_received") or end["sum"]
            rates.append(float(summary["bits_per_second"]))
        except (ValueError, KeyError, TypeError) as e:
            raise SystemExit("iperf3 %s -> %s failed: %s\n%s" % (client.name, server.name, e, out[-2000:]))
    return rates


def iperf_pair(client, server, seconds=5, udp_bps=None, port=5201):
    """One iperf3 run from `client` to `server`; returns the receiver's bits/s."""
    return iperf_flows([(client, server, udp_bps, port)], seconds)[0]


def read_trace(path):
    """(pairs, rows): `time,SRC->DST,...` columns in Mbit/s (the ../shared/data layout); an empty
    cell is a pair absent from that snapshot and is sent nothing in that interval."""
    with open(path) as f:
        reader = csv.reader(f)
        header = next(reader)
        pairs = []
        for col in header[1:]:
            src, sep, dst = col.partition("->")
            if not sep:
                raise SystemExit("%s: column %r is not SRC->DST" % (path, col))
            pairs.append((src.strip(), dst.strip()))
        rows = []
        for row in reader:
            rows.append((row[0], [float(v) if v.strip() else None for v in row[1:]]))
    return pairs, rows


def trace_hosts(net, topo, names):
    """The host standing for each trace node: the host on the switch of that name, else (a trace
    of another network) the nodes in sorted order onto the hosts in order."""
    by_switch = {sw: net.get(h) for sw, h in topo.host_of.items()}
    if all(switch_name(n) in by_switch for n in names):
        return {n: by_switch[switch_name(n)] for n in names}
    print("*** Trace nodes are not this topology's switches: mapping them onto hosts in order", flush=True)
    return {n: net.hosts[i % len(net.hosts)] for i, n in enumerate(sorted(names))}


def replay(net, topo, path, scale=0.01, speed=60.0, start=0, intervals=12, interval_secs=300.0):
    """Replays `intervals` snapshots of a traffic matrix from row `start`: for each, every pair
    sends UDP at its rate times `scale` with iperf3 for the interval's length divided by `speed`.
    Returns the number of iperf3 client runs that failed."""
    pairs, rows = read_trace(path)
    rows = rows[start:start + intervals]
    if not rows:
        raise SystemExit("%s: no rows from %d" % (path, start))
    hosts = trace_hosts(net, topo, {n for p in pairs for n in p})
    step = interval_secs / speed
    # One iperf3 server per pair: a server runs one test at a time.
    ports, servers = {}, []
    for i, (src, dst) in enumerate(pairs):
        if hosts[src] is not hosts[dst]:
            ports[(src, dst)] = 6000 + i
            servers.append(hosts[dst].popen(["iperf3", "-s", "-p", str(ports[(src, dst)])],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for src, dst in ports:
        wait_listening(hosts[dst], ports[(src, dst)])
    # Every host speaks once first (ARP, the controller learns where it is), as the hosts of a
    # running network have; otherwise 130 first connections race their own address resolution.
    net.pingAll(timeout=PING_TIMEOUT)
    print("*** Replaying %d intervals of %s, %.1f s each, %d pairs, rates x %g" % (len(rows), path, step, len(ports), scale), flush=True)
    failed = 0
    for stamp, values in rows:
        clients = []
        total = 0.0
        for (src, dst), mbps in zip(pairs, values):
            if mbps is None or (src, dst) not in ports:
                continue
            bps = int(mbps * 1e6 * scale)
            if bps < 1000:
                continue
            total += bps
            clients.append(hosts[src].popen(
                ["iperf3", "-c", hosts[dst].IP(), "-p", str(ports[(src, dst)]), "-u", "-b", str(bps),
                 "-t", "%.1f" % max(step - 0.5, 1.0), "-l", "1200"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        print("*** %s: %d flows, %.2f Mbit/s offered" % (stamp, len(clients), total / 1e6), flush=True)
        t0 = time.monotonic()
        # An iperf3 client whose control connection lost the server's results waits for them
        # forever (iperf3 3.12): past the interval plus a grace it is stopped and counted failed.
        deadline = t0 + step + 5.0
        for c in clients:
            try:
                failed += c.wait(timeout=max(0.1, deadline - time.monotonic())) != 0
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
                failed += 1
        time.sleep(max(0.0, step - (time.monotonic() - t0)))
    for server in servers:
        server.terminate()
        server.wait()
    return failed


# --- Command line -------------------------------------------------------------------------------

def main():
    from mininet.cli import CLI
    from mininet.log import setLogLevel

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topology", default="ring", help="ring, linear, fat-tree, abilene, or a topology file (SNDlib native or JSON)")
    parser.add_argument("--size", type=int, default=4, help="switches (ring, linear) or k (fat-tree)")
    parser.add_argument("--switch", choices=["ovs", "bmv2"], default="ovs",
                        help="Open vSwitch (userspace datapath, OpenFlow) or BMv2 simple_switch_grpc (P4Runtime, mininet/bmv2.py)")
    parser.add_argument("--p4-config", default="prescient-bmv2.toml",
                        help="with --switch bmv2: where the [[p4runtime]] sections for `prescient run --config` are written")
    parser.add_argument("--controller", action="append", default=[], metavar="HOST:PORT",
                        help="OpenFlow controller address; repeat for several (default 127.0.0.1:6653)")
    parser.add_argument("--api", default="http://127.0.0.1:8080", help="the controller's REST API, polled until it shows the whole topology")
    parser.add_argument("--token", default=os.environ.get("PRESCIENT_API_TOKEN"), help="API token, when reads are protected (default $PRESCIENT_API_TOKEN)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the controller to discover the topology")
    parser.add_argument("--no-wait", action="store_true", help="send traffic without waiting for the controller")
    parser.add_argument("--ipv6", action="store_true", help="leave IPv6 on, as plain Mininet does (the hosts' router solicitations are flooded while links are still being discovered)")
    parser.add_argument("--test", choices=["pingall", "iperf", "replay"], help="a scripted run; the exit status says whether it passed")
    parser.add_argument("--cli", action="store_true", help="Mininet's CLI (after --test or --replay, if given)")
    parser.add_argument("--replay", metavar="TRACE", help="traffic matrix CSV (time,SRC->DST,... in Mbit/s) replayed with iperf3 UDP")
    parser.add_argument("--scale", type=float, default=0.01, help="replayed rates are multiplied by this")
    parser.add_argument("--speed", type=float, default=60.0, help="time compression of the replay (a 5-minute snapshot lasts 300/speed s)")
    parser.add_argument("--start", type=int, default=0, help="first snapshot (row) replayed")
    parser.add_argument("--intervals", type=int, default=12, help="snapshots replayed")
    args = parser.parse_args()
    if args.test == "replay" and not args.replay:
        parser.error("--test replay needs --replay TRACE")
    if os.geteuid() != 0:
        parser.error("run as root (Mininet creates namespaces and interfaces)")

    setLogLevel("info")
    # SIGTERM (a test's cleanup, `timeout`) unwinds through `finally`, so the network is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    topo = make_topo(args.topology, args.size)
    stop_ovs = ensure_ovs() if args.switch == "ovs" else (lambda: None)
    net = None
    status = 0
    try:
        remove_leftovers(topo)
        net = build_net(topo, args.switch, parse_controllers(args.controller or ["127.0.0.1:6653"]), ipv6=args.ipv6)
        net.start()
        tcp_ready(net)
        if args.switch == "bmv2":
            from bmv2 import p4runtime_config
            with open(args.p4_config, "w") as f:
                f.write(p4runtime_config(net.switches))
            print("*** Wrote %s: start `prescient run --config %s` (or add its sections to yours)" % (args.p4_config, args.p4_config), flush=True)
        if not args.no_wait:
            wait_for_controller(topo, args.api, args.token, args.wait, args.switch)
        if args.test == "pingall":
            status = 0 if net.pingAll(timeout=PING_TIMEOUT) == 0 else 1
        elif args.test == "iperf":
            first, last = net.hosts[0], net.hosts[-1]
            bps = iperf_pair(first, last, seconds=5)
            print("*** iperf3 TCP %s -> %s: %.1f Mbit/s" % (first.name, last.name, bps / 1e6), flush=True)
            status = 0 if bps > 0 else 1
        if args.replay:
            failed = replay(net, topo, args.replay, args.scale, args.speed, args.start, args.intervals)
            print("*** Replay done: %d iperf3 runs failed" % failed, flush=True)
            if args.test == "replay":
                status = 0 if failed == 0 else 1
        if args.cli or not (args.test or args.replay):
            CLI(net)
    finally:
        if net is not None:
            net.stop()
        stop_ovs()
    sys.exit(status)


if __name__ == "__main__":
    main()
