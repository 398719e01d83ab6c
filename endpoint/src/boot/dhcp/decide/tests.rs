use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{self, DhcpOption, MessageType, OptionCode};
use dhcproto::{Decodable, Encodable};
use serde_json::{json, Value};

use super::*;

const NOW: u64 = 1_700_000_000_000;
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const MAC1: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];
const MAC2: [u8; 6] = [0x52, 0x54, 0, 0, 0, 2];

fn subnet(extra: Value) -> Value {
    let mut s = json!({
        "Name": "lan", "Subnet": "10.0.0.0/24", "Enabled": true,
        "ActiveStart": "10.0.0.10", "ActiveEnd": "10.0.0.12",
        "ActiveLeaseTime": 600, "ReservedLeaseTime": 7200, "Strategy": "MAC",
        "Options": [{"Code": 3, "Value": "10.0.0.1"}, {"Code": 6, "Value": "1.1.1.1,8.8.8.8"},
                    {"Code": 15, "Value": "lab.example"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn packet(kind: MessageType, mac: [u8; 6], opts: Vec<DhcpOption>, ciaddr: Ipv4Addr) -> Vec<u8> {
    let mut m = v4::Message::new(
        ciaddr,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac,
    );
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in opts {
        m.opts_mut().insert(o);
    }
    m.to_vec().unwrap()
}

fn discover(mac: [u8; 6], opts: Vec<DhcpOption>) -> Vec<u8> {
    packet(MessageType::Discover, mac, opts, Ipv4Addr::UNSPECIFIED)
}

fn request(mac: [u8; 6], addr: Ipv4Addr) -> Vec<u8> {
    packet(
        MessageType::Request,
        mac,
        vec![
            DhcpOption::RequestedIpAddress(addr),
            DhcpOption::ServerIdentifier(SERVER),
        ],
        Ipv4Addr::UNSPECIFIED,
    )
}

struct World {
    subnets: Vec<Value>,
    reservations: Vec<Value>,
    leases: Vec<Value>,
    virt: Option<Ipv4Addr>,
    loaders: Loaders,
}

impl World {
    fn new(subnet: Value) -> Self {
        World {
            subnets: vec![subnet],
            reservations: vec![],
            leases: vec![],
            virt: None,
            loaders: Loaders::default(),
        }
    }

    fn run_at(&self, bytes: &[u8], now_ms: u64) -> Result<Decision, Drop> {
        let local = [SERVER];
        let inbound = Inbound {
            bytes,
            source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            local: &local,
        };
        let known = Known {
            subnets: &self.subnets,
            reservations: &self.reservations,
            leases: &self.leases,
            in_flight: &Default::default(),
            now_ms,
            loaders: &self.loaders,
        };
        let boot = Boot {
            next_server: Some(Ipv4Addr::new(10, 0, 0, 5)),
            provisioner_url: "http://10.0.0.5:8091".into(),
            virt_addr: self.virt,
        };
        decide(&inbound, &known, &boot)
    }

    fn run(&self, bytes: &[u8]) -> Result<Decision, Drop> {
        self.run_at(bytes, NOW)
    }

    /// Applies a decision's lease write as the store would.
    fn commit(&mut self, d: &Decision) {
        if let Some(w) = &d.write {
            let key = w.addr.to_string();
            self.leases.retain(|l| l["Addr"] != json!(key));
            self.leases.push(w.object.clone());
        }
    }
}

fn reply(d: &Decision) -> v4::Message {
    v4::Message::from_bytes(&d.reply.as_ref().expect("a reply").bytes).unwrap()
}

fn kind(m: &v4::Message) -> MessageType {
    m.opts().msg_type().unwrap()
}

fn lease(addr: &str, mac: &str, expire_ms: u64) -> Value {
    json!({"Addr": addr, "Token": mac, "Strategy": "MAC", "State": "ACK",
           "ExpireTime": crate::fill::rfc3339(expire_ms)})
}

#[test]
fn discover_offers_the_first_free_address_and_writes_an_offer_lease() {
    let w = World::new(subnet(json!({})));
    let d = w.run(&discover(MAC1, vec![])).unwrap();
    let m = reply(&d);
    assert_eq!(kind(&m), MessageType::Offer);
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 0, 10));
    assert_eq!(m.siaddr(), Ipv4Addr::new(10, 0, 0, 5));
    let write = d.write.unwrap();
    assert_eq!(write.etag, None);
    assert_eq!(write.object["State"], "OFFER");
    assert_eq!(write.object["Token"], "52:54:00:00:00:01");
    assert_eq!(write.object["Addr"], "10.0.0.10");
    assert_eq!(
        d.reply.unwrap().to,
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    );
}

#[test]
fn options_are_encoded_from_drp_values() {
    let w = World::new(subnet(json!({})));
    let m = reply(&w.run(&discover(MAC1, vec![])).unwrap());
    let o = m.opts();
    assert_eq!(
        o.get(OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
    );
    assert_eq!(
        o.get(OptionCode::Router),
        Some(&DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 0, 1)]))
    );
    assert_eq!(
        o.get(OptionCode::DomainNameServer),
        Some(&DhcpOption::DomainNameServer(vec![
            Ipv4Addr::new(1, 1, 1, 1),
            Ipv4Addr::new(8, 8, 8, 8)
        ]))
    );
    assert_eq!(
        o.get(OptionCode::DomainName),
        Some(&DhcpOption::DomainName("lab.example".into()))
    );
    assert_eq!(
        o.get(OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(600))
    );
    assert_eq!(
        o.get(OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(options::encode(26, "1500"), Some(vec![5, 220]));
    assert_eq!(options::encode(19, "true"), Some(vec![1]));
    assert_eq!(options::encode(3, "not-an-ip"), None);
}

#[test]
fn second_client_gets_another_address_and_the_first_keeps_its_own() {
    let mut w = World::new(subnet(json!({})));
    let d1 = w.run(&discover(MAC1, vec![])).unwrap();
    w.commit(&d1);
    let d2 = w.run(&discover(MAC2, vec![])).unwrap();
    assert_eq!(reply(&d2).yiaddr(), Ipv4Addr::new(10, 0, 0, 11));
    w.commit(&d2);
    // Client 1 asks again: same address, and its lease is replaced (with its ETag).
    let again = w.run(&discover(MAC1, vec![])).unwrap();
    assert_eq!(reply(&again).yiaddr(), Ipv4Addr::new(10, 0, 0, 10));
    assert!(again.write.unwrap().etag.is_some());
}

#[test]
fn request_acks_the_offered_address_and_naks_another_clients() {
    let mut w = World::new(subnet(json!({})));
    let d1 = w.run(&discover(MAC1, vec![])).unwrap();
    w.commit(&d1);
    let ack = w.run(&request(MAC1, Ipv4Addr::new(10, 0, 0, 10))).unwrap();
    assert_eq!(kind(&reply(&ack)), MessageType::Ack);
    assert_eq!(ack.write.as_ref().unwrap().object["State"], "ACK");
    w.commit(&ack);
    let nak = w.run(&request(MAC2, Ipv4Addr::new(10, 0, 0, 10))).unwrap();
    assert_eq!(kind(&reply(&nak)), MessageType::Nak);
    assert!(nak.write.is_none());
    // Outside the subnet: NAK too.
    let off = w
        .run(&request(MAC2, Ipv4Addr::new(192, 168, 1, 1)))
        .unwrap();
    assert_eq!(kind(&reply(&off)), MessageType::Nak);
}

#[test]
fn expired_leases_are_reused_and_a_full_range_gets_no_offer() {
    let mut w = World::new(subnet(json!({})));
    w.leases = vec![
        lease("10.0.0.10", "aa:aa:aa:aa:aa:01", NOW + 60_000),
        lease("10.0.0.11", "aa:aa:aa:aa:aa:02", NOW - 1),
        lease("10.0.0.12", "aa:aa:aa:aa:aa:03", NOW + 60_000),
    ];
    let d = w.run(&discover(MAC1, vec![])).unwrap();
    assert_eq!(reply(&d).yiaddr(), Ipv4Addr::new(10, 0, 0, 11));
    // Replacing another client's expired lease starts a fresh record, guarded by ETag.
    let write = d.write.unwrap();
    assert!(write.etag.is_some());
    assert_eq!(write.object["Token"], "52:54:00:00:00:01");
    w.leases[1] = lease("10.0.0.11", "aa:aa:aa:aa:aa:02", NOW + 60_000);
    assert!(w.run(&discover(MAC1, vec![])).is_err());
}

#[test]
fn reservations_win_and_only_reservations_ignores_others() {
    let mut w = World::new(subnet(json!({"OnlyReservations": true})));
    w.reservations = vec![json!({
        "Addr": "10.0.0.50", "Token": "52:54:00:00:00:01", "Strategy": "MAC",
        "Options": [{"Code": 3, "Value": "10.0.0.254"}], "NextServer": "10.0.0.7"
    })];
    let d = w.run(&discover(MAC1, vec![])).unwrap();
    let m = reply(&d);
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 0, 50));
    assert_eq!(m.siaddr(), Ipv4Addr::new(10, 0, 0, 7));
    assert_eq!(
        m.opts().get(OptionCode::Router),
        Some(&DhcpOption::Router(vec![Ipv4Addr::new(10, 0, 0, 254)]))
    );
    assert_eq!(
        m.opts().get(OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(7200))
    );
    assert!(w.run(&discover(MAC2, vec![])).is_err());
    // A request for a reserved address by another client is refused.
    let nak = w.run(&request(MAC2, Ipv4Addr::new(10, 0, 0, 50))).unwrap();
    assert_eq!(kind(&reply(&nak)), MessageType::Nak);
}

#[test]
fn unknown_networks_disabled_subnets_and_other_servers_get_nothing() {
    let mut w = World::new(subnet(json!({"Subnet": "192.168.0.0/24"})));
    assert!(w.run(&discover(MAC1, vec![])).is_err());
    w.subnets = vec![subnet(json!({"Enabled": false}))];
    assert!(w.run(&discover(MAC1, vec![])).is_err());
    w.subnets = vec![subnet(json!({}))];
    let other = packet(
        MessageType::Request,
        MAC1,
        vec![
            DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 10)),
            DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 99)),
        ],
        Ipv4Addr::UNSPECIFIED,
    );
    assert!(w.run(&other).is_err());
}

