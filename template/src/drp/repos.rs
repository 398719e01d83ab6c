//! `.InstallRepos`, `.MachineRepos`, `.Repos`: DRP's package repositories, with the
//! `Install` / `Lines` snippets its `Repo` methods would render.

use serde_json::Value;

use super::{canonical_arch, field, parse_url, DrpContext};

impl DrpContext {
    /// The `package-repositories` param, as a list of repo objects.
    pub(super) fn repos(&self) -> Vec<Value> {
        match self.param("package-repositories") {
            Ok(Value::Array(repos)) => repos.into_iter().filter(Value::is_object).collect(),
            _ => Vec::new(),
        }
    }

    pub(super) fn machine_os(&self) -> String {
        match field(self.machine(), "OS") {
            "" => field(self.env_os(), "Name").to_string(),
            os => os.to_string(),
        }
    }

    /// The install tree of the bootenv being rendered, when it is an `-install` bootenv for the
    /// machine's OS. DRP checks that the ISO is exploded there (and for apt trees that a
    /// `dists/stable/Release` exists); this endpoint serves no ISOs, so an install bootenv is
    /// taken at its word.
    pub(super) fn local_install_repo(&self) -> Option<(Value, String)> {
        let env = self.env.as_ref()?;
        let os = field(self.env_os(), "Name");
        if !field(env, "Name").ends_with("-install") || os.is_empty() || os != self.machine_os() {
            return None;
        }
        let arch = self.machine_arch();
        let url = format!("{}{}", self.provisioner_url, self.env_path("", &arch));
        let mut repo = serde_json::json!({
            "tag": field(env, "Name"),
            "os": [os],
            "url": url,
            "installSource": true,
        });
        if repo_style(&repo, os) == "apt" {
            repo["distribution"] = Value::from("stable");
            repo["components"] = serde_json::json!(["main", "restricted"]);
        } else if is_el8_or_later(os) {
            // An EL 8 install tree holds two repos, not one (DRP's `centos-8` flag).
            repo["components"] = serde_json::json!(["BaseOS", "AppStream"]);
        }
        Some((repo, os.to_string()))
    }

    /// DRP's `MachineRepos`: the local install tree (unless apt), then the
    /// `package-repositories` entries for the machine's OS and arch.
    pub(super) fn machine_repo_list(&self) -> Vec<(Value, String)> {
        let os = self.machine_os();
        let local = self.local_install_repo();
        let mut found: Vec<(Value, String)> = Vec::new();
        if let Some((l, los)) = &local {
            if repo_style(l, los) != "apt" {
                found.push((l.clone(), los.clone()));
            }
        }
        let arch = self.machine_arch();
        for repo in self.repos() {
            let install_source = repo
                .get("installSource")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if local.is_some() && install_source {
                continue;
            }
            let repo_arch = field(&repo, "arch");
            let arch_ok =
                (repo_arch == "any" && !install_source) || canonical_arch(repo_arch) == arch;
            let os_ok = repo
                .get("os")
                .and_then(Value::as_array)
                .is_some_and(|list| list.iter().any(|o| o.as_str() == Some(os.as_str())));
            if arch_ok && os_ok {
                found.push((repo, os.clone()));
            }
        }
        found
    }

    pub(super) fn machine_repos(&self) -> Vec<Value> {
        self.machine_repo_list()
            .iter()
            .map(|(r, os)| self.repo_view(r, os))
            .collect()
    }

    /// DRP's `InstallRepos`: the install source (the local tree first), then at most one
    /// security-update repo.
    pub(super) fn install_repos(&self) -> Vec<Value> {
        let flag = |r: &Value, k: &str| r.get(k).and_then(Value::as_bool).unwrap_or(false);
        let found = self.machine_repo_list();
        let mut install = self.local_install_repo();
        let mut update = None;
        for (repo, os) in &found {
            if install.is_none() && flag(repo, "installSource") {
                install = Some((repo.clone(), os.clone()));
            }
            if update.is_none() && flag(repo, "securitySource") {
                update = Some((repo.clone(), os.clone()));
            }
        }
        let mut out = Vec::new();
        if let Some((r, os)) = install {
            out.push(self.repo_view(&r, &os));
            if let Some((u, os)) = update {
                out.push(self.repo_view(&u, &os));
            }
        }
        out
    }

