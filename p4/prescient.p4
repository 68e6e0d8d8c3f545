/*
 * prescient.p4: the data-plane program Prescient programs over P4Runtime.
 *
 * Target: BMv2 simple_switch_grpc, v1model architecture, started with `--cpu-port 255`.
 * Compile: p4c --target bmv2 --arch v1model --p4runtime-files prescient.p4info.txt prescient.p4
 *
 * The controller resolves every table, action, field and extern by the names below (the contract in
 * p4/README.md), never by id: ids are whatever p4c assigns.
 *
 * Ingress pipeline:
 *   packet_out from the CPU port  -> sent to packet_out.egress_port unchanged, nothing else applies.
 *   LLDP (0x88cc), ARP (0x0806)   -> punted to the CPU with a packet_in header.
 *   IPv4                          -> acl -> translate_dst -> service_select -> pair_count -> flow_meter
 *                                    -> ipv4_lpm, then translate_src rewrites the source of replies
 *                                    leaving the fabric.
 *   A (src mac, src ip, ingress port) triple not seen before on IPv4/ARP raises a learned_host_t digest.
 */

#include <core.p4>
#include <v1model.p4>

const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_ARP  = 0x0806;
const bit<16> ETHERTYPE_LLDP = 0x88cc;
const bit<8>  IP_PROTO_TCP   = 6;
const bit<8>  IP_PROTO_UDP   = 17;

const bit<9>  CPU_PORT = 255;

/* BMv2's meter colours. */
const bit<2>  METER_GREEN  = 0;
const bit<2>  METER_YELLOW = 1;
const bit<2>  METER_RED    = 2;

/* Queue priority of best-effort traffic. simple_switch drops a packet whose priority has no queue
 * (it has one queue per port unless started with --priority-queues N), so the priority of reserved
 * traffic is not a constant: the controller passes it in each meter_flow entry, 0 unless it was
 * told the target has priority queues. */
const bit<3>  PRIORITY_BEST_EFFORT = 0;

/* Size of the learned-host filter: a hash of (mac, ip, port) selects one bit. A collision hides a new
 * host until the controller sees it some other way (ARP punt); it never raises a false digest. */
const bit<32> LEARN_FILTER_SIZE = 4096;

typedef bit<9>  port_t;
typedef bit<48> mac_t;
typedef bit<32> ipv4_addr_t;

@controller_header("packet_in")
header packet_in_t {
    port_t ingress_port;
    bit<7> _pad;
}

@controller_header("packet_out")
header packet_out_t {
    port_t egress_port;
    bit<7> _pad;
}

header ethernet_t {
    mac_t   dst_addr;
    mac_t   src_addr;
    bit<16> ether_type;
}

header arp_t {
    bit<16>     hw_type;
    bit<16>     proto_type;
    bit<8>      hw_addr_len;
    bit<8>      proto_addr_len;
    bit<16>     opcode;
    mac_t       sender_mac;
    ipv4_addr_t sender_ip;
    mac_t       target_mac;
    ipv4_addr_t target_ip;
}

header ipv4_t {
    bit<4>      version;
    bit<4>      ihl;
    bit<8>      dscp_ecn;
    bit<16>     total_len;
    bit<16>     identification;
    bit<3>      flags;
    bit<13>     frag_offset;
    bit<8>      ttl;
    bit<8>      protocol;
    bit<16>     hdr_checksum;
    ipv4_addr_t src_addr;
    ipv4_addr_t dst_addr;
}

header tcp_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> seq_no;
    bit<32> ack_no;
    bit<4>  data_offset;
    bit<4>  reserved;
    bit<8>  flags;
    bit<16> window;
    bit<16> checksum;
    bit<16> urgent_ptr;
}

header udp_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

struct headers_t {
    packet_out_t packet_out;
    packet_in_t  packet_in;
    ethernet_t   ethernet;
    arp_t        arp;
    ipv4_t       ipv4;
    tcp_t        tcp;
    udp_t        udp;
}

/* Digest sent to the controller for each newly seen host. */
struct learned_host_t {
    mac_t       mac;
    ipv4_addr_t ip;
    port_t      port;
}