#[test]
fn boot_file_follows_architecture_user_class_and_option_67() {
    let w = World::new(subnet(json!({})));
    let file = |opts: Vec<DhcpOption>, w: &World| {
        let m = reply(&w.run(&discover(MAC1, opts)).unwrap());
        m.fname_str()
            .map(|f| f.unwrap().trim_end_matches('\0').to_string())
    };
    let arch = |n: u16| DhcpOption::ClientSystemArchitecture(v4::Architecture(n));
    assert_eq!(file(vec![arch(0)], &w).as_deref(), Some("lpxelinux.0"));
    assert_eq!(file(vec![arch(7)], &w).as_deref(), Some("ipxe.efi"));
    assert_eq!(file(vec![arch(9)], &w).as_deref(), Some("ipxe.efi"));
    assert_eq!(file(vec![arch(11)], &w).as_deref(), Some("ipxe-arm64.efi"));
    assert_eq!(
        file(vec![arch(7), DhcpOption::UserClass(b"iPXE".to_vec())], &w).as_deref(),
        Some("http://10.0.0.5:8091/default.ipxe")
    );
    assert_eq!(file(vec![], &w), None);
    // A subnet's option 67 wins, rendered as DRP's template over the client's options.
    let templated = r#"{{if (eq (index . 77) "iPXE")}}default.ipxe{{else if (eq (index . 93) "0")}}undionly.kpxe{{else}}snp.efi{{end}}"#;
    let w = World::new(subnet(json!({
        "Options": [{"Code": 67, "Value": templated}]
    })));
    assert_eq!(file(vec![arch(0)], &w).as_deref(), Some("undionly.kpxe"));
    assert_eq!(file(vec![arch(7)], &w).as_deref(), Some("snp.efi"));
    assert_eq!(
        file(vec![DhcpOption::UserClass(b"iPXE".to_vec())], &w).as_deref(),
        Some("default.ipxe")
    );
    // Unmanaged: no boot information at all.
    let w = World::new(subnet(json!({"Unmanaged": true})));
    let m = reply(&w.run(&discover(MAC1, vec![arch(7)])).unwrap());
    assert_eq!(m.fname(), None);
    assert_eq!(m.siaddr(), Ipv4Addr::UNSPECIFIED);
}

