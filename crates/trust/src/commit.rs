//! What a signature check needs from a raw commit object: the `gpgsig` header's value, the bytes
//! it signs (the object without that header, as git hands them to gpg or ssh-keygen), and the
//! committer's email and time (SSH `allowed_signers` lines are matched against those).

use crate::Error;

/// The parts of a commit a signature check reads.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    /// The `gpgsig` header's value, continuation lines joined; `None` when unsigned.
    pub signature: Option<String>,
    /// The object without its signature header.
    pub signed_data: Vec<u8>,
    /// The committer's email, without the angle brackets.
    pub committer_email: String,
    /// The committer's timestamp (seconds since the epoch).
    pub committer_time: i64,
}

/// Splits a raw commit object into what a signature check needs.
pub fn parse_commit(raw: &[u8]) -> Result<CommitInfo, Error> {
    let (signature, signed_data) =
        match gix::objs::CommitRefIter::signature(raw, gix::hash::Kind::Sha1) {
            Ok(Some((sig, signed))) => (
                Some(String::from_utf8_lossy(sig.as_ref()).into_owned()),
                signed.to_bstring().to_vec(),
            ),
            Ok(None) => (None, raw.to_vec()),
            Err(e) => return Err(Error::MalformedCommit(e.to_string())),
        };
    let (committer_email, committer_time) = committer(raw)
        .ok_or_else(|| Error::MalformedCommit("no well-formed committer header".into()))?;
    Ok(CommitInfo {
        signature,
        signed_data,
        committer_email,
        committer_time,
    })
}

/// `committer Name <email> 1700000000 +0000` → (`email`, 1700000000).
fn committer(raw: &[u8]) -> Option<(String, i64)> {
    let text = String::from_utf8_lossy(raw);
    for line in text.split('\n') {
        if line.is_empty() {
            // The end of the headers: no committer.
            return None;
        }
        let Some(rest) = line.strip_prefix("committer ") else {
            continue;
        };
        let open = rest.rfind('<')?;
        let close = open + rest[open..].find('>')?;
        let email = rest[open + 1..close].to_owned();
        let time = rest[close + 1..].split_whitespace().next()?.parse().ok()?;
        return Some((email, time));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_header_is_cut_out_of_the_signed_bytes() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter C <c@example.com> 1700000000 +0100\ngpgsig -----BEGIN SSH SIGNATURE-----\n abc\n -----END SSH SIGNATURE-----\n\nmessage\n";
        let info = parse_commit(raw).expect("parses");
        assert_eq!(
            info.signature.as_deref(),
            Some("-----BEGIN SSH SIGNATURE-----\nabc\n-----END SSH SIGNATURE-----\n")
        );
        assert_eq!(
            info.signed_data,
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter C <c@example.com> 1700000000 +0100\n\nmessage\n"
        );
        assert_eq!(info.committer_email, "c@example.com");
        assert_eq!(info.committer_time, 1_700_000_000);
    }

    #[test]
    fn an_unsigned_commit_has_no_signature() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter C <c@x> 2 +0000\n\nm\n";
        let info = parse_commit(raw).expect("parses");
        assert!(info.signature.is_none());
        assert_eq!(info.committer_time, 2);
    }
}