struct local_metadata_t {
    bit<16> l4_src_port;
    bit<16> l4_dst_port;
    /* Length of the IPv4 payload, for the TCP/UDP pseudo-header checksum after address rewrites. */
    bit<16> l4_len;
    bit<2>  meter_color;
    bit<3>  reserved_priority;
    /* Set when an action rewrote an IPv4 address, so the L4 checksum must be recomputed. */
    bool    addr_rewritten;
}

parser PrescientParser(packet_in packet,
                       out headers_t hdr,
                       inout local_metadata_t local_metadata,
                       inout standard_metadata_t standard_metadata) {
    state start {
        transition select(standard_metadata.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }

    state parse_packet_out {
        packet.extract(hdr.packet_out);
        transition parse_ethernet;
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            ETHERTYPE_ARP: parse_arp;
            default: accept;
        }
    }

    state parse_arp {
        packet.extract(hdr.arp);
        transition accept;
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        /* L4 ports exist only in the first fragment of an option-less header; anything else keeps
         * ports 0 so ACL port matches cannot be evaded by fragmenting. */
        transition select(hdr.ipv4.ihl, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (4w5, 13w0, IP_PROTO_TCP): parse_tcp;
            (4w5, 13w0, IP_PROTO_UDP): parse_udp;
            default: accept;
        }
    }

    state parse_tcp {
        packet.extract(hdr.tcp);
        local_metadata.l4_src_port = hdr.tcp.src_port;
        local_metadata.l4_dst_port = hdr.tcp.dst_port;
        transition accept;
    }

    state parse_udp {
        packet.extract(hdr.udp);
        local_metadata.l4_src_port = hdr.udp.src_port;
        local_metadata.l4_dst_port = hdr.udp.dst_port;
        transition accept;
    }
}

control PrescientVerifyChecksum(inout headers_t hdr, inout local_metadata_t local_metadata) {
    apply {
        verify_checksum(hdr.ipv4.isValid() && hdr.ipv4.ihl == 5,
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp_ecn, hdr.ipv4.total_len,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl,
              hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);
    }
}