#[test]
fn release_expires_and_decline_parks_the_address() {
    let mut w = World::new(subnet(json!({})));
    w.leases = vec![lease("10.0.0.10", "52:54:00:00:00:01", NOW + 600_000)];
    let release = packet(
        MessageType::Release,
        MAC1,
        vec![DhcpOption::ServerIdentifier(SERVER)],
        Ipv4Addr::new(10, 0, 0, 10),
    );
    let d = w.run(&release).unwrap();
    assert!(d.reply.is_none());
    assert_eq!(d.write.as_ref().unwrap().object["State"], "EXPIRE");
    let decline = packet(
        MessageType::Decline,
        MAC1,
        vec![
            DhcpOption::ServerIdentifier(SERVER),
            DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 10)),
        ],
        Ipv4Addr::UNSPECIFIED,
    );
    let d = w.run(&decline).unwrap();
    assert_eq!(d.write.as_ref().unwrap().object["State"], "DECLINE");
    w.commit(&d);
    // The declined address is skipped, by everyone, until the hold ends.
    let next = w.run(&discover(MAC1, vec![])).unwrap();
    assert_eq!(reply(&next).yiaddr(), Ipv4Addr::new(10, 0, 0, 11));
    let later = w
        .run_at(&discover(MAC2, vec![]), NOW + (DECLINE_HOLD_S + 1) * 1000)
        .unwrap();
    assert_eq!(reply(&later).yiaddr(), Ipv4Addr::new(10, 0, 0, 10));
}

