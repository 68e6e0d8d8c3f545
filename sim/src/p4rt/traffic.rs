//! Background traffic of the emulated fabric: packets per linked port per second following a daily
//! cycle with multiplicative noise. Deterministic: the rate is a pure function of
//! `(seed, device, port, t)`, so the same seed gives the same counters for the same model times.

/// Seconds in a model day.
pub const DAY_SECS: f64 = 86_400.0;

/// Parameters of the per-port traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PortTraffic {
    /// Seed of the noise.
    pub seed: u64,
    /// Mean packets per second per linked port.
    pub mean_pps: f64,
    /// Relative amplitude of the daily cycle (0..1).
    pub daily_amplitude: f64,
    /// Relative amplitude of the noise (0..1).
    pub noise: f64,
    /// Mean bytes per packet.
    pub packet_bytes: u64,
}

impl Default for PortTraffic {
    fn default() -> Self {
        Self {
            seed: 7,
            mean_pps: 1_000.0,
            daily_amplitude: 0.6,
            noise: 0.15,
            packet_bytes: 700,
        }
    }
}

/// SplitMix64: a well-mixed hash of the inputs, used as a counter-based random source.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl PortTraffic {
    /// Packets per second sent out of `(device, port)` at model time `t` (seconds).
    pub fn rate_pps(&self, device: u64, port: u32, t: f64) -> f64 {
        // Each port gets its own level and phase, so links differ.
        let salt = mix(self.seed ^ mix(device.wrapping_mul(1_000_003) ^ u64::from(port)));
        let level = 0.5 + (salt % 1000) as f64 / 1000.0;
        let phase = ((salt >> 20) % 3_600) as f64;
        let cycle = 1.0
            + self.daily_amplitude
                * (std::f64::consts::TAU * ((t + phase) / DAY_SECS - 0.25)).sin();
        // Noise changes once per model minute.
        let minute = (t / 60.0).floor().max(0.0) as u64;
        let u = (mix(salt ^ minute) % 1_000_000) as f64 / 1_000_000.0;
        let noise = 1.0 + self.noise * (2.0 * u - 1.0);
        (self.mean_pps * level * cycle * noise).max(0.0)
    }

    /// Packets sent out of `(device, port)` during `[t0, t1)`, integrated per model second.
    pub fn packets(&self, device: u64, port: u32, t0: f64, t1: f64) -> u64 {
        self.packets_scaled(device, port, t0, t1, 1.0)
    }

    /// [`packets`](Self::packets) times `volume` (rounded; nothing for a volume not above 0).
    pub fn packets_scaled(&self, device: u64, port: u32, t0: f64, t1: f64, volume: f64) -> u64 {
        if volume.is_nan() || volume <= 0.0 {
            return 0;
        }
        let mut total = 0.0;
        let mut t = t0;
        while t < t1 {
            let step = (t1 - t).min(1.0);
            total += self.rate_pps(device, port, t) * step;
            t += step;
        }
        (total * volume).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_a_daily_cycle_and_are_reproducible() {
        let m = PortTraffic::default();
        let noon = m.rate_pps(1, 1, DAY_SECS / 2.0);
        let night = m.rate_pps(1, 1, 0.0);
        assert!(noon > night * 1.5, "noon {noon} night {night}");
        assert_eq!(m.packets(2, 3, 100.0, 160.0), m.packets(2, 3, 100.0, 160.0));
        assert_ne!(m.rate_pps(1, 1, 500.0), m.rate_pps(1, 2, 500.0));
        let whole = m.packets(2, 3, 0.0, 3600.0) as f64;
        let compressed = m.packets_scaled(2, 3, 0.0, 3600.0, 1.0 / 60.0) as f64;
        assert!(
            (compressed * 60.0 / whole - 1.0).abs() < 0.01,
            "{compressed} vs {whole}"
        );
        let other = PortTraffic { seed: 8, ..m };
        assert_ne!(m.packets(1, 1, 0.0, 60.0), other.packets(1, 1, 0.0, 60.0));
    }
}
