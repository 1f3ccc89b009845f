//! The run loop over the in-memory and pcap datapaths.

mod common;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::*;
use lb_datapath::{MemoryDatapath, PcapDatapath, PcapReader, PcapWriter};
use lb_engine::{
    DropReason, NatProxy, NatProxyConfig, Observe, PortId, ReverseProxy, ReverseProxyConfig,
    RunOptions, run,
};
use lb_packet::{Frame, MacAddr};

const PROXY_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x64]);
const DEST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xd1]);

fn proxy() -> NatProxy {
    NatProxy::new(&NatProxyConfig {
        ip: ip(192, 168, 0, 100).into(),
        vips: Vec::new(),
        prefix_len: 24,
        mac: PROXY_MAC,
        gateway: None,
        dst_addrs: vec![ip(192, 168, 0, 1).into()],
        policy: Default::default(),
        snat_ports: Default::default(),
        denied_ports: Vec::new(),
        sessions: Default::default(),
        selection: Default::default(),
        arp: Default::default(),
        health: Default::default(),
        health_check: None,
    })
    .unwrap()
}

#[test]
fn run_loop_applies_verdicts_and_sends_what_the_engine_originates() {
    let stop = AtomicBool::new(false);
    let mut engine = proxy();
    let mut datapath = MemoryDatapath::new(1, Instant::now());
    let client = ep(ip(192, 168, 0, 50), 40000);
    datapath.inject(
        PortId(0),
        arp(
            true,
            (CLIENT_MAC, *client.ip()),
            (MacAddr::ZERO, ip(192, 168, 0, 100)),
            MacAddr::BROADCAST,
        ),
    );
    datapath.inject(
        PortId(0),
        tcp(
            (CLIENT_MAC, PROXY_MAC),
            client,
            ep(ip(192, 168, 0, 100), 80),
            "S",
            b"",
        ),
    );
    datapath.inject(PortId(0), vec![0u8; 10]);
    let summary = run(&mut datapath, &mut engine, &stop, RunOptions::default()).unwrap();
    assert_eq!(summary.received, 3);
    let sent = datapath.take_sent();
    assert_eq!(
        sent.len(),
        2,
        "ARP reply, then ARP request for the destination"
    );
    assert_eq!(
        Frame::parse(&sent[0].1[..])
            .unwrap()
            .arp()
            .unwrap()
            .target_ip(),
        *client.ip()
    );
    assert_eq!(
        sent[1].1,
        lb_packet::arp_request(PROXY_MAC, ip(192, 168, 0, 100), ip(192, 168, 0, 1)).to_vec()
    );

    datapath.advance(Duration::from_millis(5));
    datapath.inject(
        PortId(0),
        arp(
            false,
            (DEST_MAC, ip(192, 168, 0, 1)),
            (PROXY_MAC, ip(192, 168, 0, 100)),
            PROXY_MAC,
        ),
    );
    run(&mut datapath, &mut engine, &stop, RunOptions::default()).unwrap();
    let sent = datapath.take_sent();
    assert_eq!(sent.len(), 1, "the SYN, released");
    let syn = Frame::parse(&sent[0].1[..]).unwrap();
    assert_eq!(
        (syn.dst_mac(), syn.ipv4().unwrap().dst()),
        (DEST_MAC, ip(192, 168, 0, 1))
    );
    assert_eq!(
        engine
            .stats(datapath.now_for_tests())
            .traffic
            .drops(DropReason::Malformed),
        1
    );
}

trait Now {
    fn now_for_tests(&self) -> Instant;
}
impl Now for MemoryDatapath {
    fn now_for_tests(&self) -> Instant {
        lb_engine::Datapath::now(self)
    }
}

#[test]
fn flood_goes_to_every_other_port() {
    let config: ReverseProxyConfig = toml::from_str("").unwrap();
    let mut engine = ReverseProxy::new(
        vec![
            Some(ip(10, 0, 0, 254).into()),
            Some(ip(10, 1, 0, 254).into()),
        ],
        &config,
    )
    .unwrap();
    let mut datapath = MemoryDatapath::new(3, Instant::now());
    datapath.inject(PortId(2), ipv6((BACKEND_MAC, CLIENT_MAC)));
    run(
        &mut datapath,
        &mut engine,
        &AtomicBool::new(false),
        RunOptions::default(),
    )
    .unwrap();
    let ports: Vec<PortId> = datapath
        .take_sent()
        .into_iter()
        .map(|(port, _)| port)
        .collect();
    assert_eq!(ports, [PortId(0), PortId(1)]);
}

#[test]
fn port_count_mismatch_is_an_error() {
    let mut engine = proxy();
    let mut datapath = MemoryDatapath::new(2, Instant::now());
    let error = run(
        &mut datapath,
        &mut engine,
        &AtomicBool::new(false),
        RunOptions::default(),
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expects 1 ports, the datapath has 2")
    );
}

#[test]
fn pcap_replay_through_a_reverse_proxy() {
    let dir = std::env::temp_dir().join(format!("lb-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("clients.pcap");
    let mut writer = PcapWriter::new(std::fs::File::create(&input).unwrap()).unwrap();
    let (c, v, b) = (
        ep(ip(10, 0, 0, 2), 40000),
        ep(ip(10, 0, 0, 1), 80),
        ep(ip(192, 168, 1, 2), 8080),
    );
    writer
        .write_frame(
            Duration::from_secs(1_700_000_000),
            &tcp((CLIENT_MAC, ROUTER_MAC), c, v, "S", b""),
        )
        .unwrap();
    writer
        .write_frame(
            Duration::from_secs(1_700_000_001),
            &tcp((CLIENT_MAC, ROUTER_MAC), c, v, "A", b""),
        )
        .unwrap();
    writer.flush().unwrap();
    drop(writer);

    let config: ReverseProxyConfig = toml::from_str(
        "[[service]]\nvip = \"10.0.0.1\"\nport = 80\nproto = \"tcp\"\n[[service.backend]]\nip = \"192.168.1.2\"\nport = 8080\n",
    )
    .unwrap();
    let mut engine = ReverseProxy::new(vec![None], &config).unwrap();
    let (front_out, back_out) = (dir.join("frontend-out.pcap"), dir.join("backend-out.pcap"));
    let start = Instant::now();
    let mut datapath = PcapDatapath::open(
        &[
            (Some(input.clone()), front_out.clone()),
            (None, back_out.clone()),
        ],
        start,
    )
    .unwrap();
    let summary = run(
        &mut datapath,
        &mut engine,
        &AtomicBool::new(false),
        RunOptions::default(),
    )
    .unwrap();
    assert_eq!((summary.received, summary.sent), (2, 2));
    assert_eq!(
        lb_engine::Datapath::now(&datapath),
        start + Duration::from_secs(1),
        "the capture's clock"
    );
    drop(datapath);

    let mut reader = PcapReader::new(std::fs::File::open(&back_out).unwrap()).unwrap();
    let (time, frame) = reader.next_frame().unwrap().unwrap();
    assert_eq!(time, Duration::from_secs(1_700_000_000));
    assert_eq!(frame, tcp((CLIENT_MAC, ROUTER_MAC), c, b, "S", b""));
    assert!(reader.next_frame().unwrap().is_some());
    assert!(reader.next_frame().unwrap().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Replays the committed engine fuzz corpus on stable Rust.
#[test]
fn engine_fuzz_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/engines");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        lb_engine::fuzzing::each_engine(&std::fs::read(entry.unwrap().path()).unwrap());
        inputs += 1;
    }
    assert!(inputs > 0, "no corpus in {}", dir.display());
}