#[test]
fn malformed_packets_are_dropped_without_panicking() {
    let w = World::new(subnet(json!({})));
    let good = discover(MAC1, vec![]);
    for len in 0..good.len() {
        let _ = w.run(&good[..len]);
    }
    let mut bad_hlen = good.clone();
    bad_hlen[2] = 200;
    assert!(w.run(&bad_hlen).is_err());
    let mut long_option = good[..240].to_vec();
    long_option.extend_from_slice(&[53, 1, 1, 80, 5, 1]);
    let _ = w.run(&long_option);
    let mut rapid_commit = good[..240].to_vec();
    rapid_commit.extend_from_slice(&[53, 1, 1, 80, 2, 0, 0, 81, 1, 0, 255]);
    let _ = w.run(&rapid_commit);
}

#[test]
fn rfc3339_times_with_offsets_parse() {
    assert_eq!(parse_time_ms("1970-01-01T00:00:01Z"), Some(1000));
    assert_eq!(parse_time_ms("1970-01-01T01:00:01+01:00"), Some(1000));
    assert_eq!(parse_time_ms("1970-01-01T00:00:01.5Z"), Some(1500));
    assert_eq!(parse_time_ms("garbage"), None);
    assert_eq!(parse_time_ms("ééééééé"), None);
}

#[test]
fn the_virtual_address_is_the_server_identifier_so_a_request_survives_a_failover() {
    let vip = Ipv4Addr::new(10, 0, 0, 2);
    let mut w = World::new(subnet(json!({})));
    w.virt = Some(vip);
    let offer = w.run(&discover(MAC1, vec![])).unwrap();
    let m = reply(&offer);
    assert_eq!(
        m.opts().get(OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(vip))
    );
    w.commit(&offer);
    // A REQUEST naming the virtual address (made to the old leader) is acked by whoever holds it.
    let req = packet(
        MessageType::Request,
        MAC1,
        vec![
            DhcpOption::RequestedIpAddress(m.yiaddr()),
            DhcpOption::ServerIdentifier(vip),
        ],
        Ipv4Addr::UNSPECIFIED,
    );
    assert_eq!(kind(&reply(&w.run(&req).unwrap())), MessageType::Ack);
    // One naming another server entirely is not ours to answer.
    let other = packet(
        MessageType::Request,
        MAC1,
        vec![
            DhcpOption::RequestedIpAddress(m.yiaddr()),
            DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 99)),
        ],
        Ipv4Addr::UNSPECIFIED,
    );
    assert!(w.run(&other).is_err());
}

/// Render data as `render::context` builds it: `machine` (if any), its bootenv, and param
/// layers highest first, with `bootloaders`' definition carrying `default`.
fn loader_data(
    machine: Option<Value>,
    env: Option<Value>,
    layers: &[Value],
    default: Option<Value>,
) -> template::drp::DrpContext {
    let mut defs = serde_json::Map::new();
    if let Some(d) = default {
        defs.insert(
            "bootloaders".into(),
            json!({"Name": "bootloaders", "Schema": {"type": "object", "default": d}}),
        );
    }
    template::drp::DrpContext {
        machine,
        env,
        param_layers: layers
            .iter()
            .map(|l| l.as_object().cloned().unwrap())
            .collect(),
        param_defs: defs,
        ..Default::default()
    }
}

