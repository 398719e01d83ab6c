//! DHCP against a real one-node `drp-endpoint`: the subnet is created through the API on
//! loopback, packets are built with dhcproto and sent from an ordinary UDP port, so the
//! server answers to the packet's source (its rule for senders not on port 68).
// Test code: a panic is the failure report, so its helpers may unwrap (denied elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use dhcproto::v4::{self, DhcpOption, MessageType, OptionCode};
use dhcproto::{Decodable, Encodable};
use serde_json::{json, Value};
use tokio::net::UdpSocket;

const MAC1: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x01];
const MAC2: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x02];
const MAC3: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x35, 0x00];
const SERVER: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free UDP port")
}

fn message(kind: MessageType, mac: [u8; 6], opts: Vec<DhcpOption>) -> v4::Message {
    let mut m = v4::Message::new(
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac,
    );
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in opts {
        m.opts_mut().insert(o);
    }
    m
}

struct Client {
    socket: UdpSocket,
    server: SocketAddr,
}

impl Client {
    /// Sends `m` and returns the reply with its transaction id; `None` after `wait`.
    async fn exchange(&self, m: &v4::Message, wait: Duration) -> Option<v4::Message> {
        self.socket
            .send_to(&m.to_vec().unwrap(), self.server)
            .await
            .unwrap();
        self.reply_to(m.xid(), wait).await
    }

    async fn reply_to(&self, xid: u32, wait: Duration) -> Option<v4::Message> {
        let mut buf = vec![0u8; 2048];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let n = tokio::time::timeout_at(deadline, self.socket.recv(&mut buf))
                .await
                .ok()?
                .unwrap();
            let reply = v4::Message::from_bytes(&buf[..n]).expect("a DHCP reply");
            if reply.xid() == xid {
                return Some(reply);
            }
        }
    }
}

fn kind(m: &v4::Message) -> MessageType {
    m.opts().msg_type().expect("message type")
}

