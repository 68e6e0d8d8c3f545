//! Multipart request and reply entries (OpenFlow 1.3.5 §7.3.5.1–§7.3.5.14).

use super::super::cursor::{Reader, Writer};
use super::super::flow_mod::FlowModFlags;
use super::super::group_mod::{buckets_len, read_buckets, Bucket, GroupType};
use super::super::instruction::{
    instructions_len, read_instructions, write_instructions, Instruction,
};
use super::super::meter_mod::{bands_len, read_bands, MeterBand, MeterFlags};
use super::super::oxm::Match;
use super::super::types::{GroupId, MeterId, PortNo, TableId};
use super::super::wire_error::Result;

/// Length of the description strings of `ofp_desc`.
pub const DESC_STR_LEN: usize = 256;
/// Length of `serial_num` of `ofp_desc`.
pub const SERIAL_NUM_LEN: usize = 32;

fn read_str<const N: usize>(r: &mut Reader<'_>, field: &'static str) -> Result<String> {
    r.cstr::<N>(field)
}

fn write_str(w: &mut Writer<'_>, s: &str, n: usize) {
    w.cstr(s, n);
}

/// `ofp_desc`: who made the switch (strings are cut to fit their NUL-terminated fields).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desc {
    /// Manufacturer.
    pub mfr_desc: String,
    /// Hardware.
    pub hw_desc: String,
    /// Software.
    pub sw_desc: String,
    /// Serial number.
    pub serial_num: String,
    /// Datapath description.
    pub dp_desc: String,
}

