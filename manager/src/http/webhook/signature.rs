//! Who signed a push webhook: GitHub's `X-Hub-Signature-256` and Gitea's `X-Gitea-Signature`
//! (HMAC-SHA256 of the body with the shared secret), GitLab's `X-Gitlab-Token` (the secret
//! itself). Every comparison is constant-time.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The forge whose signature a webhook carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// `X-Hub-Signature-256: sha256=<hex>`.
    GitHub,
    /// `X-Gitea-Signature: <hex>` (Gogs and Forgejo send the same).
    Gitea,
    /// `X-Gitlab-Token: <secret>`.
    GitLab,
}

impl Forge {
    /// Its name, for replies and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::GitHub => "GitHub",
            Self::Gitea => "Gitea",
            Self::GitLab => "GitLab",
        }
    }
}

/// Why a webhook is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No signature or token header at all.
    #[error("the webhook is not signed: send X-Hub-Signature-256 (GitHub), X-Gitea-Signature (Gitea) or X-Gitlab-Token (GitLab), or the admin's credentials")]
    Unsigned,
    /// A header that is not in the forge's format.
    #[error("{header} is malformed: {why}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A signature or token that does not match the secret.
    #[error("the {} signature does not match --webhook-secret-file", .0.name())]
    Mismatch(Forge),
}

const GITHUB: &str = "x-hub-signature-256";
const GITEA: [&str; 3] = [
    "x-gitea-signature",
    "x-gogs-signature",
    "x-forgejo-signature",
];
const GITLAB: &str = "x-gitlab-token";

/// Checks the webhook's signature (or token) against `secret`; the forge that signed it.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<Forge, Refused> {
    if let Some(v) = headers.get(GITHUB) {
        let hex_sig = v
            .to_str()
            .ok()
            .and_then(|v| v.trim().strip_prefix("sha256="))
            .ok_or(Refused::Malformed {
                header: "X-Hub-Signature-256",
                why: "expected sha256=<hex>",
            })?;
        return hmac_matches(hex_sig, "X-Hub-Signature-256", body, secret, Forge::GitHub);
    }
    if let Some(v) = GITEA.iter().find_map(|h| headers.get(*h)) {
        let hex_sig = v.to_str().map_err(|_| Refused::Malformed {
            header: "X-Gitea-Signature",
            why: "not text",
        })?;
        return hmac_matches(
            hex_sig.trim(),
            "X-Gitea-Signature",
            body,
            secret,
            Forge::Gitea,
        );
    }
    if let Some(v) = headers.get(GITLAB) {
        return if bool::from(v.as_bytes().ct_eq(secret)) {
            Ok(Forge::GitLab)
        } else {
            Err(Refused::Mismatch(Forge::GitLab))
        };
    }
    Err(Refused::Unsigned)
}

fn hmac_matches(
    hex_sig: &str,
    header: &'static str,
    body: &[u8],
    secret: &[u8],
    forge: Forge,
) -> Result<Forge, Refused> {
    let given = hex::decode(hex_sig).map_err(|_| Refused::Malformed {
        header,
        why: "not hexadecimal",
    })?;
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Err(Refused::Mismatch(forge));
    };
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&given)
        .map(|()| forge)
        .map_err(|_| Refused::Mismatch(forge))
}

/// `sha256=<hex>` of `body` under `secret`, as GitHub signs (for tests and tools).
pub fn github_signature(body: &[u8], secret: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    /// GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
    #[test]
    fn github_known_answer() {
        let sig = github_signature(b"Hello, World!", b"It's a Secret to Everybody");
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let h = headers(&[("X-Hub-Signature-256", &sig)]);
        let secret = b"It's a Secret to Everybody";
        assert_eq!(verify(&h, b"Hello, World!", secret), Ok(Forge::GitHub));
        assert_eq!(
            verify(&h, b"Hello, World?", secret),
            Err(Refused::Mismatch(Forge::GitHub))
        );
        assert_eq!(
            verify(&h, b"Hello, World!", b"other"),
            Err(Refused::Mismatch(Forge::GitHub))
        );
    }

    #[test]
    fn gitea_gitlab_and_unsigned() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let hex_sig = github_signature(body, b"s")
            .trim_start_matches("sha256=")
            .to_owned();
        let h = headers(&[("X-Gitea-Signature", &hex_sig)]);
        assert_eq!(verify(&h, body, b"s"), Ok(Forge::Gitea));
        let h = headers(&[("X-Gitea-Signature", "zz")]);
        assert!(matches!(
            verify(&h, body, b"s"),
            Err(Refused::Malformed { .. })
        ));
        let h = headers(&[("X-Gitlab-Token", "s")]);
        assert_eq!(verify(&h, body, b"s"), Ok(Forge::GitLab));
        let h = headers(&[("X-Gitlab-Token", "t")]);
        assert_eq!(
            verify(&h, body, b"s"),
            Err(Refused::Mismatch(Forge::GitLab))
        );
        let h = headers(&[("X-Hub-Signature-256", "md5=00")]);
        assert!(matches!(
            verify(&h, body, b"s"),
            Err(Refused::Malformed { .. })
        ));
        assert_eq!(
            verify(&HeaderMap::new(), body, b"s"),
            Err(Refused::Unsigned)
        );
    }
}
