//! DRP's render data (`template::drp::DrpContext`): param resolution order and errors, the
//! Machine/Env helpers, expansion, `template` and `.CallTemplate` through a source.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use template::drp::DrpContext;
use template::{render, NoTemplates, RenderData, Template, TemplateSource};

fn layer(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn ctx() -> DrpContext {
    DrpContext {
        machine: Some(json!({
            "Name": "node1.lab.example.com",
            "Uuid": "3e7031fe-3062-45f1-835c-92541bc9cbd3",
            "Address": "192.168.1.10",
            "Arch": "x86_64",
            "OS": "centos-7",
            "Profiles": ["rack-a"],
            "CurrentTask": 2,
            "Tasks": ["a", "b", "c", "d"],
        })),
        env: Some(json!({
            "Name": "centos-7-install",
            "OS": {
                "Name": "centos-7",
                "Family": "redhat",
                "Version": "7.9",
                "SupportedArchitectures": {
                    "x86_64": {
                        "Kernel": "images/pxeboot/vmlinuz",
                        "Initrds": ["images/pxeboot/initrd.img", "extra.img"],
                        "BootParams": "ks={{.Machine.Url}}/compute.ks {{.Param \"kernel-console\"}}"
                    },
                    "aarch64": {
                        "Kernel": "images/pxeboot/vmlinuz-arm",
                        "Initrds": ["images/pxeboot/initrd-arm.img"]
                    }
                }
            }
        })),
        param_layers: vec![
            layer(json!({"machine-only": "m", "shared": "from-machine", "list": ["m1"]})),
            layer(
                json!({"shared": "from-profile", "profile-only": 7, "list": ["p1", "p2"], "nd": {"a": 1, "b": 1}}),
            ),
            layer(
                json!({"global-only": true, "nd": {"b": 2, "c": 2}, "expand-me": "{{.Machine.ShortName}}-{{.Param \"machine-only\"}}"}),
            ),
        ],
        param_defs: layer(json!({
            "kernel-console": {"Name": "kernel-console", "Schema": {"type": "string", "default": "console=ttyS0"}},
            "no-default": {"Name": "no-default", "Schema": {"type": "string"}},
        })),
        api_url: "https://10.0.0.1:8092".into(),
        provisioner_url: "http://10.0.0.1:8091".into(),
        provisioner_address: "10.0.0.1".into(),
        token: "tok-123".into(),
        info: Some(json!({"id": "ep1"})),
        ..Default::default()
    }
}

fn run_with(src: &str, data: &DrpContext, source: &dyn TemplateSource) -> Result<String, String> {
    let t = Template::parse("t", src).map_err(|e| e.to_string())?;
    render(&t, data, source).map_err(|e| e.to_string())
}

fn run(src: &str) -> String {
    run_with(src, &ctx(), &NoTemplates).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn params_resolve_in_drp_order_then_default() {
    assert_eq!(run(r#"{{.Param "shared"}}"#), "from-machine");
    assert_eq!(run(r#"{{.Param "profile-only"}}"#), "7");
    assert_eq!(run(r#"{{.Param "global-only"}}"#), "true");
    assert_eq!(run(r#"{{.Param "kernel-console"}}"#), "console=ttyS0");
    assert_eq!(
        run(
            r#"{{.ParamExists "shared"}} {{.ParamExists "kernel-console"}} {{.ParamExists "nope"}}"#
        ),
        "true true false"
    );
    assert_eq!(run(r#"{{range .Param "list"}}{{.}},{{end}}"#), "m1,");
}

#[test]
fn missing_param_is_an_error_naming_it() {
    let err = run_with("line1\n{{ .Param \"no-default\" }}", &ctx(), &NoTemplates).unwrap_err();
    assert_eq!(
        err,
        "template t: 2:4: error calling Param: No such machine parameter no-default"
    );
    // The same through the RenderData trait, for callers that resolve params themselves.
    assert!(ctx()
        .lookup(&["Param"], &[json!("absent")])
        .unwrap_err()
        .contains("No such machine parameter absent"));
}

#[test]
fn compose_expand_and_json() {
    assert_eq!(run(r#"{{.ComposeParam "list" | join ","}}"#), "m1,p1,p2");
    assert_eq!(
        run(r#"{{$nd := .ComposeParam "nd"}}{{get $nd "a"}}{{get $nd "b"}}{{get $nd "c"}}"#),
        "112"
    );
    assert_eq!(run(r#"{{.ParamExpand "expand-me"}}"#), "node1-m");
    assert_eq!(run(r#"{{.ParamAsJSON "nd"}}"#), "{\"a\":1,\"b\":1}\n");
}

#[test]
fn expanded_params_and_path_templates_fail_on_missing_keys() {
    let mut data = ctx();
    data.param_layers[0].insert("strict".into(), json!("{{.Machine.Meta.nope}}"));
    let err = run_with(r#"{{.ParamExpand "strict"}}"#, &data, &NoTemplates).unwrap_err();
    assert_eq!(
        err,
        "template t (.ParamExpand \"strict\"): 1:3: map has no entry for key \"nope\""
    );
    // A TemplateInfo Path template, as DRP parses it (missingkey=error).
    let path = Template::parse("path", "{{.Machine.Path}}/{{.Machine.Meta.nope}}")
        .unwrap()
        .with_missing_key_error();
    let err = render(&path, &data, &NoTemplates).unwrap_err();
    assert!(
        err.message.contains("map has no entry for key \"nope\""),
        "{err}"
    );
    let lax = Template::parse("path", "{{.Machine.Meta.nope}}").unwrap();
    assert_eq!(render(&lax, &data, &NoTemplates).unwrap(), "<no value>");
}

#[test]
fn machine_helpers() {
    assert_eq!(
        run("{{.Machine.Name}}|{{.Machine.ShortName}}|{{.Machine.UUID}}|{{.Machine.Uuid}}|{{.Machine.Address}}|{{.Machine.HexAddress}}"),
        "node1.lab.example.com|node1|3e7031fe-3062-45f1-835c-92541bc9cbd3|3e7031fe-3062-45f1-835c-92541bc9cbd3|192.168.1.10|C0A8010A"
    );
    assert_eq!(
        run("{{.Machine.Path}}|{{.Machine.Url}}"),
        "machines/3e7031fe-3062-45f1-835c-92541bc9cbd3|http://10.0.0.1:8091/machines/3e7031fe-3062-45f1-835c-92541bc9cbd3"
    );
    // Struct fields absent from the JSON read as Go's zero values; other keys are missing.
    assert_eq!(
        run("[{{.Machine.Context}}]{{.Machine.Meta.nope}}"),
        "[]<no value>"
    );
    assert_eq!(
        run(r#"{{slice .Machine.Tasks 0 .Machine.CurrentTask}} {{.Machine.HasProfile "rack-a"}}"#),
        "[a b] true"
    );
}

#[test]
fn machine_and_env_keep_their_methods_when_rebound() {
    assert_eq!(
        run("{{with .Machine}}{{.ShortName}} {{.Path}}{{end}}"),
        "node1 machines/3e7031fe-3062-45f1-835c-92541bc9cbd3"
    );
    assert_eq!(
        run(r#"{{$e := .Env}}{{$e.PathFor "tftp" "x"}} {{$e.OS.FamilyType}}"#),
        "centos-7/install/x rhel"
    );
    let mut source: BTreeMap<String, Arc<Template>> = BTreeMap::new();
    source.insert(
        "m.tmpl".into(),
        Arc::new(Template::parse("m.tmpl", "{{.Url}}|{{.Name}}").unwrap()),
    );
    assert_eq!(
        run_with(r#"{{template "m.tmpl" .Machine}}"#, &ctx(), &source).unwrap(),
        "http://10.0.0.1:8091/machines/3e7031fe-3062-45f1-835c-92541bc9cbd3|node1.lab.example.com"
    );
    // As a value it is its JSON.
    assert_eq!(
        run(
            r#"{{$os := .Env.OS}}{{get $os "Name"}} {{hasKey .Machine "Uuid"}} {{if .Machine}}yes{{end}} {{.Machine.Profiles}}"#
        ),
        "centos-7 true yes [rack-a]"
    );
}

#[test]
fn env_helpers() {
    assert_eq!(
        run(r#"{{.Env.PathFor "tftp" .Env.Kernel}}"#),
        "centos-7/install/images/pxeboot/vmlinuz"
    );
    assert_eq!(
        run(r#"{{.Env.PathFor "http" "/x/../y"}}"#),
        "http://10.0.0.1:8091/centos-7/install/y"
    );
    assert_eq!(
        run(r#"{{.Env.JoinInitrds "tftp"}}"#),
        "centos-7/install/images/pxeboot/initrd.img centos-7/install/extra.img"
    );
    assert_eq!(
        run(r#"{{.Env.KernelFor "arm64"}} {{.Env.InitrdsFor "aarch64"}}"#),
        "images/pxeboot/vmlinuz-arm [images/pxeboot/initrd-arm.img]"
    );
    assert_eq!(
        run(r#"{{.Env.PathForArch "tftp" (.Env.KernelFor "arm64") "arm64"}}"#),
        "centos-7/arm64/install/images/pxeboot/vmlinuz-arm"
    );
    assert_eq!(
        run("{{.Env.InstallUrl}}"),
        "http://10.0.0.1:8091/centos-7/install"
    );
    assert_eq!(
        run(
            r#"{{.Env.OS.FamilyName}} {{.Env.OS.FamilyType}} {{.Env.OS.FamilyVersion}} {{.Env.OS.VersionEq "7"}} {{.Env.OS.VersionEq "7.9"}} {{.Env.OS.VersionEq "8"}} {{.Env.OS.VersionEq "7.9.1"}}"#
        ),
        "redhat rhel 7.9 true true false false"
    );
    assert_eq!(run("[{{.Env.OS.Codename}}]"), "[]");
    // BootParams is itself a template, rendered with the same data.
    assert_eq!(
        run("{{.BootParams}}"),
        "ks=http://10.0.0.1:8091/machines/3e7031fe-3062-45f1-835c-92541bc9cbd3/compute.ks console=ttyS0"
    );
    assert!(
        run_with(r#"{{.Env.PathFor "ftp" "x"}}"#, &ctx(), &NoTemplates)
            .unwrap_err()
            .contains("Unknown protocol ftp")
    );
}

#[test]
fn expansion_and_yaml_helpers() {
    assert_eq!(
        run(r#"{{.StringExpand "{{.Machine.ShortName}}!"}}"#),
        "node1!"
    );
    assert_eq!(
        run(
            r#"{{$o := .ObjectExpand (dict "a" (list "{{.Param \"machine-only\"}}" 2))}}{{index $o "a" 0}}"#
        ),
        "m"
    );
    assert_eq!(run(r#"{{.ParamAsYAML "nd"}}"#), "a: 1\nb: 1\n");
    assert_eq!(
        run("{{.ApiHostURL}} {{.ProvisionerHostURL}}"),
        "https://10.0.0.1:8092 http://10.0.0.1:8091"
    );
}

#[test]
fn root_helpers() {
    assert_eq!(
        run("{{.ApiURL}} {{.ProvisionerURL}} {{.ProvisionerAddress}} {{.GenerateToken}} {{.GenerateInfiniteToken}} {{.Info.id}}"),
        "https://10.0.0.1:8092 http://10.0.0.1:8091 10.0.0.1 tok-123 tok-123 ep1"
    );
    assert_eq!(
        run(
            r#"{{.NetmaskToCIDR "255.255.254.0"}} {{.ParseUrl "host" "http://h:1/p"}} {{.ParseUrl "path" "http://h:1/p/q"}}"#
        ),
        "23 h:1 /p/q"
    );
    assert_eq!(
        run(r#"{{.GenerateProfileToken "rack-a" 0}} {{.GenerateProfileToken "other" 0}}"#),
        "tok-123 InvalidTokenNotAllowedNotOnMachine"
    );
    let no_machine = DrpContext::default();
    assert_eq!(
        run_with("[{{.GenerateInfiniteToken}}]", &no_machine, &NoTemplates).unwrap(),
        "[]"
    );
    assert!(run_with("{{.Nope}}", &ctx(), &NoTemplates)
        .unwrap_err()
        .contains("can't evaluate field Nope"));
}

#[test]
fn templates_and_call_template_use_the_source() {
    let mut source: BTreeMap<String, Arc<Template>> = BTreeMap::new();
    for (name, text) in [
        ("setup.tmpl", "RS_UUID={{.Machine.UUID}}"),
        ("greet.tmpl", "hello {{.}}"),
        ("missing-param.tmpl", "{{.Param \"no-default\"}}"),
    ] {
        source.insert(name.into(), Arc::new(Template::parse(name, text).unwrap()));
    }
    let data = ctx();
    assert_eq!(
        run_with(r#"{{template "setup.tmpl" .}}"#, &data, &source).unwrap(),
        "RS_UUID=3e7031fe-3062-45f1-835c-92541bc9cbd3"
    );
    assert_eq!(
        run_with(
            r#"{{.CallTemplate (printf "%s.tmpl" "greet") "you" | upper}}"#,
            &data,
            &source
        )
        .unwrap(),
        "HELLO YOU"
    );
    // An error inside an included template names that template.
    let err = run_with(r#"{{template "missing-param.tmpl" .}}"#, &data, &source).unwrap_err();
    assert_eq!(err, "template missing-param.tmpl: 1:3: error calling Param: No such machine parameter no-default");
}

#[test]
fn network_data_style_dict_manipulation() {
    let mut data = ctx();
    data.param_layers[0].insert(
        "network-data".into(),
        json!({"prov": {"address": " 10.1.1.5 ", "netmask": "255.255.255.0", "vlan": 12}}),
    );
    let src = r#"{{- $nd := .ComposeParam "network-data" -}}
{{- $data := get $nd "prov" -}}
{{- $out := dict -}}
{{- $_ := set $out "address" (trim (get $data "address")) -}}
{{- $_ := set $out "cidr" ($.NetmaskToCIDR (get $data "netmask")) -}}
{{- $_ := set $out "vlan" (trim ((get $data "vlan") | toString)) -}}
{{- range $k, $v := $out }}{{$k}}={{$v}} {{end -}}"#;
    assert_eq!(
        run_with(src, &data, &NoTemplates).unwrap(),
        "address=10.1.1.5 cidr=24 vlan=12 "
    );
}

#[test]
fn mac_addr_renders_the_mac_a_file_is_for_in_drps_formats() {
    let data = DrpContext {
        mac: "52:54:00:AB:cd:01".into(),
        ..ctx()
    };
    let out = |src: &str| run_with(src, &data, &NoTemplates).unwrap();
    assert_eq!(out(r#"{{.Machine.MacAddr}}"#), "52:54:00:ab:cd:01");
    assert_eq!(out(r#"{{.Machine.MacAddr "ipxe"}}"#), "52:54:00:ab:cd:01");
    assert_eq!(
        out(r#"{{.Machine.MacAddr "pxelinux"}}"#),
        "01-52-54-00-ab-cd-01"
    );
    assert_eq!(out(r#"{{.Machine.MacAddr "pxe"}}"#), "01-52-54-00-ab-cd-01");
    assert_eq!(out(r#"{{.Machine.MacAddr "rpi4"}}"#), "52-54-00-ab-cd-01");
}

/// DRP's `centos-8` flag: an EL 8 install tree is two repos (BaseOS, AppStream) and has no
/// `install` command; EL 7 keeps DRP's one-repo form.
#[test]
fn install_repos_split_el8_trees_into_baseos_and_appstream() {
    let repos =
        r#"{{range .InstallRepos}}{{.Install}}{{end}}---{{range .MachineRepos}}{{.Lines}}{{end}}"#;
    let el7 = run(repos);
    assert_eq!(
        el7,
        "install\nurl --url http://10.0.0.1:8091/centos-7/install\n\
         repo --name=\"centos-7-install\" --baseurl=http://10.0.0.1:8091/centos-7/install --cost=100\n\
         ---\n[centos-7-install]\nname=centos-7 - centos-7-install\n\
         baseurl=http://10.0.0.1:8091/centos-7/install\ngpgcheck=0\n"
    );
    let mut data = ctx();
    let m = data.machine.as_mut().unwrap();
    m["OS"] = json!("centos-8");
    let env = data.env.as_mut().unwrap();
    env["Name"] = json!("centos-8-install");
    env["OS"]["Name"] = json!("centos-8");
    let el8 = run_with(repos, &data, &NoTemplates).unwrap();
    let tree = "http://10.0.0.1:8091/centos-8/install";
    assert_eq!(
        el8,
        format!(
            "url --url {tree}/BaseOS\n\
             repo --name=\"centos-8-install-BaseOS\" --baseurl={tree}/BaseOS --cost=100\n\
             repo --name=\"centos-8-install-AppStream\" --baseurl={tree}/AppStream --cost=100\n\
             ---\n[centos-8-install-BaseOS]\nname=centos-8-install - BaseOS\nbaseurl={tree}/BaseOS\ngpgcheck=0\n\
             \n[centos-8-install-AppStream]\nname=centos-8-install - AppStream\nbaseurl={tree}/AppStream\ngpgcheck=0\n"
        )
    );
}