impl Desc {
    /// Encoded size (1056).
    pub fn buffer_len(&self) -> usize {
        4 * DESC_STR_LEN + SERIAL_NUM_LEN
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Desc> {
        Ok(Desc {
            mfr_desc: read_str::<DESC_STR_LEN>(r, "mfr_desc")?,
            hw_desc: read_str::<DESC_STR_LEN>(r, "hw_desc")?,
            sw_desc: read_str::<DESC_STR_LEN>(r, "sw_desc")?,
            serial_num: read_str::<SERIAL_NUM_LEN>(r, "serial_num")?,
            dp_desc: read_str::<DESC_STR_LEN>(r, "dp_desc")?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        write_str(w, &self.mfr_desc, DESC_STR_LEN);
        write_str(w, &self.hw_desc, DESC_STR_LEN);
        write_str(w, &self.sw_desc, DESC_STR_LEN);
        write_str(w, &self.serial_num, SERIAL_NUM_LEN);
        write_str(w, &self.dp_desc, DESC_STR_LEN);
    }
}

/// Body of FLOW and AGGREGATE requests: which entries to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// Table, or `TableId::ALL`.
    pub table_id: TableId,
    /// Entries that output to this port, or `ANY`.
    pub out_port: PortNo,
    /// Entries that output to this group, or `ANY`.
    pub out_group: GroupId,
    /// Cookie value to match under `cookie_mask`.
    pub cookie: u64,
    /// Cookie bits to compare (0 = any).
    pub cookie_mask: u64,
    /// Match the entries must fall under.
    pub match_: Match,
}

impl Default for FlowStatsRequest {
    fn default() -> Self {
        FlowStatsRequest {
            table_id: TableId::ALL,
            out_port: PortNo::ANY,
            out_group: GroupId::ANY,
            cookie: 0,
            cookie_mask: 0,
            match_: Match::new(),
        }
    }
}

impl FlowStatsRequest {
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        32 + self.match_.buffer_len()
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<FlowStatsRequest> {
        let table_id = TableId(r.u8("table_id")?);
        r.skip(3, "pad")?;
        let out_port = PortNo(r.u32("out_port")?);
        let out_group = GroupId(r.u32("out_group")?);
        r.skip(4, "pad")?;
        let cookie = r.u64("cookie")?;
        let cookie_mask = r.u64("cookie_mask")?;
        let match_ = Match::read(r)?;
        Ok(FlowStatsRequest {
            table_id,
            out_port,
            out_group,
            cookie,
            cookie_mask,
            match_,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.table_id.0);
        w.zeros(3);
        w.u32(self.out_port.0);
        w.u32(self.out_group.0);
        w.zeros(4);
        w.u64(self.cookie);
        w.u64(self.cookie_mask);
        self.match_.write(w);
    }
}

/// `ofp_flow_stats`: one flow entry with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStats {
    /// Table.
    pub table_id: TableId,
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds alive beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Priority.
    pub priority: u16,
    /// Idle timeout.
    pub idle_timeout: u16,
    /// Hard timeout.
    pub hard_timeout: u16,
    /// Flags.
    pub flags: FlowModFlags,
    /// Cookie.
    pub cookie: u64,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// Match.
    pub match_: Match,
    /// Instructions.
    pub instructions: Vec<Instruction>,
}

/// Size of `ofp_flow_stats` before the match.
pub const FLOW_STATS_FIXED_LEN: usize = 48;

impl FlowStats {
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        FLOW_STATS_FIXED_LEN + self.match_.buffer_len() + instructions_len(&self.instructions)
    }

    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<FlowStats> {
        let mut e = r.entry("flow stats", index, 0, FLOW_STATS_FIXED_LEN + 8)?;
        e.skip(2, "length")?;
        let table_id = TableId(e.u8("table_id")?);
        e.skip(1, "pad")?;
        let duration_sec = e.u32("duration_sec")?;
        let duration_nsec = e.u32("duration_nsec")?;
        let priority = e.u16("priority")?;
        let idle_timeout = e.u16("idle_timeout")?;
        let hard_timeout = e.u16("hard_timeout")?;
        let flags = FlowModFlags(e.u16("flags")?);
        e.skip(4, "pad")?;
        let cookie = e.u64("cookie")?;
        let packet_count = e.u64("packet_count")?;
        let byte_count = e.u64("byte_count")?;
        let match_ = Match::read(&mut e)?;
        let instructions = read_instructions(&mut e)?;
        Ok(FlowStats {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            cookie,
            packet_count,
            byte_count,
            match_,
            instructions,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.len16(self.buffer_len());
        w.u8(self.table_id.0);
        w.zeros(1);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        w.u16(self.priority);
        w.u16(self.idle_timeout);
        w.u16(self.hard_timeout);
        w.u16(self.flags.0);
        w.zeros(4);
        w.u64(self.cookie);
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        self.match_.write(w);
        write_instructions(&self.instructions, w);
    }
}

/// `ofp_aggregate_stats_reply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AggregateStats {
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// Entries counted.
    pub flow_count: u32,
}

impl AggregateStats {
    /// Encoded size (24).
    pub fn buffer_len(&self) -> usize {
        24
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<AggregateStats> {
        let packet_count = r.u64("packet_count")?;
        let byte_count = r.u64("byte_count")?;
        let flow_count = r.u32("flow_count")?;
        r.skip(4, "pad")?;
        Ok(AggregateStats {
            packet_count,
            byte_count,
            flow_count,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        w.u32(self.flow_count);
        w.zeros(4);
    }
}

/// `ofp_table_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    /// Table.
    pub table_id: TableId,
    /// Active entries.
    pub active_count: u32,
    /// Packets looked up.
    pub lookup_count: u64,
    /// Packets that hit an entry.
    pub matched_count: u64,
}

impl TableStats {
    /// Encoded size (24).
    pub fn buffer_len(&self) -> usize {
        24
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<TableStats> {
        let table_id = TableId(r.u8("table_id")?);
        r.skip(3, "pad")?;
        Ok(TableStats {
            table_id,
            active_count: r.u32("active_count")?,
            lookup_count: r.u64("lookup_count")?,
            matched_count: r.u64("matched_count")?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u8(self.table_id.0);
        w.zeros(3);
        w.u32(self.active_count);
        w.u64(self.lookup_count);
        w.u64(self.matched_count);
    }
}

/// `ofp_port_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    /// Port.
    pub port_no: PortNo,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Receive drops.
    pub rx_dropped: u64,
    /// Transmit drops.
    pub tx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Frame alignment errors.
    pub rx_frame_err: u64,
    /// Receive overruns.
    pub rx_over_err: u64,
    /// CRC errors.
    pub rx_crc_err: u64,
    /// Collisions.
    pub collisions: u64,
    /// Seconds the port has been alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
}

impl PortStats {
    /// Encoded size (112).
    pub fn buffer_len(&self) -> usize {
        112
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<PortStats> {
        let port_no = PortNo(r.u32("port_no")?);
        r.skip(4, "pad")?;
        Ok(PortStats {
            port_no,
            rx_packets: r.u64("rx_packets")?,
            tx_packets: r.u64("tx_packets")?,
            rx_bytes: r.u64("rx_bytes")?,
            tx_bytes: r.u64("tx_bytes")?,
            rx_dropped: r.u64("rx_dropped")?,
            tx_dropped: r.u64("tx_dropped")?,
            rx_errors: r.u64("rx_errors")?,
            tx_errors: r.u64("tx_errors")?,
            rx_frame_err: r.u64("rx_frame_err")?,
            rx_over_err: r.u64("rx_over_err")?,
            rx_crc_err: r.u64("rx_crc_err")?,
            collisions: r.u64("collisions")?,
            duration_sec: r.u32("duration_sec")?,
            duration_nsec: r.u32("duration_nsec")?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.port_no.0);
        w.zeros(4);
        for v in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ] {
            w.u64(v);
        }
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
    }
}

/// `ofp_group_desc`: a group and its buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDesc {
    /// Group type.
    pub group_type: GroupType,
    /// Group id.
    pub group_id: GroupId,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

impl GroupDesc {
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        8 + buckets_len(&self.buckets)
    }

    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<GroupDesc> {
        let mut e = r.entry("group desc", index, 0, 8)?;
        e.skip(2, "length")?;
        let group_type = GroupType::from(e.u8("type")?);
        e.skip(1, "pad")?;
        let group_id = GroupId(e.u32("group_id")?);
        let buckets = read_buckets(&mut e)?;
        Ok(GroupDesc {
            group_type,
            group_id,
            buckets,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.len16(self.buffer_len());
        w.u8(self.group_type.into());
        w.zeros(1);
        w.u32(self.group_id.0);
        for b in &self.buckets {
            b.write(w);
        }
    }
}

/// `ofp_meter_band_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BandStats {
    /// Packets over the band's rate.
    pub packet_band_count: u64,
    /// Bytes over the band's rate.
    pub byte_band_count: u64,
}

/// `ofp_meter_stats`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterStats {
    /// Meter.
    pub meter_id: MeterId,
    /// Flows bound to the meter.
    pub flow_count: u32,
    /// Packets in.
    pub packet_in_count: u64,
    /// Bytes in.
    pub byte_in_count: u64,
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Per-band counters.
    pub band_stats: Vec<BandStats>,
}

/// Size of `ofp_meter_stats` before the band counters.
pub const METER_STATS_FIXED_LEN: usize = 40;

impl MeterStats {
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        METER_STATS_FIXED_LEN + 16 * self.band_stats.len()
    }

    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<MeterStats> {
        let mut e = r.entry("meter stats", index, 4, METER_STATS_FIXED_LEN)?;
        let meter_id = MeterId(e.u32("meter_id")?);
        e.skip(2 + 6, "len and pad")?;
        let flow_count = e.u32("flow_count")?;
        let packet_in_count = e.u64("packet_in_count")?;
        let byte_in_count = e.u64("byte_in_count")?;
        let duration_sec = e.u32("duration_sec")?;
        let duration_nsec = e.u32("duration_nsec")?;
        let mut band_stats = Vec::with_capacity(e.remaining() / 16);
        while !e.is_empty() {
            band_stats.push(BandStats {
                packet_band_count: e.u64("packet_band_count")?,
                byte_band_count: e.u64("byte_band_count")?,
            });
        }
        Ok(MeterStats {
            meter_id,
            flow_count,
            packet_in_count,
            byte_in_count,
            duration_sec,
            duration_nsec,
            band_stats,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.meter_id.0);
        w.len16(self.buffer_len());
        w.zeros(6);
        w.u32(self.flow_count);
        w.u64(self.packet_in_count);
        w.u64(self.byte_in_count);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        for b in &self.band_stats {
            w.u64(b.packet_band_count);
            w.u64(b.byte_band_count);
        }
    }
}

/// `ofp_meter_config`: a meter and its bands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterConfig {
    /// Flags.
    pub flags: MeterFlags,
    /// Meter.
    pub meter_id: MeterId,
    /// Bands.
    pub bands: Vec<MeterBand>,
}

impl MeterConfig {
    /// Encoded size.
    pub fn buffer_len(&self) -> usize {
        8 + bands_len(&self.bands)
    }

    pub(crate) fn read(r: &mut Reader<'_>, index: usize) -> Result<MeterConfig> {
        let mut e = r.entry("meter config", index, 0, 8)?;
        e.skip(2, "length")?;
        let flags = MeterFlags(e.u16("flags")?);
        let meter_id = MeterId(e.u32("meter_id")?);
        let bands = read_bands(&mut e)?;
        Ok(MeterConfig {
            flags,
            meter_id,
            bands,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.len16(self.buffer_len());
        w.u16(self.flags.0);
        w.u32(self.meter_id.0);
        for b in &self.bands {
            b.write(w);
        }
    }
}