fn files(l: &Loaders) -> [&str; 3] {
    [
        l.file(MachineType::Bios386),
        l.file(MachineType::Amd64Uefi),
        l.file(MachineType::Arm64Uefi),
    ]
}

#[test]
fn option_93_maps_to_drps_machine_types() {
    assert_eq!(MachineType::from_arch(0), Some(MachineType::Bios386));
    assert_eq!(MachineType::from_arch(7), Some(MachineType::Amd64Uefi));
    assert_eq!(MachineType::from_arch(9), Some(MachineType::Amd64Uefi));
    assert_eq!(MachineType::from_arch(11), Some(MachineType::Arm64Uefi));
    // 32-bit x86 UEFI and the rest: DRP has no machine type, so no loader.
    for other in [1, 2, 6, 10, 16, 0xffff] {
        assert_eq!(MachineType::from_arch(other), None, "{other}");
    }
    let names: Vec<&str> = MachineType::ALL.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["386-pcbios", "amd64-uefi", "arm64-uefi"]);
    assert_eq!(
        files(&Loaders::default()),
        ["lpxelinux.0", "ipxe.efi", "ipxe-arm64.efi"]
    );
}

#[test]
fn loaders_follow_drps_order_step_by_step() {
    let machine = json!({"Uuid": "u1", "Arch": "amd64"});
    // Step 1: the bootenv's Loaders, under the bootenv's tree (an -install bootenv's is
    // `<os>/install`).
    let env = json!({
        "Name": "sledgehammer",
        "OS": {"Name": "sledgehammer", "SupportedArchitectures": {
            "x86_64": {"Loader": "arch-amd64.efi"},
            "aarch64": {"Loader": "grubarm64.efi"}}},
        "Loaders": {"amd64-uefi": "abc/shimx64.efi"}
    });
    let param = json!({"bootloaders": {"386-pcbios": "param.0", "amd64-uefi": "param.efi"}});
    let all = Loaders::resolve(&loader_data(
        Some(machine.clone()),
        Some(env.clone()),
        std::slice::from_ref(&param),
        Some(json!({"arm64-uefi": "default-arm.efi"})),
    ));
    // amd64-uefi: the bootenv's Loaders; 386-pcbios: the machine's arch's Loader (step 2,
    // ahead of the param); arm64-uefi: an amd64 machine's arch entry is also step 2.
    assert_eq!(
        files(&all),
        [
            "arch-amd64.efi",
            "sledgehammer/abc/shimx64.efi",
            "arch-amd64.efi"
        ]
    );
    let install = json!({
        "Name": "centos-8-install",
        "OS": {"Name": "centos-8"},
        "Loaders": {"amd64-uefi": "EFI/BOOT/shimx64.efi", "arm64-uefi": "EFI/BOOT/shimaa64.efi"}
    });
    let arm = json!({"Uuid": "u2", "Arch": "aarch64"});
    let l = Loaders::resolve(&loader_data(Some(arm), Some(install), &[], None));
    assert_eq!(
        l.file(MachineType::Arm64Uefi),
        "centos-8/arm64/install/EFI/BOOT/shimaa64.efi"
    );
    // Step 2 for the machine's arch (aliases count): an arm64 machine gets its arch's Loader.
    let arm = json!({"Uuid": "u3", "Arch": "arm64"});
    let l = Loaders::resolve(&loader_data(Some(arm), Some(env.clone()), &[], None));
    assert_eq!(l.file(MachineType::Arm64Uefi), "grubarm64.efi");
    // Step 3: the param, the first layer holding the machine type winning, then lower
    // layers for types the higher ones leave out; step 4: its default.
    let plain_env = json!({"Name": "local", "OS": {"Name": "local"}});
    let machine_layer = json!({"bootloaders": {"amd64-uefi": "machine.efi"}});
    let profile_layer =
        json!({"bootloaders": {"amd64-uefi": "profile.efi", "386-pcbios": "profile.0"}});
    let global_layer =
        json!({"bootloaders": {"386-pcbios": "global.0", "arm64-uefi": "global-arm.efi"}});
    let l = Loaders::resolve(&loader_data(
        Some(machine.clone()),
        Some(plain_env.clone()),
        &[machine_layer, profile_layer, global_layer.clone()],
        Some(json!({"arm64-uefi": "default-arm.efi"})),
    ));
    assert_eq!(files(&l), ["profile.0", "machine.efi", "global-arm.efi"]);
    let l = Loaders::resolve(&loader_data(
        Some(machine.clone()),
        Some(plain_env.clone()),
        &[json!({}), global_layer],
        Some(json!({"amd64-uefi": "default.efi"})),
    ));
    assert_eq!(files(&l), ["global.0", "default.efi", "global-arm.efi"]);
    // Step 5: nothing anywhere, or empty values: the built-in loaders.
    let empty = json!({"Name": "x", "OS": {"Name": "x"}, "Loaders": {"amd64-uefi": ""}});
    let l = Loaders::resolve(&loader_data(
        Some(machine),
        Some(empty),
        &[json!({"bootloaders": {"386-pcbios": ""}})],
        None,
    ));
    assert_eq!(files(&l), ["lpxelinux.0", "ipxe.efi", "ipxe-arm64.efi"]);
    // No bootenv at all: the params still apply.
    let l = Loaders::resolve(&loader_data(None, None, &[param], None));
    assert_eq!(files(&l), ["param.0", "param.efi", "ipxe-arm64.efi"]);
}

