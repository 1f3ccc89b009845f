//! `lb-flood`: spoofed TCP floods at a set rate, to see a load balancer
//! hold up (and for its end-to-end tests): SYNs from random sources, or
//! SYNs each followed by an ACK that guesses the server's sequence number.

// It says how many frames it sent on standard output.
#![allow(clippy::print_stdout)]

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use lb_datapath_pnet::PnetDatapath;
use lb_engine::{Datapath, IpCidr, MacAddr, PortId};
use lb_examples::cli::{fail, parse_or_exit};
use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, TcpFlags, TcpRepr};

const PROGRAM: &str = "lb-flood";

/// What each spoofed client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// A SYN.
    Syn,
    /// A SYN, then an ACK with a guessed acknowledgment number (a blind
    /// attacker completing handshakes it never saw answered).
    SynAck,
}

/// Sends spoofed TCP frames out of an interface at a fixed rate.
#[derive(Debug, Parser)]
#[command(name = PROGRAM, version)]
struct Cli {
    /// The interface to send from.
    #[arg(long, value_name = "IF")]
    iface: String,
    /// Destination MAC of every frame (the next hop towards the target).
    #[arg(long, value_name = "MAC")]
    dst_mac: MacAddr,
    /// The target, `IP:PORT`.
    #[arg(long, value_name = "IP:PORT")]
    target: SocketAddrV4,
    /// Sources are drawn from this network.
    #[arg(long, value_name = "IP/PREFIX", default_value = "10.200.0.0/16")]
    sources: IpCidr,
    /// Frames per second.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// How long.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// What each spoofed client sends.
    #[arg(long, value_enum, default_value = "syn")]
    kind: Kind,
}

fn main() {
    let cli: Cli = parse_or_exit(PROGRAM);
    match flood(&cli) {
        Ok(sent) => println!("{sent}"),
        Err(error) => fail(PROGRAM, format_args!("{error:#}")),
    }
}

/// A small generator (xorshift) for sources, ports and sequence numbers.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn flood(cli: &Cli) -> anyhow::Result<u64> {
    let mut datapath = PnetDatapath::open(&[cli.iface.as_str()])?;
    let ethernet = EthernetRepr::new(MacAddr([2, 0xf1, 0, 0, 0, 1]), cli.dst_mac);
    let mask = u32::MAX
        .checked_shl(32 - u32::from(cli.sources.prefix_len))
        .unwrap_or(0);
    let IpAddr::V4(sources) = cli.sources.ip else {
        anyhow::bail!("--sources {} is IPv6; lb-flood sends IPv4", cli.sources);
    };
    let network = u32::from(sources) & mask;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut frame = [0u8; 128];
    // Pacing counts every frame tried: one the device refuses (a full
    // queue) is lost, as on a wire, never retried.
    let (start, mut tried, mut sent) = (Instant::now(), 0u64, 0u64);
    let end = start + Duration::from_secs(cli.seconds);
    while Instant::now() < end {
        // Keep to the rate: as many frames as are due by now.
        let due = start.elapsed().as_micros() as u64 * cli.rate / 1_000_000;
        if tried >= due {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let random = next(&mut state);
        let source = Ipv4Addr::from(network | ((random as u32) & !mask).max(1));
        let port = 1024 + (random >> 40) as u16 % 60000;
        let steps: &[(TcpFlags, u32, u32)] = match cli.kind {
            Kind::Syn => &[(TcpFlags::SYN, 1, 0)],
            Kind::SynAck => &[
                (TcpFlags::SYN, 1, 0),
                (TcpFlags::ACK, 2, (random >> 8) as u32),
            ],
        };
        for &(flags, seq, ack) in steps {
            let tcp = TcpRepr {
                seq,
                ack,
                ..TcpRepr::new(port, cli.target.port(), flags)
            };
            let repr = FrameRepr::ipv4(ethernet, Ipv4Repr::new(source, *cli.target.ip()), tcp, b"");
            let len = repr.emit(&mut frame)?;
            tried += 1;
            if datapath.send(PortId(0), &frame[..len]).is_ok() {
                sent += 1;
            }
        }
    }
    Ok(sent)
}
