//! Sessions across a restart: written out by one engine and put back into
//! a new one, they keep every flow on its backend even when the backend
//! set changed meanwhile; sessions of removed backends, expired ones and
//! damaged files are told apart and counted.

mod common;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant, SystemTime};

use common::flows::*;
use common::rp::FRONTEND;
use common::segment;
use lb_engine::{
    DirectReturn, DirectReturnConfig, Engine, MacAddr, Observe, Persist, Restored, ReverseProxy,
    StateError, Verdict,
};
use lb_packet::{Frame, TcpFlags};

/// Opens verified connections (SYN, SYN-ACK, ACK) from `clients`; the
/// backend each went to.
fn connect(
    lb: &mut ReverseProxy,
    now: Instant,
    clients: std::ops::Range<u32>,
) -> Vec<(SocketAddrV4, SocketAddrV4)> {
    clients
        .map(|n| {
            let c = client(n);
            let backend = from_client(lb, now, c, TcpFlags::SYN, 1, 0).unwrap();
            assert_eq!(
                from_backend(lb, now, backend, c, TcpFlags::SYN | TcpFlags::ACK),
                (Verdict::Forward(FRONTEND), VIP)
            );
            assert_eq!(
                from_client(lb, now, c, TcpFlags::ACK, 2, SERVER_ISN + 1),
                Some(backend)
            );
            (c, backend)
        })
        .collect()
}

#[test]
fn restored_flows_keep_their_backends_when_one_is_added() {
    let (start, wall) = (Instant::now(), SystemTime::now());
    let mut old = proxy(&[2, 3]);
    let flows = connect(&mut old, start, 0..200);
    let saved = old.save_sessions(start, wall);

    // The new process has a third backend; a table built afresh would send
    // some of these flows to it.
    let mut fresh = proxy(&[2, 3, 4]);
    let moved = flows
        .iter()
        .filter(|(c, backend)| {
            from_client(&mut fresh, start, *c, TcpFlags::ACK, 2, 1) != Some(*backend)
        })
        .count();
    assert!(moved > 20, "{moved} of 200 would move");

    let later = start + Duration::from_secs(1);
    let mut new = proxy(&[2, 3, 4]);
    let restored = new
        .restore_sessions(later, wall + Duration::from_secs(2), &saved)
        .unwrap();
    assert_eq!(
        restored,
        Restored {
            restored: 200,
            age: Duration::from_secs(2),
            ..Restored::default()
        }
    );
    for (c, backend) in &flows {
        assert_eq!(
            from_client(&mut new, later, *c, TcpFlags::ACK, 2, 1),
            Some(*backend)
        );
        assert_eq!(
            from_backend(&mut new, later, *backend, *c, TcpFlags::ACK),
            (Verdict::Forward(FRONTEND), VIP)
        );
    }
    let stats = new.stats(later);
    assert_eq!(stats.sessions, 200);
    let counted: usize = stats.services[0].backends.iter().map(|b| b.sessions).sum();
    assert_eq!(counted, 200, "counted on their backends");
    let assured = new.sessions(later, &Default::default(), 1000);
    assert!(assured.iter().all(|s| s.assured), "still assured");
}

#[test]
fn sessions_of_a_removed_backend_or_past_their_time_are_left_out() {
    let (start, wall) = (Instant::now(), SystemTime::now());
    let mut old = proxy(&[2, 3]);
    let flows = connect(&mut old, start, 0..100);
    let saved = old.save_sessions(start, wall);
    let on_three = flows
        .iter()
        .filter(|(_, b)| b.ip().octets()[3] == 3)
        .count();
    let mut new = proxy(&[2]);
    let restored = new.restore_sessions(start, wall, &saved).unwrap();
    assert_eq!(
        (restored.restored, restored.orphaned),
        (100 - on_three, on_three)
    );
    // Established connections idle for 2 h 4 min: three hours later, none.
    let mut new = proxy(&[2, 3]);
    let hours = wall + Duration::from_secs(3 * 3600);
    let restored = new.restore_sessions(start, hours, &saved).unwrap();
    assert_eq!((restored.restored, restored.expired), (0, 100));
}

