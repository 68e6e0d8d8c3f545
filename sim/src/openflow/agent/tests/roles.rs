//! One switch, several controllers: roles, generation ids compared wrap-safe, and who hears
//! what (OpenFlow 1.3.5 §6.3.6).

use super::*;

#[test]
fn slave_role_refuses_writes_and_stale_generation_is_refused() {
    let mut a = agent();
    let out = messages(&send(
        &mut a,
        Message::RoleRequest(Role {
            role: ControllerRole::Slave,
            generation_id: 10,
        }),
    ));
    assert_eq!(
        out,
        vec![Message::RoleReply(Role {
            role: ControllerRole::Slave,
            generation_id: 10
        })]
    );
    let out = send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 1, Match::new(), out_port(1))),
    );
    assert_eq!(
        error_of(&out),
        Some(ErrorKind::BadRequest(BadRequestCode::IsSlave))
    );
    let stale = send(
        &mut a,
        Message::RoleRequest(Role {
            role: ControllerRole::Master,
            generation_id: 9,
        }),
    );
    assert!(matches!(
        error_of(&stale),
        Some(ErrorKind::RoleRequestFailed(_))
    ));
    let out = messages(&send(
        &mut a,
        Message::RoleRequest(Role {
            role: ControllerRole::Master,
            generation_id: 11,
        }),
    ));
    assert_eq!(
        out,
        vec![Message::RoleReply(Role {
            role: ControllerRole::Master,
            generation_id: 11
        })]
    );
    assert!(send(
        &mut a,
        Message::FlowMod(FlowMod::add(TableId(0), 1, Match::new(), out_port(1)))
    )
    .is_empty());
}

/// `msg` from connection `conn`.
fn send_from(a: &mut SwitchAgent, conn: usize, m: Message) -> Vec<Effect> {
    let mut out = Vec::new();
    let raw = m.to_vec(Xid(78)).unwrap();
    a.handle_from(conn, NOW, Xid(78), m, &raw, &mut out);
    out
}

fn role(role: ControllerRole, generation_id: u64) -> Message {
    Message::RoleRequest(Role {
        role,
        generation_id,
    })
}

#[test]
fn one_master_among_several_controllers_and_packet_ins_skip_slaves() {
    // Connection 0 is up (agent()); 1 and 2 join, all EQUAL as in Open vSwitch.
    let mut a = agent();
    for conn in [1, 2] {
        a.connect(conn);
        assert!(send_from(&mut a, conn, Message::Hello(Hello::ofp13())).is_empty());
    }
    assert!(a.roles().iter().all(|(_, r)| *r == ControllerRole::Equal));
    // 1 becomes master, 0 and 2 slaves, all at generation 5.
    send_from(&mut a, 0, role(ControllerRole::Slave, 5));
    send_from(&mut a, 2, role(ControllerRole::Slave, 5));
    send_from(&mut a, 1, role(ControllerRole::Master, 5));
    assert_eq!(a.role(1), Some(ControllerRole::Master));
    // A table miss punts to the master only; port status goes to everyone.
    send_from(
        &mut a,
        1,
        Message::FlowMod(FlowMod::add(
            TableId(0),
            0,
            Match::new(),
            vec![Instruction::ApplyActions(vec![Action::output(
                PortNo::CONTROLLER,
            )])],
        )),
    );
    let mut out = Vec::new();
    a.receive(NOW, PortNo(1), packet([10, 0, 0, 9]), 0, &mut out);
    let packet_in = out
        .iter()
        .find_map(|e| match e {
            Effect::Notify { kind, .. } => Some(*kind),
            _ => None,
        })
        .expect("a packet-in");
    let takers: Vec<usize> = (0..3).filter(|c| a.takes(*c, packet_in)).collect();
    assert_eq!(takers, vec![1]);
    assert!((0..3).all(|c| a.takes(c, Async::PortStatus)));
    // A slave's write is refused; 2 takes over with a newer generation: 1 is demoted.
    let out = send_from(
        &mut a,
        0,
        Message::FlowMod(FlowMod::add(TableId(0), 9, Match::new(), out_port(2))),
    );
    assert_eq!(
        error_of(&out),
        Some(ErrorKind::BadRequest(BadRequestCode::IsSlave))
    );
    send_from(&mut a, 2, role(ControllerRole::Master, 6));
    assert_eq!(a.role(2), Some(ControllerRole::Master));
    assert_eq!(a.role(1), Some(ControllerRole::Slave));
    // The deposed master's stale claim is refused; its role stays SLAVE.
    let stale = send_from(&mut a, 1, role(ControllerRole::Master, 5));
    assert!(matches!(
        error_of(&stale),
        Some(ErrorKind::RoleRequestFailed(RoleRequestFailedCode::Stale))
    ));
    assert_eq!(a.role(1), Some(ControllerRole::Slave));
    // Generation ids compare by wrapping distance: walking up to u64::MAX in steps of less
    // than 2^63, then 1 is ahead of u64::MAX (a wrap), and u64::MAX behind 1.
    for g in [(1 << 63) + 5, u64::MAX] {
        send_from(&mut a, 2, role(ControllerRole::Master, g));
        assert_eq!(a.role(2), Some(ControllerRole::Master), "generation {g}");
    }
    send_from(&mut a, 0, role(ControllerRole::Master, 1));
    assert_eq!(a.role(0), Some(ControllerRole::Master));
    assert_eq!(a.role(2), Some(ControllerRole::Slave));
    let stale = send_from(&mut a, 2, role(ControllerRole::Master, u64::MAX));
    assert!(error_of(&stale).is_some());
    a.disconnect(0);
    assert_eq!(a.role(0), None);
}