control PrescientIngress(inout headers_t hdr,
                         inout local_metadata_t local_metadata,
                         inout standard_metadata_t standard_metadata) {

    counter(512, CounterType.packets_and_bytes) rx_port_counter;
    direct_counter(CounterType.packets_and_bytes) ipv4_lpm_counter;
    /* Traffic per (source host, destination host) where the source enters the fabric: the
     * controller's per-pair series and forecasts. */
    direct_counter(CounterType.packets_and_bytes) pair_counter;
    direct_meter<bit<2>>(MeterType.bytes) flow_meter_direct;
    register<bit<1>>(LEARN_FILTER_SIZE) learned_filter;

    @max_group_size(64)
    action_selector(HashAlgorithm.crc16, 32w4096, 32w16) service_selector;

    action drop() {
        mark_to_drop(standard_metadata);
    }

    action punt_to_cpu() {
        standard_metadata.egress_spec = CPU_PORT;
    }

    action set_physical_dst(bit<32> physical_ip, bit<48> physical_mac) {
        hdr.ipv4.dst_addr = physical_ip;
        hdr.ethernet.dst_addr = physical_mac;
        local_metadata.addr_rewritten = true;
    }

    action set_logical_src(bit<32> logical_ip, bit<48> logical_mac) {
        hdr.ipv4.src_addr = logical_ip;
        hdr.ethernet.src_addr = logical_mac;
        local_metadata.addr_rewritten = true;
    }

    action set_backend(bit<32> backend_ip, bit<48> backend_mac) {
        hdr.ipv4.dst_addr = backend_ip;
        hdr.ethernet.dst_addr = backend_mac;
        local_metadata.addr_rewritten = true;
    }

    /* reserved_priority: the queue of traffic within its reservation (GREEN). */
    action count_pair() {
    }

    action meter_flow(bit<3> reserved_priority) {
        flow_meter_direct.read(local_metadata.meter_color);
        local_metadata.reserved_priority = reserved_priority;
    }

    action forward(bit<9> port, bit<48> src_mac, bit<48> dst_mac) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }

    table acl {
        key = {
            standard_metadata.ingress_port: ternary;
            hdr.ethernet.dst_addr: ternary;
            hdr.ethernet.src_addr: ternary;
            hdr.ethernet.ether_type: ternary;
            hdr.ipv4.src_addr: ternary;
            hdr.ipv4.dst_addr: ternary;
            hdr.ipv4.protocol: ternary;
            local_metadata.l4_src_port: ternary;
            local_metadata.l4_dst_port: ternary;
        }
        actions = {
            drop;
            punt_to_cpu;
            NoAction;
        }
        default_action = NoAction();
        size = 1024;
    }

    table translate_dst {
        key = {
            hdr.ipv4.dst_addr: exact;
        }
        actions = {
            set_physical_dst;
            NoAction;
        }
        default_action = NoAction();
        size = 4096;
    }

    table translate_src {
        key = {
            hdr.ipv4.src_addr: exact;
        }
        actions = {
            set_logical_src;
            NoAction;
        }
        default_action = NoAction();
        size = 4096;
    }

    table service_select {
        key = {
            hdr.ipv4.dst_addr: exact;
            /* The exact key fixes dst_addr within an entry, so hashing it would add nothing. */
            hdr.ipv4.src_addr: selector;
            hdr.ipv4.protocol: selector;
            local_metadata.l4_src_port: selector;
            local_metadata.l4_dst_port: selector;
        }
        actions = {
            set_backend;
            @defaultonly NoAction;
        }
        implementation = service_selector;
        const default_action = NoAction();
        size = 1024;
    }

    /* Filled by the controller with the host pairs whose source is attached to this switch. Counted
     * after translation (the backend, not the VIP) and before the meter (what was offered, not
     * what the reservation let through). */
    table pair_count {
        key = {
            hdr.ipv4.src_addr: exact;
            hdr.ipv4.dst_addr: exact;
        }
        actions = {
            count_pair;
            @defaultonly NoAction;
        }
        counters = pair_counter;
        default_action = NoAction();
        size = 4096;
    }

    /* A reservation's traffic: any field may be a wildcard, so a reservation meters exactly what it
     * matches (a UDP reservation of a host pair leaves the pair's TCP alone). Overlapping entries
     * are told apart by priority, the more specific first (p4/README.md). Ports are 0 unless the
     * packet is the first fragment of TCP or UDP, as in acl. */
    table flow_meter {
        key = {
            hdr.ipv4.src_addr: ternary;
            hdr.ipv4.dst_addr: ternary;
            hdr.ipv4.protocol: ternary;
            local_metadata.l4_src_port: ternary;
            local_metadata.l4_dst_port: ternary;
        }
        actions = {
            meter_flow;
            NoAction;
        }
        meters = flow_meter_direct;
        default_action = NoAction();
        size = 1024;
    }

    table ipv4_lpm {
        key = {
            hdr.ipv4.dst_addr: lpm;
        }
        actions = {
            forward;
            drop;
        }
        counters = ipv4_lpm_counter;
        default_action = drop();
        size = 4096;
    }

    apply {
        rx_port_counter.count((bit<32>) standard_metadata.ingress_port);

        if (hdr.packet_out.isValid()) {
            standard_metadata.egress_spec = hdr.packet_out.egress_port;
            hdr.packet_out.setInvalid();
        } else if (hdr.ethernet.isValid()) {
            /* Learning: the first time (mac, ip, port) is seen, raise a digest; the register
             * remembers it. Kept in the apply block because BMv2 cannot predicate extern calls
             * inside actions. */
            if (hdr.arp.isValid() || hdr.ipv4.isValid()) {
                ipv4_addr_t learned_ip = hdr.arp.isValid() ? hdr.arp.sender_ip : hdr.ipv4.src_addr;
                bit<32> slot;
                hash(slot, HashAlgorithm.crc32, 32w0,
                     { hdr.ethernet.src_addr, learned_ip, standard_metadata.ingress_port },
                     LEARN_FILTER_SIZE);
                bit<1> seen;
                learned_filter.read(seen, slot);
                if (seen == 0) {
                    learned_filter.write(slot, 1);
                    digest<learned_host_t>(1, { hdr.ethernet.src_addr, learned_ip,
                                                standard_metadata.ingress_port });
                }
            }

            if (hdr.ethernet.ether_type == ETHERTYPE_LLDP || hdr.arp.isValid()) {
                punt_to_cpu();
            } else if (hdr.ipv4.isValid()) {
                local_metadata.meter_color = METER_GREEN;
                local_metadata.addr_rewritten = false;
                local_metadata.l4_len = hdr.ipv4.total_len - ((bit<16>) hdr.ipv4.ihl) * 4;

                bool stop = false;
                switch (acl.apply().action_run) {
                    drop: { stop = true; }
                    punt_to_cpu: { stop = true; }
                    default: { }
                }
                if (!stop && hdr.ipv4.ttl <= 1) {
                    drop();
                    stop = true;
                }
                if (!stop) {
                    translate_dst.apply();
                    service_select.apply();
                    pair_count.apply();
                    if (flow_meter.apply().hit) {
                        if (local_metadata.meter_color == METER_RED) {
                            drop();
                            stop = true;
                        } else if (local_metadata.meter_color == METER_YELLOW) {
                            standard_metadata.priority = PRIORITY_BEST_EFFORT;
                        } else {
                            standard_metadata.priority = local_metadata.reserved_priority;
                        }
                    }
                }
                if (!stop) {
                    ipv4_lpm.apply();
                    translate_src.apply();
                }
            } else {
                /* Neither IPv4, ARP nor LLDP: this program does not switch it. */
                drop();
            }
        } else {
            drop();
        }
    }
}

