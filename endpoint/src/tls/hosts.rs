//! Which names the API certificate covers: used when a cluster's certificate is first issued
//! (`serve`) and when it is rotated (`rotation`).

/// Names the generated API certificate is valid for: loopback, and the host of `--api-url`.
pub fn api_hosts(api_url: &str) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Some(host) = url::Url::parse(api_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
    {
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_the_api_url_host() {
        assert_eq!(
            api_hosts("https://10.0.0.5:8092"),
            ["localhost", "127.0.0.1", "::1", "10.0.0.5"]
        );
        assert_eq!(
            api_hosts("https://[::1]:8092"),
            ["localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(api_hosts("not a url"), ["localhost", "127.0.0.1", "::1"]);
    }
}
