//! Branch heads of a repository as the Git host has them, in one `ls-remote`-style request: the
//! resync reads them once per repository and interval, never once per environment. Over HTTP(S)
//! that is the smart HTTP reference advertisement (`GET {url}/info/refs?service=git-upload-pack`,
//! protocol v0, which lists every ref in its one response); other transports (`file://`, SSH)
//! go through gix's handshake.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::fetch::{Credentials, FetchError, redact};

/// Branch name (without `refs/heads/`) to its head commit, lower-case hex.
pub type Heads = BTreeMap<String, String>;

/// Reads the branch heads of `url`; `mirror` is the repository's local mirror, which gix needs
/// to talk to a remote over other transports than HTTP.
pub async fn list(
    http: &reqwest::Client,
    url: &str,
    credentials: Option<&Credentials>,
    mirror: &Path,
) -> Result<Heads, FetchError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return list_http(http, url, credentials).await;
    }
    let url = url.to_owned();
    let credentials = credentials.cloned();
    let mirror = mirror.to_owned();
    tokio::task::spawn_blocking(move || list_gix(&url, credentials.as_ref(), &mirror))
        .await
        .map_err(|e| FetchError::Remote {
            url: String::new(),
            message: e.to_string(),
        })?
}

async fn list_http(
    http: &reqwest::Client,
    url: &str,
    credentials: Option<&Credentials>,
) -> Result<Heads, FetchError> {
    let err = |message: String| FetchError::Remote {
        url: redact(url),
        message,
    };
    let base = url.trim_end_matches('/');
    let mut req = http
        .get(format!("{base}/info/refs?service=git-upload-pack"))
        .timeout(Duration::from_secs(30));
    if let Some(c) = credentials {
        req = req.basic_auth(&c.username, Some(&c.password));
    }
    let resp = req.send().await.map_err(|e| err(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(err(format!("listing refs answered {status}")));
    }
    let body = resp.bytes().await.map_err(|e| err(e.to_string()))?;
    parse_advertisement(&body).map_err(err)
}

/// Parses a v0 smart HTTP advertisement: `# service=git-upload-pack`, a flush, then
/// `<sha> <ref>[\0capabilities]` lines, then a flush.
pub fn parse_advertisement(body: &[u8]) -> Result<Heads, String> {
    let mut heads = Heads::new();
    let mut rest = body;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err("truncated pkt-line".into());
        }
        let len = std::str::from_utf8(&rest[..4])
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or("malformed pkt-line length")?;
        if len == 0 {
            rest = &rest[4..];
            continue;
        }
        if len < 4 || len > rest.len() {
            return Err("malformed pkt-line length".into());
        }
        let line = &rest[4..len];
        rest = &rest[len..];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.split(|b| *b == 0).next().unwrap_or_default();
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with("ERR ") {
            return Err(line.to_owned());
        }
        if let Some((sha, name)) = line.split_once(' ')
            && let Some(branch) = name.strip_prefix("refs/heads/")
            && sha.len() == 40
        {
            heads.insert(branch.to_owned(), sha.to_ascii_lowercase());
        }
    }
    Ok(heads)
}

fn list_gix(
    url: &str,
    credentials: Option<&Credentials>,
    mirror: &Path,
) -> Result<Heads, FetchError> {
    let err = |message: String| FetchError::Remote {
        url: redact(url),
        message,
    };
    let repo =
        gix::open_opts(mirror, gix::open::Options::isolated()).map_err(|e| err(e.to_string()))?;
    let remote = repo
        .remote_at(url)
        .map_err(|e| err(e.to_string()))?
        .with_refspecs(
            ["+refs/heads/*:refs/heads/*"],
            gix::remote::Direction::Fetch,
        )
        .map_err(|e| err(e.to_string()))?;
    let mut connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| err(format!("{e:#}")))?;
    if let Some(c) = credentials.cloned() {
        connection.set_credentials(move |action| match action {
            gix::credentials::helper::Action::Get(ctx) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: c.username.clone(),
                        password: c.password.clone(),
                        oauth_refresh_token: None,
                    },
                    next: ctx.into(),
                }))
            }
            _ => Ok(None),
        });
    }
    let (map, _) = connection
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(|e| err(format!("{e:#}")))?;
    let mut heads = Heads::new();
    for r in &map.remote_refs {
        let (name, target, peeled) = r.unpack();
        let name = name.to_string();
        if let (Some(branch), Some(id)) = (name.strip_prefix("refs/heads/"), peeled.or(target)) {
            heads.insert(branch.to_owned(), id.to_string());
        }
    }
    Ok(heads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_v0_advertisement() {
        let sha = "3f2a1c9e0b7d4c1a8e5f6b2d9c0a7e4f1b3d5c6a";
        let l1 = format!("{sha} HEAD\0multi_ack symref=HEAD:refs/heads/main\n");
        let l2 = format!("{sha} refs/heads/main\n");
        let l3 = format!("{} refs/tags/v1\n", "1".repeat(40));
        let mut body = b"001e# service=git-upload-pack\n0000".to_vec();
        for l in [l1, l2, l3] {
            body.extend(format!("{:04x}", l.len() + 4).as_bytes());
            body.extend(l.as_bytes());
        }
        body.extend(b"0000");
        let heads = parse_advertisement(&body).expect("parses");
        assert_eq!(heads.len(), 1);
        assert_eq!(heads["main"], sha);
        assert!(parse_advertisement(b"zz").is_err());
    }
}