#[test]
fn unknown_clients_go_by_their_machine_types_arch() {
    // No machine: each type uses its own arch's entry and path.
    let env = json!({
        "Name": "discovery",
        "OS": {"Name": "sledgehammer", "SupportedArchitectures": {
            "arm64": {"Loader": "grubarm64.efi"}}},
        "Loaders": {"amd64-uefi": "abc/shimx64.efi"}
    });
    let l = Loaders::resolve(&loader_data(None, Some(env), &[], None));
    assert_eq!(
        files(&l),
        [
            "lpxelinux.0",
            "sledgehammer/abc/shimx64.efi",
            "grubarm64.efi"
        ]
    );
}

#[test]
fn the_clients_loaders_name_the_boot_file_unless_option_67_or_ipxe() {
    let mut w = World::new(subnet(json!({})));
    w.loaders = Loaders::resolve(&loader_data(
        None,
        None,
        &[json!({"bootloaders": {"386-pcbios": "undionly.kpxe", "amd64-uefi": "snponly.efi"}})],
        None,
    ));
    let file = |opts: Vec<DhcpOption>, w: &World| {
        let m = reply(&w.run(&discover(MAC1, opts)).unwrap());
        m.fname_str()
            .map(|f| f.unwrap().trim_end_matches('\0').to_string())
    };
    let arch = |n: u16| DhcpOption::ClientSystemArchitecture(v4::Architecture(n));
    assert_eq!(file(vec![arch(0)], &w).as_deref(), Some("undionly.kpxe"));
    assert_eq!(file(vec![arch(7)], &w).as_deref(), Some("snponly.efi"));
    assert_eq!(file(vec![arch(9)], &w).as_deref(), Some("snponly.efi"));
    assert_eq!(file(vec![arch(11)], &w).as_deref(), Some("ipxe-arm64.efi"));
    assert_eq!(file(vec![arch(6)], &w), None);
    // iPXE still chains to default.ipxe.
    assert_eq!(
        file(vec![arch(7), DhcpOption::UserClass(b"iPXE".to_vec())], &w).as_deref(),
        Some("http://10.0.0.5:8091/default.ipxe")
    );
    // A reservation's option 67 wins, and so does a subnet's.
    w.reservations = vec![json!({"Addr": "10.0.0.11", "Token": "52:54:00:00:00:01",
        "Strategy": "MAC", "Options": [{"Code": 67, "Value": "reserved.efi"}]})];
    assert_eq!(file(vec![arch(7)], &w).as_deref(), Some("reserved.efi"));
    w.reservations.clear();
    w.subnets = vec![subnet(
        json!({"Options": [{"Code": 67, "Value": "subnet.efi"}]}),
    )];
    assert_eq!(file(vec![arch(7)], &w).as_deref(), Some("subnet.efi"));
}