control PrescientEgress(inout headers_t hdr,
                        inout local_metadata_t local_metadata,
                        inout standard_metadata_t standard_metadata) {

    counter(512, CounterType.packets_and_bytes) tx_port_counter;

    apply {
        tx_port_counter.count((bit<32>) standard_metadata.egress_port);
        if (standard_metadata.egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = standard_metadata.ingress_port;
            hdr.packet_in._pad = 0;
        }
    }
}

control PrescientComputeChecksum(inout headers_t hdr, inout local_metadata_t local_metadata) {
    apply {
        update_checksum(hdr.ipv4.isValid() && hdr.ipv4.ihl == 5,
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp_ecn, hdr.ipv4.total_len,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl,
              hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr },
            hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);

        /* The TCP/UDP checksum covers the IPv4 addresses (pseudo-header): recompute it after a
         * translation, or the end host discards every translated segment. */
        update_checksum_with_payload(hdr.tcp.isValid() && local_metadata.addr_rewritten,
            { hdr.ipv4.src_addr, hdr.ipv4.dst_addr, 8w0, hdr.ipv4.protocol, local_metadata.l4_len,
              hdr.tcp.src_port, hdr.tcp.dst_port, hdr.tcp.seq_no, hdr.tcp.ack_no,
              hdr.tcp.data_offset, hdr.tcp.reserved, hdr.tcp.flags, hdr.tcp.window,
              hdr.tcp.urgent_ptr },
            hdr.tcp.checksum, HashAlgorithm.csum16);

        /* A zero UDP checksum means "none" and must stay zero. */
        update_checksum_with_payload(hdr.udp.isValid() && local_metadata.addr_rewritten
                                     && hdr.udp.checksum != 0,
            { hdr.ipv4.src_addr, hdr.ipv4.dst_addr, 8w0, hdr.ipv4.protocol, local_metadata.l4_len,
              hdr.udp.src_port, hdr.udp.dst_port, hdr.udp.length },
            hdr.udp.checksum, HashAlgorithm.csum16);
    }
}

control PrescientDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.packet_in);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.arp);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.tcp);
        packet.emit(hdr.udp);
    }
}

V1Switch(
    PrescientParser(),
    PrescientVerifyChecksum(),
    PrescientIngress(),
    PrescientEgress(),
    PrescientComputeChecksum(),
    PrescientDeparser()
) main;