    /// A repo as templates see it: its fields plus DRP's `Repo` methods, computed here
    /// (`Install`, `Lines`, `JoinedComponents`, `Target`) since the engine has plain values.
    pub(super) fn repo_view(&self, repo: &Value, target_os: &str) -> Value {
        let mut view = repo.as_object().cloned().unwrap_or_default();
        let tag = field(repo, "tag").to_string();
        let url = field(repo, "url").to_string();
        let components: Vec<String> = repo
            .get("components")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let style = repo_style(repo, target_os);
        let install_source = repo
            .get("installSource")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let proxy = match self.param("proxy-servers") {
            Ok(Value::Array(p)) => p.first().map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            _ => None,
        };
        let proxy = proxy
            .map(|p| format!(" --proxy=\"{p}\""))
            .unwrap_or_default();
        let url_for = |component: &str| -> String {
            let distribution = field(repo, "distribution");
            if install_source && !component.is_empty() {
                // A tree of several repos (EL 8's BaseOS and AppStream).
                return format!("{url}/{component}");
            }
            if install_source || distribution.is_empty() || component.is_empty() {
                return url.clone();
            }
            match target_os.split('-').next().unwrap_or("") {
                "centos" => format!("{url}/{distribution}/{component}/$basearch"),
                "scientificlinux" => format!("{url}/{distribution}/$basearch/{component}"),
                _ => url.clone(),
            }
        };
        let install = match style {
            "yum" if install_source && !components.is_empty() => {
                // EL 8 has no `install` command; the tree's first repo is the install url.
                let mut out = format!("url --url {}\n", url_for(&components[0]));
                for c in &components {
                    out.push_str(&format!(
                        "repo --name=\"{tag}-{c}\" --baseurl={} --cost=100{proxy}\n",
                        url_for(c)
                    ));
                }
                out
            }
            "yum" if install_source => {
                format!("install\nurl --url {url}\nrepo --name=\"{tag}\" --baseurl={url} --cost=100{proxy}\n")
            }
            "yum" if components.is_empty() => {
                format!("repo --name=\"{tag}\" --baseurl={url} --cost=200{proxy}\n")
            }
            "yum" => components
                .iter()
                .map(|c| {
                    format!(
                        "repo --name=\"{tag}-{c}\" --baseurl={} --cost=200{proxy}\n",
                        url_for(c)
                    )
                })
                .collect(),
            "apt" if install_source => {
                let part = |s| parse_url(s, &url).unwrap_or_default();
                format!(
                    "d-i mirror/protocol string {}\nd-i mirror/http/hostname string {}\nd-i mirror/http/directory string {}\n",
                    part("scheme"),
                    part("host"),
                    part("path")
                )
            }
            "apt" => {
                if field(self.env_os(), "Family") == "debian" {
                    format!("\nd-i apt-setup/security_host string {url}\n\n")
                } else {
                    format!(
                        "\nd-i apt-setup/security_host string {}\nd-i apt-setup/security_path string {}\n\n",
                        parse_url("host", &url).unwrap_or_default(),
                        parse_url("path", &url).unwrap_or_default()
                    )
                }
            }
            _ => String::new(),
        };
        let lines = match style {
            "yum" if components.is_empty() => {
                format!(
                    "\n[{tag}]\nname={target_os} - {tag}\nbaseurl={}\ngpgcheck=0\n",
                    url_for("")
                )
            }
            "yum" => components
                .iter()
                .map(|c| {
                    format!(
                        "\n[{tag}-{c}]\nname={tag} - {c}\nbaseurl={}\ngpgcheck=0\n",
                        url_for(c)
                    )
                })
                .collect(),
            "apt" => format!(
                "deb {url} {} {}\n",
                field(repo, "distribution"),
                components.join(" ")
            ),
            _ => String::new(),
        };
        view.insert("Install".into(), Value::String(install));
        view.insert("Lines".into(), Value::String(lines));
        view.insert(
            "JoinedComponents".into(),
            Value::String(components.join(" ")),
        );
        view.insert("Target".into(), Value::String(target_os.to_string()));
        view.insert("Tag".into(), Value::String(tag));
        view.insert("URL".into(), Value::String(url));
        Value::Object(view)
    }
}

/// Whether `os` (`centos-8`, `rocky-8.4`, `rhel-9`, ...) is a Red Hat family release of 8 or
/// later, whose install trees split into BaseOS and AppStream.
fn is_el8_or_later(os: &str) -> bool {
    let Some((family, version)) = os.split_once('-') else {
        return false;
    };
    let major: String = version.chars().take_while(char::is_ascii_digit).collect();
    matches!(
        family,
        "centos" | "rhel" | "redhat" | "rocky" | "alma" | "almalinux" | "oraclelinux" | "ol"
    ) && major.parse::<u32>().is_ok_and(|m| m >= 8)
}

/// DRP's `Repo.renderStyle`.
fn repo_style<'a>(repo: &'a Value, target_os: &str) -> &'a str {
    match field(repo, "repoType") {
        "" => match target_os.split('-').next().unwrap_or("") {
            "redhat" | "rhel" | "centos" | "scientificlinux" | "rocky" | "alma" | "almalinux"
            | "oraclelinux" | "ol" | "fedora" => "yum",
            "suse" | "sles" | "opensuse" => "zypp",
            "debian" | "ubuntu" => "apt",
            _ => "unknown",
        },
        t => t,
    }
}