async fn lease(http: &reqwest::Client, base: &str, addr: &str) -> Value {
    let resp = http
        .get(format!("{base}/leases/{addr}"))
        .basic_auth("rocketskates", Some(common::ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "lease {addr}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn dhcp_leases_are_committed_and_served_on_loopback() {
    let http = reqwest::Client::new();
    let port = free_udp_port();
    let port_arg = port.to_string();
    let node = common::start_node_with(
        &http,
        &[
            "--dhcp-port",
            &port_arg,
            "--static-port",
            "0",
            "--tftp-port",
            "0",
        ],
    )
    .await;
    let subnet = json!({
        "Name": "loopback", "Subnet": "127.0.0.0/8", "Enabled": true,
        "ActiveStart": "127.0.0.10", "ActiveEnd": "127.0.0.20",
        "ActiveLeaseTime": 600, "Strategy": "MAC",
        "Options": [{"Code": 3, "Value": "127.0.0.1"}, {"Code": 6, "Value": "127.0.0.53"}],
    });
    let resp = http
        .post(format!("{}/subnets", node.base))
        .basic_auth("rocketskates", Some(common::ADMIN_PASSWORD))
        .json(&subnet)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());

    let client = Client {
        socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        server: SocketAddr::from((SERVER, port)),
    };
    let arch = DhcpOption::ClientSystemArchitecture(v4::Architecture(7));

    // The service binds once the node leads: retransmit DISCOVER as a client does.
    let mut offer = None;
    for _ in 0..60 {
        let discover = message(MessageType::Discover, MAC1, vec![arch.clone()]);
        if let Some(r) = client.exchange(&discover, Duration::from_millis(500)).await {
            offer = Some(r);
            break;
        }
    }
    let offer = offer.expect("an OFFER within 30 s");
    assert_eq!(kind(&offer), MessageType::Offer);
    let first = Ipv4Addr::new(127, 0, 0, 10);
    assert_eq!(offer.yiaddr(), first);
    assert_eq!(offer.siaddr(), SERVER);
    assert_eq!(
        offer.opts().get(OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(
        offer.opts().get(OptionCode::Router),
        Some(&DhcpOption::Router(vec![SERVER]))
    );
    assert_eq!(
        offer.opts().get(OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 0, 0, 0)))
    );
    assert_eq!(
        offer.fname_str().map(|f| f.unwrap().trim_end_matches('\0')),
        Some("ipxe.efi")
    );
    // Committed before the OFFER was sent.
    let offered = lease(&http, &node.base, "127.0.0.10").await;
    assert_eq!(offered["State"], "OFFER");
    assert_eq!(offered["Token"], "52:54:00:12:34:01");

    let wait = Duration::from_secs(10);
    let request = |mac, addr| {
        message(
            MessageType::Request,
            mac,
            vec![
                DhcpOption::RequestedIpAddress(addr),
                DhcpOption::ServerIdentifier(SERVER),
            ],
        )
    };
    let ack = client
        .exchange(&request(MAC1, first), wait)
        .await
        .expect("ACK");
    assert_eq!(kind(&ack), MessageType::Ack);
    assert_eq!(ack.yiaddr(), first);
    assert_eq!(
        ack.opts().get(OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(600))
    );
    let acked = lease(&http, &node.base, "127.0.0.10").await;
    assert_eq!(acked["State"], "ACK");
    let expires = humantime::parse_rfc3339_weak(acked["ExpireTime"].as_str().unwrap()).unwrap();
    assert!(expires > std::time::SystemTime::now() + Duration::from_secs(500));

    // A second client gets another address.
    let offer2 = client
        .exchange(&message(MessageType::Discover, MAC2, vec![]), wait)
        .await
        .expect("OFFER for the second client");
    assert_eq!(kind(&offer2), MessageType::Offer);
    assert_eq!(offer2.yiaddr(), Ipv4Addr::new(127, 0, 0, 11));

    // ... and is refused the first client's address.
    let nak = client
        .exchange(&request(MAC2, first), wait)
        .await
        .expect("NAK");
    assert_eq!(kind(&nak), MessageType::Nak);

    // A lease deleted through the API is free again for the next client: the server's copy of
    // the leases follows every change, not only its own.
    let deleted = http
        .delete(format!("{}/leases/127.0.0.10", node.base))
        .basic_auth("rocketskates", Some(common::ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    // The change event reaches the server a moment after the DELETE answers: until it does,
    // a new client is offered the next address, so each try is a new client.
    let mut reused = false;
    for i in 0..8u8 {
        let mut mac = MAC3;
        mac[5] = 0x10 + i;
        let offer3 = client
            .exchange(&message(MessageType::Discover, mac, vec![]), wait)
            .await
            .expect("OFFER for a new client");
        if offer3.yiaddr() == first {
            reused = true;
            break;
        }
    }
    assert!(reused, "the deleted lease's address was not offered again");

    // Malformed packets get no reply at all; the server still answers afterwards, so the
    // first datagram back must answer the valid one.
    let template = message(MessageType::Discover, MAC2, vec![])
        .to_vec()
        .unwrap();
    let mut bad_hlen = template.clone();
    bad_hlen[2] = 255;
    let mut bad_option = template[..240].to_vec();
    bad_option.extend_from_slice(&[53, 1, 1, 81, 200, 0]);
    for bad in [
        b"not dhcp at all".to_vec(),
        template[..100].to_vec(),
        bad_hlen,
        bad_option,
        vec![0u8; 1400],
    ] {
        client.socket.send_to(&bad, client.server).await.unwrap();
    }
    let good = message(MessageType::Discover, MAC2, vec![]);
    client
        .socket
        .send_to(&good.to_vec().unwrap(), client.server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 2048];
    let n = tokio::time::timeout(wait, client.socket.recv(&mut buf))
        .await
        .expect("the server answers after malformed packets")
        .unwrap();
    let after = v4::Message::from_bytes(&buf[..n]).unwrap();
    assert_eq!(
        after.xid(),
        good.xid(),
        "the first reply answers the valid packet"
    );
    assert_eq!(kind(&after), MessageType::Offer);
    assert_eq!(after.yiaddr(), Ipv4Addr::new(127, 0, 0, 11));
}

/// The boot file (option 67) a DISCOVER from `mac` with option 93 = `arch` is offered.
async fn offered_file(client: &Client, mac: [u8; 6], arch: u16) -> Option<String> {
    let discover = message(
        MessageType::Discover,
        mac,
        vec![DhcpOption::ClientSystemArchitecture(v4::Architecture(arch))],
    );
    let offer = client
        .exchange(&discover, Duration::from_millis(500))
        .await?;
    offer
        .fname_str()
        .and_then(|f| f.ok())
        .map(|f| f.trim_end_matches('\0').to_string())
}

/// Retransmits until the offered boot file is `want` (a change reaches the server a moment
/// after the API answers); panics with the last one seen after 30 s.
async fn wait_for_file(client: &Client, mac: [u8; 6], arch: u16, want: &str) {
    let mut seen = None;
    for _ in 0..60 {
        seen = offered_file(client, mac, arch).await;
        if seen.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{mac:02x?} arch {arch}: offered {seen:?}, not {want:?}");
}

/// DRP's `overridable-bootloaders` over real packets: unknown clients get the built-in
/// loader until the global profile's `bootloaders` param names another; a known machine's
/// own `bootloaders` param overrides the global one; a machine whose bootenv has `Loaders`
/// gets that loader under the bootenv's path, ahead of its param.
#[tokio::test]
async fn bootloaders_params_and_bootenv_loaders_pick_the_boot_file() {
    let http = reqwest::Client::new();
    let port = free_udp_port();
    let port_arg = port.to_string();
    let node = common::start_node_with(&http, &["--dhcp-port", &port_arg]).await;
    let post = |path: &str, body: Value| {
        let req = http
            .post(format!("{}{path}", node.base))
            .basic_auth("rocketskates", Some(common::ADMIN_PASSWORD))
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            assert!(
                status.is_success(),
                "{status}: {}",
                resp.text().await.unwrap()
            );
        }
    };
    post(
        "/subnets",
        json!({
            "Name": "loopback", "Subnet": "127.0.0.0/8", "Enabled": true,
            "ActiveStart": "127.0.0.10", "ActiveEnd": "127.0.0.20",
            "ActiveLeaseTime": 600, "Strategy": "MAC",
        }),
    )
    .await;
    let client = Client {
        socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        server: SocketAddr::from((SERVER, port)),
    };
    let (unknown, param_machine, loaders_machine) = (MAC1, MAC2, MAC3);

    // Nothing configured: the built-in loaders.
    wait_for_file(&client, unknown, 7, "ipxe.efi").await;
    assert_eq!(
        offered_file(&client, unknown, 0).await.as_deref(),
        Some("lpxelinux.0")
    );
    // The global profile's bootloaders param: every client, known or not.
    post(
        "/profiles/global/params/bootloaders",
        json!({"amd64-uefi": "global.efi", "386-pcbios": "global.kpxe"}),
    )
    .await;
    wait_for_file(&client, unknown, 9, "global.efi").await;
    wait_for_file(&client, unknown, 0, "global.kpxe").await;

    // A machine's own bootloaders param overrides the global one for its type only.
    post(
        "/machines",
        json!({"Name": "param-machine", "Uuid": "5b0c2f1e-2222-4d4d-8e8e-000000000001",
            "HardwareAddrs": ["52:54:00:12:34:02"],
            "Params": {"bootloaders": {"amd64-uefi": "machine.efi"}}}),
    )
    .await;
    wait_for_file(&client, param_machine, 7, "machine.efi").await;
    assert_eq!(
        offered_file(&client, param_machine, 0).await.as_deref(),
        Some("global.kpxe")
    );
    // Still the global one for the unknown client.
    assert_eq!(
        offered_file(&client, unknown, 7).await.as_deref(),
        Some("global.efi")
    );

    // A bootenv's Loaders win over the machine's param (the bootenv comes from the stage
    // of the machine's workflow).
    post(
        "/bootenvs",
        json!({"Name": "shim-test", "OS": {"Name": "shimos"},
            "Loaders": {"amd64-uefi": "abc123/shimx64.efi"}}),
    )
    .await;
    post(
        "/tasks",
        json!({"Name": "noop", "Templates": [{"Name": "s", "Contents": "#!/bin/sh\ntrue\n"}]}),
    )
    .await;
    post(
        "/stages",
        json!({"Name": "shim-stage", "BootEnv": "shim-test", "Tasks": ["noop"]}),
    )
    .await;
    post(
        "/workflows",
        json!({"Name": "shim-wf", "Stages": ["shim-stage"]}),
    )
    .await;
    post(
        "/machines",
        json!({"Name": "shim-machine", "Uuid": "5b0c2f1e-2222-4d4d-8e8e-000000000002",
            "HardwareAddrs": ["52:54:00:12:35:00"], "Workflow": "shim-wf",
            "Params": {"bootloaders": {"amd64-uefi": "machine.efi"}}}),
    )
    .await;
    wait_for_file(&client, loaders_machine, 7, "shimos/abc123/shimx64.efi").await;
    // Types its Loaders leave out fall to the params.
    assert_eq!(
        offered_file(&client, loaders_machine, 0).await.as_deref(),
        Some("global.kpxe")
    );
    assert_eq!(
        offered_file(&client, loaders_machine, 11).await.as_deref(),
        Some("ipxe-arm64.efi")
    );
    // iPXE still chains to the provisioner's default.ipxe.
    let ipxe = message(
        MessageType::Discover,
        loaders_machine,
        vec![
            DhcpOption::ClientSystemArchitecture(v4::Architecture(7)),
            DhcpOption::UserClass(b"iPXE".to_vec()),
        ],
    );
    let offer = client
        .exchange(&ipxe, Duration::from_secs(10))
        .await
        .expect("OFFER to iPXE");
    let file = offer.fname_str().unwrap().unwrap().trim_end_matches('\0');
    assert!(file.ends_with("/default.ipxe"), "{file}");
}
