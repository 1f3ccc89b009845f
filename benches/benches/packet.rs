//! Parse + DNAT + checksum update of a 64-byte TCP frame (and of its IPv6
//! twin, 84 bytes): lb-packet's in-place incremental update against
//! etherparse parsing, editing and re-serialising the same frame with full
//! checksum recomputation.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use criterion::{Criterion, criterion_group, criterion_main};
use etherparse::{LinkHeader, NetHeaders, PacketHeaders, TransportHeader};
use lb_packet::{EthernetRepr, Frame, FrameRepr, Ipv4Repr, Ipv6Repr, MacAddr, TcpFlags, TcpRepr};

/// Frames in the ring the benchmarks cycle through.
const RING: usize = 256;

const BACKEND: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 8080);
const BACKEND6: SocketAddrV6 =
    SocketAddrV6::new(Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 2), 8080, 0, 0);

const ETHERNET: EthernetRepr =
    EthernetRepr::new(MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
const SEGMENT: TcpRepr<'static> = TcpRepr {
    seq: 1,
    ack: 1,
    window: 1024,
    ..TcpRepr::new(40000, 80, TcpFlags::from_bits(0x18)) // ACK|PSH
};

/// A 64-byte frame: Ethernet, IPv4, TCP with ACK|PSH, 10 bytes of payload.
fn tcp_frame() -> Vec<u8> {
    let ip = Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
    let bytes = FrameRepr::ipv4(ETHERNET, ip, SEGMENT, b"0123456789")
        .to_vec()
        .unwrap();
    assert_eq!(bytes.len(), 64);
    bytes
}

/// The same segment over IPv6: 84 bytes.
fn tcp6_frame() -> Vec<u8> {
    let ip = Ipv6Repr::new(
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
        Ipv6Addr::new(0xfd0d, 0, 0, 0, 0, 0, 0, 0x13),
    );
    let bytes = FrameRepr::ipv6(ETHERNET, ip, SEGMENT, b"0123456789")
        .to_vec()
        .unwrap();
    assert_eq!(bytes.len(), 84);
    bytes
}

fn lb_packet_dnat(buffer: &mut [u8], backend: impl Into<SocketAddr>) {
    let mut frame = Frame::parse(buffer).expect("valid frame");
    frame.set_dst(backend).expect("TCP has ports");
}

fn etherparse_dnat(input: &[u8], output: &mut Vec<u8>, backend: SocketAddr) {
    let headers = PacketHeaders::from_ethernet_slice(input).expect("valid frame");
    let (Some(LinkHeader::Ethernet2(ethernet)), Some(net), Some(TransportHeader::Tcp(mut tcp))) =
        (headers.link, headers.net, headers.transport)
    else {
        panic!("not Ethernet/IP/TCP")
    };
    let payload = headers.payload.slice();
    tcp.destination_port = backend.port();
    output.clear();
    ethernet.write(output).unwrap();
    match (net, backend) {
        (NetHeaders::Ipv4(mut ip, _), SocketAddr::V4(backend)) => {
            ip.destination = backend.ip().octets();
            ip.header_checksum = ip.calc_header_checksum();
            tcp.checksum = tcp.calc_checksum_ipv4(&ip, payload).expect("small payload");
            ip.write(output).unwrap();
        }
        (NetHeaders::Ipv6(mut ip, _), SocketAddr::V6(backend)) => {
            ip.destination = backend.ip().octets();
            tcp.checksum = tcp.calc_checksum_ipv6(&ip, payload).expect("small payload");
            ip.write(output).unwrap();
        }
        _ => panic!("frame and backend of different families"),
    }
    tcp.write(output).unwrap();
    output.extend_from_slice(payload);
}

fn dnat(c: &mut Criterion) {
    dnat_group(
        c,
        "parse_dnat_checksum_64B_tcp",
        tcp_frame(),
        BACKEND.into(),
    );
    dnat_group(
        c,
        "parse_dnat_checksum_84B_tcp_ipv6",
        tcp6_frame(),
        BACKEND6.into(),
    );
}

fn dnat_group(c: &mut Criterion, name: &str, original: Vec<u8>, backend: SocketAddr) {
    // Both sides must produce the same bytes, or the comparison is moot.
    let mut ours = original.clone();
    lb_packet_dnat(&mut ours, backend);
    let mut theirs = Vec::with_capacity(original.len());
    etherparse_dnat(&original, &mut theirs, backend);
    assert_eq!(ours, theirs);

    // Cycle through a ring of frames, as a datapath does through its
    // buffers: rewriting one frame over and over would measure the store-to-
    // load dependency between iterations, not the work.
    let mut ring = vec![original.clone(); RING];
    // Backends come from memory (a session table), not from a constant the
    // compiler could fold into the rewrite.
    let backends = black_box([backend; 4]);
    let mut next = 0;
    let mut group = c.benchmark_group(name);
    group.bench_function("lb_packet_in_place", |b| {
        b.iter(|| {
            next = (next + 1) % RING;
            lb_packet_dnat(
                black_box(&mut ring[next][..]),
                backends[next % backends.len()],
            )
        })
    });
    let inputs = vec![original.clone(); RING];
    let mut output = Vec::with_capacity(original.len());
    group.bench_function("etherparse_reserialise", |b| {
        b.iter(|| {
            next = (next + 1) % RING;
            etherparse_dnat(
                black_box(&inputs[next][..]),
                &mut output,
                backends[next % backends.len()],
            )
        })
    });
    group.finish();
}

criterion_group!(benches, dnat);
criterion_main!(benches);
