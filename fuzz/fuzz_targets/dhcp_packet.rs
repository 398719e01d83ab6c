//! DHCP packets: `endpoint::boot::dhcp::decide::decide`, the pure decision behind the DHCP
//! server (header decode, option walk, subnet/reservation/lease choice, option encoding
//! and templates, reply encoding), over a fixed set of stored objects.
//!
//! Input: the UDP payload as received. The first byte also picks the sender (port 68 or a
//! test tool's port; a relay is in the payload's giaddr).
//!
//! Checks: no panic, hang or unbounded memory; a reply fits a UDP datagram; a lease write
//! is for an address inside the subnet, and an OFFER/ACK names the written address.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::OnceLock;

use endpoint::boot::dhcp::decide::{decide, Boot, Inbound, Known};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000_000;

struct World {
    subnets: Vec<Value>,
    reservations: Vec<Value>,
    leases: Vec<Value>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| World {
        subnets: vec![
            json!({"Name": "lan", "Subnet": "10.0.0.0/24", "Enabled": true,
                   "ActiveStart": "10.0.0.10", "ActiveEnd": "10.0.0.20",
                   "ActiveLeaseTime": 600, "ReservedLeaseTime": 7200,
                   "Options": [
                       {"Code": 3, "Value": "10.0.0.1"},
                       {"Code": 6, "Value": "1.1.1.1,8.8.8.8"},
                       {"Code": 15, "Value": "lab.example"},
                       {"Code": 67, "Value": "{{if (eq (index . 77) \"iPXE\")}}default.ipxe{{else if (eq (index . 93) \"0\")}}lpxelinux.0{{else}}ipxe.efi{{end}}"},
                       {"Code": 12, "Value": "{{index . 12}}-x"}]}),
            json!({"Name": "relayed", "Subnet": "192.168.7.0/24", "Enabled": true,
                   "OnlyReservations": true, "ActiveStart": "192.168.7.5",
                   "ActiveEnd": "192.168.7.6"}),
        ],
        reservations: vec![
            json!({"Addr": "10.0.0.50", "Token": "00:11:22:33:44:55", "Strategy": "MAC",
                   "Options": [{"Code": 3, "Value": "10.0.0.254"}]}),
            json!({"Addr": "192.168.7.9", "Token": "00:11:22:33:44:66", "Strategy": "MAC",
                   "Scoped": true, "Subnet": "relayed"}),
        ],
        leases: vec![
            json!({"Addr": "10.0.0.10", "Token": "00:11:22:33:44:77", "Strategy": "MAC",
                   "State": "ACK", "ExpireTime": "2100-01-01T00:00:00Z"}),
            json!({"Addr": "10.0.0.11", "Token": "00:11:22:33:44:88", "Strategy": "MAC",
                   "State": "ACK", "ExpireTime": "2000-01-01T00:00:00+02:00"}),
            json!({"Addr": "10.0.0.12", "Token": "", "State": "DECLINE",
                   "ExpireTime": "not a time"}),
        ],
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let port = if data.first().is_some_and(|b| b & 1 == 1) {
        68
    } else {
        40000
    };
    let local = [Ipv4Addr::new(10, 0, 0, 1)];
    let inbound = Inbound {
        bytes: data,
        source: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 99), port),
        local: &local,
    };
    let known = Known {
        subnets: &w.subnets,
        reservations: &w.reservations,
        leases: &w.leases,
        in_flight: &Default::default(),
        now_ms: NOW,
        loaders: &Default::default(),
    };
    let boot = Boot {
        next_server: Some(Ipv4Addr::new(10, 0, 0, 1)),
        provisioner_url: "http://10.0.0.1:8091".into(),
        virt_addr: None,
    };
    let Ok(decision) = decide(&inbound, &known, &boot) else {
        return;
    };
    if let Some(reply) = &decision.reply {
        assert!(reply.bytes.len() <= 65_507, "reply larger than a datagram");
    }
    if let Some(write) = &decision.write {
        let addr = write.addr;
        let in_a_subnet = (u32::from(addr) >> 8 == u32::from(Ipv4Addr::new(10, 0, 0, 0)) >> 8)
            || (u32::from(addr) >> 8 == u32::from(Ipv4Addr::new(192, 168, 7, 0)) >> 8);
        assert!(in_a_subnet, "lease write outside every subnet: {addr}");
        assert_eq!(write.object["Addr"], json!(addr.to_string()));
        if let Some(reply) = &decision.reply {
            // yiaddr is at bytes 16..20 of the reply; a NAK has no write.
            let yiaddr = Ipv4Addr::new(
                reply.bytes[16],
                reply.bytes[17],
                reply.bytes[18],
                reply.bytes[19],
            );
            assert_eq!(
                yiaddr, addr,
                "the reply names another address than the lease"
            );
        }
    }
});
