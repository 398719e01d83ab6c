//! DRP's client conventions, as drpcli reads them: `RS_ENDPOINT` (or the first of
//! `RS_ENDPOINTS`) for the URL, `RS_TOKEN` for a bearer token, `RS_KEY` as `user:password`.
//! A command's own flags (and their variables, such as `DRP_MANAGER_URL`) win over them.

/// How a client command authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: Option<String>,
    },
    Bearer(String),
}

/// Where a client command connects and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub url: String,
    pub credentials: Credentials,
}

pub const DEFAULT_URL: &str = "http://127.0.0.1:8090";
pub const DEFAULT_USER: &str = proto::paths::ADMIN_USER;

/// Resolves the flags (`None` when not given) against DRP's variables, read through `var`.
pub fn resolve(
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    var: impl Fn(&str) -> Option<String>,
) -> Connection {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let url = url
        .or_else(|| set("RS_ENDPOINT"))
        .or_else(|| {
            set("RS_ENDPOINTS").and_then(|all| {
                all.split([',', ' ', '\t', '\n'])
                    .find(|u| !u.is_empty())
                    .map(str::to_owned)
            })
        })
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let credentials = match (password, set("RS_TOKEN"), set("RS_KEY")) {
        (Some(password), _, _) => Credentials::Basic {
            username: username.unwrap_or_else(|| DEFAULT_USER.to_owned()),
            password: Some(password),
        },
        (None, Some(token), _) => Credentials::Bearer(token),
        (None, None, Some(key)) => match key.split_once(':') {
            Some((user, password)) => Credentials::Basic {
                username: username.unwrap_or_else(|| user.to_owned()),
                password: Some(password.to_owned()),
            },
            None => Credentials::Basic {
                username: username.unwrap_or_else(|| key.clone()),
                password: None,
            },
        },
        (None, None, None) => Credentials::Basic {
            username: username.unwrap_or_else(|| DEFAULT_USER.to_owned()),
            password: None,
        },
    };
    Connection { url, credentials }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn drp_variables_fill_what_the_flags_leave_out() {
        let c = resolve(
            None,
            None,
            None,
            vars(&[
                ("RS_ENDPOINTS", "https://a:8092 https://b:8092"),
                ("RS_KEY", "bob:pw:x"),
            ]),
        );
        assert_eq!(c.url, "https://a:8092");
        assert_eq!(
            c.credentials,
            Credentials::Basic {
                username: "bob".into(),
                password: Some("pw:x".into())
            }
        );
        let c = resolve(
            None,
            None,
            None,
            vars(&[
                ("RS_ENDPOINT", "https://e:8092"),
                ("RS_TOKEN", "t0k"),
                ("RS_KEY", "a:b"),
            ]),
        );
        assert_eq!(c.url, "https://e:8092");
        assert_eq!(c.credentials, Credentials::Bearer("t0k".into()));
    }

    #[test]
    fn flags_win_over_the_variables() {
        let c = resolve(
            Some("http://flag".into()),
            Some("alice".into()),
            Some("secret".into()),
            vars(&[
                ("RS_ENDPOINT", "https://e"),
                ("RS_TOKEN", "t"),
                ("RS_KEY", "a:b"),
            ]),
        );
        assert_eq!(c.url, "http://flag");
        assert_eq!(
            c.credentials,
            Credentials::Basic {
                username: "alice".into(),
                password: Some("secret".into())
            }
        );
        let none = resolve(None, None, None, vars(&[]));
        assert_eq!(none.url, DEFAULT_URL);
        assert_eq!(
            none.credentials,
            Credentials::Basic {
                username: DEFAULT_USER.into(),
                password: None
            }
        );
    }
}