#[test]
fn damaged_or_foreign_state_files_are_refused_whole() {
    let (start, wall) = (Instant::now(), SystemTime::now());
    let mut old = proxy(&[2, 3]);
    connect(&mut old, start, 0..20);
    let saved = old.save_sessions(start, wall);
    let mut new = proxy(&[2, 3]);
    assert_eq!(
        new.restore_sessions(start, wall, b"[[service]]\n"),
        Err(StateError::NotStateFile)
    );
    let mut newer = saved.clone();
    newer[7] = 9;
    assert_eq!(
        new.restore_sessions(start, wall, &newer),
        Err(StateError::Version(9))
    );
    for cut in 0..saved.len() {
        assert!(
            new.restore_sessions(start, wall, &saved[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = saved.clone();
    longer.push(0);
    assert!(matches!(
        new.restore_sessions(start, wall, &longer),
        Err(StateError::Damaged(_))
    ));
    // Any byte changed: an error or sessions, never a panic.
    for at in 8..saved.len() {
        let mut flipped = saved.clone();
        flipped[at] ^= 0x5a;
        let _ = proxy(&[2, 3]).restore_sessions(start, wall, &flipped);
    }
    let dsr = DirectReturn::new(&dsr_config(1)).unwrap();
    assert_eq!(
        new.restore_sessions(start, wall, &dsr.save_sessions(start, wall)),
        Err(StateError::Engine {
            found: "direct_return".into(),
            expected: "reverse_proxy"
        })
    );
    assert_eq!(new.stats(start).sessions, 0, "nothing put back");
}

fn dsr_config(servers: u8) -> DirectReturnConfig {
    let backends: Vec<String> = (1..=servers)
        .map(|n| format!("{{ mac = \"02:00:00:00:5e:0{n}\" }}"))
        .collect();
    let text = format!(
        "vips = [\"10.0.0.1\"]\nmac = \"02:00:00:00:00:02\"\npolicy = \"maglev\"\none_armed = true\nbackends = [{}]\n",
        backends.join(", ")
    );
    toml::from_str(&text).unwrap()
}

/// Sends a client's segment to direct return; the server MAC it went to.
fn to_server(lb: &mut DirectReturn, now: Instant, c: SocketAddrV4, flags: TcpFlags) -> MacAddr {
    let mut frame = segment(IN, c, VIP, flags, 1, 0);
    assert_eq!(
        lb.handle_frame(now, lb_engine::FRONTEND_PORT, &mut frame),
        Verdict::Reply
    );
    Frame::parse(&frame[..]).unwrap().dst_mac()
}

#[test]
fn direct_return_keeps_each_flow_on_its_server() {
    let (start, wall) = (Instant::now(), SystemTime::now());
    let mut old = DirectReturn::new(&dsr_config(2)).unwrap();
    let servers: Vec<MacAddr> = (0..200)
        .map(|n| to_server(&mut old, start, client(n), TcpFlags::SYN))
        .collect();
    let saved = old.save_sessions(start, wall);
    let mut fresh = DirectReturn::new(&dsr_config(3)).unwrap();
    let moved = (0..200)
        .filter(|&n| to_server(&mut fresh, start, client(n), TcpFlags::ACK) != servers[n as usize])
        .count();
    assert!(moved > 20, "{moved} of 200 would move");
    let mut new = DirectReturn::new(&dsr_config(3)).unwrap();
    let restored = new.restore_sessions(start, wall, &saved).unwrap();
    assert_eq!(restored.restored, 200);
    for (n, server) in servers.iter().enumerate() {
        assert_eq!(
            to_server(&mut new, start, client(n as u32), TcpFlags::ACK),
            *server
        );
    }
}
