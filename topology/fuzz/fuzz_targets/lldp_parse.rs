//! Arbitrary bytes into the LLDP parser: it must never panic, and whatever it accepts must
//! re-emit to a frame that parses to the same probe. Besides the raw input, the input is also
//! spliced into a valid probe (at an offset its first byte picks) so that mutations reach the
//! TLVs behind the ethertype check without a seed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prescient_topology::{DeviceId, LldpProbe, MacAddr, PortNo, ProbeSignature, Timestamp};

fn check(frame: &[u8]) {
    if let Ok(probe) = LldpProbe::parse(frame) {
        assert_eq!(LldpProbe::parse(&probe.emit()), Ok(probe));
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let Some((&at, rest)) = data.split_first() else { return };
    let mut frame = LldpProbe {
        src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
        chassis: DeviceId::openflow(0x42),
        port: PortNo(7),
        ttl_secs: 120,
        signature: Some(ProbeSignature { cookie: 1, sent_at: Timestamp(2) }),
    }
    .emit();
    let at = usize::from(at).min(frame.len());
    frame.truncate(at);
    frame.extend_from_slice(rest);
    check(&frame);
});
