//! Branch heads of a repository as the Git host has them, in one `ls-remote`-style request: the
//! resync reads them once per repository and interval, never once per environment. Over HTTP(S)
//! that is the smart HTTP reference advertisement (`GET {url}/info/refs?service=git-upload-pack`,
//! protocol v0, which lists every ref in its one response); other transports (`file://`, SSH)
//! go through gix's handshake.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use gantry_git::{Credentials, GitError};

/// Branch name (without `refs/heads/`) to its head commit, lower-case hex.
pub type Heads = BTreeMap<String, String>;

/// Reads the branch heads of `url`; `mirror` is the repository's local mirror, which gix needs
/// to talk to a remote over other transports than HTTP.
pub async fn list(
    http: &reqwest::Client,
    url: &str,
    credentials: Option<&Credentials>,
    mirror: &Path,
) -> Result<Heads, GitError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return list_http(http, url, credentials).await;
    }
    let (owned, credentials, mirror) = (url.to_owned(), credentials.cloned(), mirror.to_owned());
    let listed = tokio::task::spawn_blocking(move || {
        gantry_git::remote_heads(&mirror, &owned, credentials.as_ref())
    })
    .await
    .map_err(|e| GitError::remote(url, e))??;
    Ok(listed
        .into_iter()
        .map(|(branch, id)| (branch, id.to_string()))
        .collect())
}

async fn list_http(
    http: &reqwest::Client,
    url: &str,
    credentials: Option<&Credentials>,
) -> Result<Heads, GitError> {
    let err = |e: gantry_git::Source| GitError::remote(url, e);
    let base = url.trim_end_matches('/');
    let mut req = http
        .get(format!("{base}/info/refs?service=git-upload-pack"))
        .timeout(Duration::from_secs(30));
    if let Some(c) = credentials {
        req = req.basic_auth(&c.username, Some(&c.password));
    }
    let resp = req.send().await.map_err(|e| err(e.into()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(err(format!("listing refs answered {status}").into()));
    }
    let body = resp.bytes().await.map_err(|e| err(e.into()))?;
    parse_advertisement(&body).map_err(|e| err(e.into()))
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
