use super::*;

fn packet_out(buffer: u32, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    frames::put_header(&mut f, msg::PACKET_OUT, 24 + 16 + data.len(), 1);
    f.extend_from_slice(&buffer.to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes()); // in_port
    f.extend_from_slice(&16u16.to_be_bytes()); // actions_len
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[
        0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfb, 0xff, 0xff, 0, 0, 0, 0, 0, 0,
    ]);
    f.extend_from_slice(data);
    f
}

#[test]
fn an_unbuffered_answer_is_one_answer_in_two_responses() {
    let mut data = vec![0u8; 60];
    data[56..].copy_from_slice(&7u32.to_be_bytes());
    // The FLOW_MOD of an unbuffered packet applies no buffer: it names no packet-in.
    assert_eq!(
        answered_tag(&frames::fixed_flow_mod(1, mix::NO_BUFFER)),
        None
    );
    assert_eq!(answered_tag(&packet_out(mix::NO_BUFFER, &data)), Some(7));
    // Buffered: the FLOW_MOD (or a flooding PACKET_OUT) names the buffer.
    assert_eq!(answered_tag(&frames::fixed_flow_mod(1, 9)), Some(9));
    assert_eq!(answered_tag(&packet_out(9, &[])), Some(9));
    // A PACKET_OUT whose data is too short to carry a tag names nothing.
    assert_eq!(answered_tag(&packet_out(mix::NO_BUFFER, &[1, 2])), None);
    assert_eq!(answered_tag(&packet_out(mix::NO_BUFFER, &[])[..20]), None);
}

#[test]
fn an_answer_settles_the_earlier_packet_ins_left_unanswered() {
    let t0 = Instant::now();
    let mut o = Outstanding::default();
    for tag in [3, 4, 6, 7] {
        o.sent(tag, t0 + Duration::from_millis(tag.into()));
    }
    assert_eq!(o.answer(5), Settled::Unexpected, "5 was never waited for");
    assert_eq!(
        o.answer(6),
        Settled::Answer {
            sent: t0 + Duration::from_millis(6),
            skipped: 2
        }
    );
    assert_eq!(o.answer(6), Settled::Unexpected, "answered once");
    assert_eq!(o.len(), 1);
    assert_eq!(o.give_up(t0 + Duration::from_millis(8)), 1);
    assert!(o.is_empty());
}

#[test]
fn switches_spread_over_busy_polling_threads_are_all_answered() {
    let bare = super::super::bare::BareResponder::start(Duration::from_micros(200)).unwrap();
    let report = run_load(LoadConfig {
        target: bare.addr(),
        switches: 3,
        mode: Mode::Throughput,
        window: 8,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(300),
        ports: 4,
        mix: Mix::Realistic,
        hosts: 64,
        watch: None,
        threads: 2,
        busy_poll: Duration::from_micros(200),
        during: None,
    })
    .unwrap();
    assert_eq!(
        report.connected, 3,
        "every switch on either thread connected"
    );
    assert!(report.answered > 0, "{report:?}");
    // It answers LLDP and truncated frames too, which nobody waits for (unexpected), and
    // never leaves one waiting.
    assert_eq!(
        report.unanswered, 0,
        "the bare responder answers everything"
    );
}

#[test]
fn answers_read_while_the_condition_holds_are_filed_apart() {
    let bare = super::super::bare::BareResponder::start(Duration::ZERO).unwrap();
    let run = |holds: bool| {
        run_load(LoadConfig {
            target: bare.addr(),
            switches: 2,
            mode: Mode::Latency,
            window: 1,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
            ports: 4,
            mix: Mix::Realistic,
            hosts: 64,
            watch: None,
            threads: 1,
            busy_poll: Duration::ZERO,
            during: Some(During(Arc::new(move || holds))),
        })
        .unwrap()
    };
    let always = run(true);
    assert!(!always.latency_ns.is_empty(), "{always:?}");
    assert_eq!(always.latency_during_ns.len(), always.latency_ns.len());
    let never = run(false);
    assert!(!never.latency_ns.is_empty(), "{never:?}");
    assert_eq!(never.latency_during_ns.len(), 0);
}

#[test]
fn a_controller_nobody_listens_at_is_an_error_naming_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = closed.local_addr().unwrap();
    drop(closed);
    let err = run_load(LoadConfig {
        target,
        switches: 2,
        mode: Mode::Latency,
        window: 1,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(10),
        ports: 4,
        mix: Mix::Uniform,
        hosts: 8,
        watch: None,
        threads: 2,
        busy_poll: Duration::ZERO,
        during: None,
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains(&target.to_string()), "{err:#}");
}

#[test]
fn the_window_counts_only_answerable_packet_ins() {
    let cfg = LoadConfig {
        target: ([127, 0, 0, 1], 1).into(),
        switches: 1,
        mode: Mode::Throughput,
        window: 64,
        warmup: Duration::ZERO,
        duration: Duration::ZERO,
        ports: 4,
        mix: Mix::Realistic,
        hosts: 512,
        watch: None,
        threads: 1,
        busy_poll: Duration::ZERO,
        during: None,
    };
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(PHASE_WARMUP),
        counts: Counts::default(),
        connected: AtomicUsize::new(0),
    });
    let mut sw = FakeSwitch::new(1, &cfg, shared);
    let mut wbuf = Vec::new();
    let sent = sw.top_up(&mut wbuf, Instant::now());
    let silent = sw.ring.slots[..sent as usize]
        .iter()
        .filter(|s| !s.kind.answerable())
        .count();
    assert_eq!(sw.outstanding.len(), 64);
    assert_eq!(sent as usize, 64 + silent);
    // Every frame went out whole, stamped with its sequence number.
    let mut at = 0;
    for seq in 0..sent as u32 {
        let (_, len, _) = frames::peek(&wbuf[at..]).unwrap();
        assert_eq!(&wbuf[at + len - 4..at + len], &seq.to_be_bytes());
        at += len;
    }
    assert_eq!(at, wbuf.len());
}
