//! The emulated switch's meter buckets: the controller's (100 ms of the rate) police as sized, and
//! a burst beyond 32 bits is refused as BMv2's P4Runtime server (PI) refuses it.

use super::*;

/// A `flow_meter` entry of HOST_A -> HOST_B with these buckets at 1 Mbit/s (125 kB/s).
fn pair_meter(s: &DeviceState, cburst: i64, pburst: i64) -> p4::TableEntry {
    p4::TableEntry {
        table_id: tid(s, "PrescientIngress.flow_meter"),
        r#match: vec![
            ternary(1, &HOST_A.to_be_bytes(), &[0xff; 4]),
            ternary(2, &HOST_B.to_be_bytes(), &[0xff; 4]),
        ],
        action: direct(action(s, "PrescientIngress.meter_flow", &[0])),
        priority: 1,
        meter_config: Some(p4::MeterConfig {
            cir: 125_000,
            cburst,
            pir: 125_000,
            pburst,
        }),
        ..Default::default()
    }
}

#[test]
fn a_bucket_of_a_tenth_of_a_second_passes_that_much_at_once() {
    let mut s = state();
    route(&mut s, [10, 0, 1, 0], 24, 2, 0xbb);
    // 100 ms of 1 Mbit/s, as the controller sizes it: 12.5 kB.
    s.apply(&insert(pair_meter(&s, 12_500, 12_500))).unwrap();
    let f = udp_frame(MAC_A, MAC_SW, HOST_A, HOST_B, 1, 2, &[0; 958]); // 1000-byte frame
    let passed = (0..20)
        .filter(|_| !s.process(3, &f, 0.0).outputs.is_empty())
        .count();
    assert_eq!(passed, 12, "12 whole 1000-byte frames fit 12.5 kB");
    // 10 ms later the bucket has 1250 bytes more: the half frame left plus 1250 make one more.
    let later = (0..20)
        .filter(|_| !s.process(3, &f, 0.01).outputs.is_empty())
        .count();
    assert_eq!(later, 1, "refilled at the rate");
}

#[test]
fn a_burst_beyond_32_bits_is_refused_as_unimplemented() {
    let mut s = state();
    let max = i64::from(u32::MAX);
    s.apply(&insert(pair_meter(&s, 12_500, max)))
        .expect("2^32 - 1 bytes fits");
    let too_big = pair_meter(&s, 12_500, max + 1);
    let modify = update(
        p4::update::Type::Modify,
        p4::entity::Entity::TableEntry(too_big),
    );
    let err = s.apply(&modify).unwrap_err();
    assert_eq!(err.code, Code::Unimplemented, "{err}");
    let direct_meter = p4::DirectMeterEntry {
        table_entry: Some(pair_meter(&s, 12_500, 12_500)),
        config: Some(p4::MeterConfig {
            cir: 125_000,
            cburst: max + 1,
            pir: 125_000,
            pburst: max + 1,
        }),
        ..Default::default()
    };
    let err = s
        .apply(&update(
            p4::update::Type::Modify,
            p4::entity::Entity::DirectMeterEntry(direct_meter),
        ))
        .unwrap_err();
    assert_eq!(err.code, Code::Unimplemented, "{err}");
}
