//! Commit signature checks (contract section 11): is a commit signed, with OpenPGP or SSH
//! (SSHSIG), by a key the trust policy names? Everything is native Rust: no `gpg` or
//! `ssh-keygen` process, so the reconciler's image needs neither and no keyring state leaks in.
//!
//! [`Policy`] holds the trusted keys; [`Policy::verify`] takes a raw commit object (as stored by
//! Git, headers and message) and returns a [`Verdict`]. [`read_commit`] fetches that object from
//! a repository for the CLI.

use std::path::{Path, PathBuf};

mod commit;
pub mod openpgp;
pub mod ssh;

pub use commit::{CommitInfo, parse_commit};

/// Why a trust policy or a commit could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// An armored OpenPGP key file did not parse.
    #[error("{path}: not an armored OpenPGP public key: {message}")]
    OpenPgpKey {
        /// The file.
        path: PathBuf,
        /// What rpgp said.
        message: String,
    },
    /// A line of an `allowed_signers` file is malformed or uses an unsupported option.
    #[error("{path}:{line}: {message}")]
    AllowedSigners {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The repository could not be opened.
    #[error("cannot open the repository at {path}: {message}")]
    Repository {
        /// The Git directory.
        path: PathBuf,
        /// What gix said.
        message: String,
    },
    /// The revision does not name a commit in the repository.
    #[error("{0:?} does not name a commit")]
    NoSuchRevision(String),
    /// The object is not a well-formed commit.
    #[error("malformed commit: {0}")]
    MalformedCommit(String),
}

/// The two signature formats git writes into the `gpgsig` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `-----BEGIN PGP SIGNATURE-----` (`gpg.format openpgp`).
    OpenPgp,
    /// `-----BEGIN SSH SIGNATURE-----` (`gpg.format ssh`).
    Ssh,
}

impl Format {
    /// Its spelling in JSON and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::OpenPgp => "openpgp",
            Format::Ssh => "ssh",
        }
    }
}

/// Why a commit is not trusted (contract section 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No `gpgsig` header (or one in a format Gantry does not verify, such as X.509).
    Unsigned,
    /// Signed, but not by a key the policy trusts (for SSH: not for the committer's email, or
    /// with the `git` namespace not allowed).
    UnknownKey,
    /// The signature does not match the commit, or does not parse.
    BadSignature,
    /// The key had expired (or was not yet valid) when it signed.
    ExpiredKey,
    /// The key, or the signing subkey, is revoked.
    RevokedKey,
}

impl Reason {
    /// Its spelling in JSON, statuses and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unsigned => "unsigned",
            Reason::UnknownKey => "unknown_key",
            Reason::BadSignature => "bad_signature",
            Reason::ExpiredKey => "expired_key",
            Reason::RevokedKey => "revoked_key",
        }
    }
}

/// The outcome of checking one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The signature's format, when the commit has one Gantry reads.
    pub format: Option<Format>,
    /// Who signed, when known: the trusted OpenPGP key's first user ID, or the SSH principal
    /// (the committer's email) the `allowed_signers` line allowed.
    pub signer: Option<String>,
    /// The fingerprint of the key that made the signature: OpenPGP upper-case hex (a subkey's
    /// when a subkey signed), SSH `SHA256:...`. `None` when unsigned.
    pub fingerprint: Option<String>,
    /// `None` when trusted.
    pub reason: Option<Reason>,
    /// A human explanation (which key, which line, which time), for logs and audit records.
    pub detail: String,
}

impl Verdict {
    /// Whether the commit may be deployed.
    pub fn trusted(&self) -> bool {
        self.reason.is_none()
    }

    /// The best name for the signer: the user ID or principal, else the key's fingerprint.
    pub fn signer_or_key(&self) -> Option<&str> {
        self.signer.as_deref().or(self.fingerprint.as_deref())
    }

    pub(crate) fn untrusted(
        format: Option<Format>,
        fingerprint: Option<String>,
        reason: Reason,
        detail: impl Into<String>,
    ) -> Verdict {
        Verdict {
            format,
            signer: None,
            fingerprint,
            reason: Some(reason),
            detail: detail.into(),
        }
    }
}

/// The trusted keys.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    /// Trusted OpenPGP certificates.
    pub openpgp: openpgp::Keyring,
    /// The SSH `allowed_signers` entries.
    pub ssh: ssh::AllowedSigners,
}

impl Policy {
    /// Loads armored OpenPGP key files and an optional `allowed_signers` file.
    pub fn load(openpgp_keys: &[PathBuf], allowed_signers: Option<&Path>) -> Result<Policy, Error> {
        let mut policy = Policy::default();
        for path in openpgp_keys {
            let text = read(path)?;
            policy
                .openpgp
                .add_armored(&text)
                .map_err(|message| Error::OpenPgpKey {
                    path: path.clone(),
                    message,
                })?;
        }
        if let Some(path) = allowed_signers {
            let text = read(path)?;
            policy.ssh = ssh::AllowedSigners::parse(&text).map_err(|(line, message)| {
                Error::AllowedSigners {
                    path: path.to_owned(),
                    line,
                    message,
                }
            })?;
        }
        Ok(policy)
    }

    /// Checks a raw commit object (what `git cat-file commit` prints).
    pub fn verify(&self, raw_commit: &[u8]) -> Verdict {
        let info = match parse_commit(raw_commit) {
            Ok(i) => i,
            Err(e) => {
                return Verdict::untrusted(None, None, Reason::BadSignature, e.to_string());
            }
        };
        let Some(signature) = &info.signature else {
            return Verdict::untrusted(None, None, Reason::Unsigned, "the commit is not signed");
        };
        if signature.starts_with("-----BEGIN PGP SIGNATURE-----") {
            self.openpgp
                .verify(signature, &info.signed_data, info.committer_time)
        } else if signature.starts_with("-----BEGIN SSH SIGNATURE-----") {
            self.ssh.verify(
                signature,
                &info.signed_data,
                &info.committer_email,
                info.committer_time,
            )
        } else {
            Verdict::untrusted(
                None,
                None,
                Reason::Unsigned,
                "the commit carries a signature in a format Gantry does not verify (only OpenPGP and SSH)",
            )
        }
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads the raw commit object `rev` names in the repository at `git_dir` (a bare repository or
/// a `.git` folder; a work tree's root works too). Returns the full commit id and the object.
pub fn read_commit(git_dir: &Path, rev: &str) -> Result<(String, Vec<u8>), Error> {
    let repo = gix::open(git_dir).map_err(|e| Error::Repository {
        path: git_dir.to_owned(),
        message: e.to_string(),
    })?;
    let id = repo
        .rev_parse_single(rev)
        .map_err(|_| Error::NoSuchRevision(rev.to_owned()))?;
    let object = id
        .object()
        .map_err(|_| Error::NoSuchRevision(rev.to_owned()))?;
    let commit = object
        .peel_to_commit()
        .map_err(|_| Error::NoSuchRevision(rev.to_owned()))?;
    Ok((commit.id.to_string(), commit.data.clone()))
}
