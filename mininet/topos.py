"""Mininet lab topologies for Prescient.

The same shapes as `prescient sim --topology ...`: ring, linear, fat-tree (k-ary) and the Abilene
backbone (12 routers, 15 links), one host per edge switch. Switches are Open vSwitch with the userspace
datapath (no kernel module needed) speaking OpenFlow 1.3 to a remote controller, or BMv2
`simple_switch_grpc` (see bmv2.py) driven over P4Runtime.

    sudo python3 mininet/topos.py --topology abilene --controller 127.0.0.1:6653
"""

import argparse

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


def dpid(n):
    """Datapath ids 1..N, as 16 hex digits (Mininet's format), so the controller's view is stable."""
    return "%016x" % n


class Ring(Topo):
    """N switches in a ring, a host on each."""

    def build(self, n=4):
        switches = [self.addSwitch("s%d" % i, dpid=dpid(i), protocols="OpenFlow13") for i in range(1, n + 1)]
        for i, sw in enumerate(switches, start=1):
            self.addLink(self.addHost("h%d" % i, ip="10.0.0.%d/8" % i), sw)
        for i in range(n if n > 2 else n - 1):
            self.addLink(switches[i], switches[(i + 1) % n])


class Linear(Topo):
    """N switches in a line, a host on each."""

    def build(self, n=4):
        switches = [self.addSwitch("s%d" % i, dpid=dpid(i), protocols="OpenFlow13") for i in range(1, n + 1)]
        for i, sw in enumerate(switches, start=1):
            self.addLink(self.addHost("h%d" % i, ip="10.0.0.%d/8" % i), sw)
        for a, b in zip(switches, switches[1:]):
            self.addLink(a, b)


class FatTree(Topo):
    """k-ary fat-tree: (k/2)^2 core, k pods of k/2 aggregation and k/2 edge switches, k/2 hosts per edge."""

    def build(self, k=4):
        if k % 2:
            raise ValueError("fat-tree k must be even, got %d" % k)
        half = k // 2
        counter = [0]

        def switch(name):
            counter[0] += 1
            return self.addSwitch(name, dpid=dpid(counter[0]), protocols="OpenFlow13")

        cores = [switch("c%d" % i) for i in range(half * half)]
        host_no = 0
        for pod in range(k):
            aggs = [switch("a%d_%d" % (pod, i)) for i in range(half)]
            edges = [switch("e%d_%d" % (pod, i)) for i in range(half)]
            for i, agg in enumerate(aggs):
                for j in range(half):
                    self.addLink(agg, cores[i * half + j])
                for edge in edges:
                    self.addLink(agg, edge)
            for edge in edges:
                for _ in range(half):
                    host_no += 1
                    host = self.addHost("h%d" % host_no, ip="10.%d.%d.%d/8" % (
                        host_no >> 16 & 255, host_no >> 8 & 255, host_no & 255))
                    self.addLink(host, edge)


class Abilene(Topo):
    """The Abilene backbone: 12 switches named after its routers, a host on each."""

    def build(self):
        switches = {}
        for i, name in enumerate(ABILENE_NODES, start=1):
            switches[name] = self.addSwitch("s%d" % i, dpid=dpid(i), protocols="OpenFlow13")
            self.addLink(self.addHost("h%d" % i, ip="10.0.0.%d/8" % i), switches[name])
        for a, b in ABILENE_LINKS:
            self.addLink(switches[a], switches[b])


TOPOS = {
    "ring": Ring,
    "linear": Linear,
    "fat-tree": FatTree,
    "abilene": Abilene,
}


def make_topo(kind, size):
    """Builds one of TOPOS; `size` is N for ring/linear and k for fat-tree, ignored for abilene."""
    cls = TOPOS[kind]
    if kind == "abilene":
        return cls()
    if kind == "fat-tree":
        return cls(k=size)
    return cls(n=size)


def main():
    from functools import partial

    from mininet.cli import CLI
    from mininet.log import setLogLevel
    from mininet.net import Mininet
    from mininet.node import OVSSwitch, RemoteController

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topology", choices=sorted(TOPOS), default="ring")
    parser.add_argument("--size", type=int, default=4, help="switches (ring, linear) or k (fat-tree)")
    parser.add_argument("--controller", default="127.0.0.1:6653", help="the controller's OpenFlow address")
    parser.add_argument("--test", choices=["cli", "pingall", "iperf"], default="cli")
    args = parser.parse_args()

    setLogLevel("info")
    host, _, port = args.controller.rpartition(":")
    switch = partial(OVSSwitch, datapath="user", protocols="OpenFlow13", failMode="secure")
    net = Mininet(
        topo=make_topo(args.topology, args.size),
        switch=switch,
        controller=partial(RemoteController, ip=host, port=int(port)),
        autoSetMacs=True,
    )
    net.start()
    try:
        if args.test == "pingall":
            loss = net.pingAll(timeout=2)
            raise SystemExit(0 if loss == 0 else 1)
        if args.test == "iperf":
            first, last = net.hosts[0], net.hosts[-1]
            net.iperf((first, last), seconds=5)
        else:
            CLI(net)
    finally:
        net.stop()


if __name__ == "__main__":
    main()
