//! The meters' buckets: 100 ms of the rate as on OpenFlow, at least three full frames, and
//! within the 32 bits a P4Runtime target keeps a burst in.

use super::*;

#[test]
fn a_bucket_holds_a_tenth_of_a_second_of_its_rate() {
    // 1 Mbit/s: 125 kB/s, so 12.5 kB (about 8 full frames), enough for TCP's bursts.
    assert_eq!(burst_bytes(bytes_per_second(1_000_000)), 12_500);
    assert_eq!(burst_bytes(bytes_per_second(1_000_000_000)), 12_500_000);
}

#[test]
fn a_slow_bucket_still_holds_three_full_frames() {
    assert_eq!(burst_bytes(0), 3 * 1518);
    // 100 kbit/s: 100 ms is 1250 bytes, less than one frame.
    assert_eq!(burst_bytes(bytes_per_second(100_000)), 3 * 1518);
}

#[test]
fn a_bucket_never_exceeds_a_32_bit_burst() {
    let max = i64::from(u32::MAX);
    assert_eq!(burst_bytes(UNPOLICED_PEAK_BYTES_PER_S), max);
    assert_eq!(burst_bytes(i64::MAX), max);
    // 343.6 Gbit/s: 100 ms of it just fits.
    assert_eq!(burst_bytes(max * 10), max);
}

#[test]
fn a_policed_reservation_meters_both_buckets_at_a_tenth_of_a_second() {
    let fabric = ring(3, &[(1, 1, 3, true), (3, 3, 3, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&reservation(
        7,
        pair(1, 3),
        1_000_000,
        vec![p4(1, 2), p4(2, 2)],
    ));
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    assert_eq!(
        meter_of(&e, 1, 3),
        Some((125_000, 12_500, 125_000, 12_500)),
        "1 Mbit/s: committed and peak 125 kB/s, each with 12.5 kB of bucket"
    );
}

#[test]
fn a_forecast_reservations_peak_bucket_saturates_at_32_bits() {
    let fabric = ring(3, &[(1, 1, 3, true), (3, 3, 3, true)]);
    let mut plan = P4Plan::new();
    plan.apply(&Action::InstallMeter {
        reservation: ReservationId(7),
        subject: pair(1, 3),
        rate_bps: 10_000_000,
        police: false,
        ports: vec![p4(1, 2), p4(2, 2)],
    });
    let e = device_entries(DeviceId::p4runtime(1), &fabric, &plan);
    assert_eq!(
        meter_of(&e, 1, 3),
        Some((
            1_250_000,
            125_000,
            UNPOLICED_PEAK_BYTES_PER_S,
            i64::from(u32::MAX)
        )),
        "the committed bucket 100 ms of the forecast; the peak's 100 ms saturated to 2^32 - 1"
    );
}
