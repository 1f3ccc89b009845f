//! An engine on a thread of its own behind an admin endpoint, as a
//! packet loop would run it, with frames injected by channel; and calls to
//! the endpoint. Shared by the route tests here and lbctl's tests.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lb_control::Routable;
use lb_engine::{Engine, PortId, ReverseProxy};
use lb_packet::{EthernetRepr, FrameRepr, Ipv4Repr, MacAddr, TcpFlags, TcpRepr};
use serde_json::Value;

/// A running admin endpoint over an engine on its own thread; frames sent
/// through `frames` are handed to the engine.
pub struct Harness {
    pub addr: SocketAddr,
    pub frames: mpsc::Sender<(PortId, Vec<u8>)>,
    stop: Arc<AtomicBool>,
    agent: ureq::Agent,
}

impl Harness {
    pub fn start<E: Engine + Routable + Send>(mut engine: E) -> Harness {
        let (commands, addr) = lb_control::start::<E>("127.0.0.1:0".parse().unwrap()).unwrap();
        let (frames, inbox) = mpsc::channel::<(PortId, Vec<u8>)>();
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !running.load(Ordering::Relaxed) {
                commands.apply(&mut engine);
                while let Ok((port, mut frame)) = inbox.try_recv() {
                    engine.handle_frame(Instant::now(), port, &mut frame);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Harness {
            addr,
            frames,
            stop,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let url = format!("http://{}{path}", self.addr);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            ("PUT", Some(body)) => self
                .agent
                .put(&url)
                .content_type("application/json")
                .send(body),
            ("PUT", None) => self.agent.put(&url).send_empty(),
            (_, Some(body)) => self
                .agent
                .post(&url)
                .content_type("application/json")
                .send(body),
            (_, None) => self.agent.post(&url).send_empty(),
        };
        let mut response = result.unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    pub fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (status, text) = self.call(method, path, body);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn error(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let (status, value) = self.json(method, path, body);
        let message = value["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {value}"))
            .to_owned();
        (status, message)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn reverse_proxy() -> ReverseProxy {
    let config = toml::from_str(
        r#"
        [[service]]
        vip = "10.0.0.1"
        port = 80
        proto = "tcp"
        [[service.backend]]
        ip = "192.168.1.2"
        port = 8080
        "#,
    )
    .unwrap();
    ReverseProxy::new(vec![None], &config).unwrap()
}

/// A one-armed lb-dsr answering for 10.0.0.100 at 02:00:00:00:01:00.
pub fn one_armed_dsr() -> lb_engine::DirectReturn {
    let config = "vips = [\"10.0.0.100\"]\nmac = \"02:00:00:00:01:00\"\none_armed = true\n";
    lb_engine::DirectReturn::new(&toml::from_str(config).unwrap()).unwrap()
}

/// A SYN from 10.0.0.`client`:`port` to the VIP.
pub fn syn(client: u8, port: u16) -> Vec<u8> {
    FrameRepr::ipv4(
        EthernetRepr::new(MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1])),
        Ipv4Repr::new([10, 0, 0, client].into(), [10, 0, 0, 1].into()),
        TcpRepr::new(port, 80, TcpFlags::SYN),
        b"",
    )
    .to_vec()
    .unwrap()
}
