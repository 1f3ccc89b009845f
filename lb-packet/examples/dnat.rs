//! A frame built, parsed, and rewritten in place the way a NAT load
//! balancer rewrites it: DNAT to a backend, then back, with both checksums
//! kept right by incremental update (RFC 1624), never recomputed.
//!
//! Run with `cargo run -p lb-packet --example dnat`.

// An example talks on standard output.
#![allow(clippy::print_stdout)]

use std::net::{Ipv4Addr, SocketAddrV4};

use lb_packet::{EthernetRepr, Frame, FrameRepr, Ipv4Repr, MacAddr, TcpFlags, TcpRepr};

fn show(label: &str, bytes: &[u8]) -> Result<(), lb_packet::ParseError> {
    let frame = Frame::parse(bytes)?;
    let key = frame
        .flow_key()
        .map_or("no flow".to_owned(), |k| k.to_string());
    let valid = frame.l4_checksum_valid() == Some(true);
    println!("{label:<7} {key:<44} TCP checksum valid: {valid}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000);
    let vip = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
    let backend = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 8080);
    let mut bytes = FrameRepr::ipv4(
        EthernetRepr::new(MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1])),
        Ipv4Repr::new(*client.ip(), *vip.ip()),
        TcpRepr::new(client.port(), vip.port(), TcpFlags::PSH | TcpFlags::ACK),
        b"GET / HTTP/1.0\r\n\r\n",
    )
    .to_vec()?;
    let original = bytes.clone();
    show("built", &bytes)?;

    let mut frame = Frame::parse(&mut bytes[..])?;
    frame.set_dst(backend)?;
    show("DNAT", frame.as_bytes())?;
    frame.set_dst(vip)?;
    show("undone", frame.as_bytes())?;
    println!(
        "bytes back as they were: {}",
        frame.as_bytes() == &original[..]
    );
    Ok(())
}
