//! `gantry verify-commit`: the reconciler's signature gate for operators and CI (contract
//! section 11). Prints one JSON verdict; exits 0 when trusted, 1 when not, 64 on bad usage
//! (including an unreadable key file), 66 when the revision does not exist.

use std::path::PathBuf;
use std::process::ExitCode;

use gantry_trust::{Error, Policy, read_commit};

/// Options of `gantry verify-commit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository: a bare repository, a `.git` folder or a work tree.
    #[arg(long)]
    pub git_dir: PathBuf,
    /// Armored OpenPGP public keys to trust (`gpg --export --armor KEY`); repeatable.
    #[arg(long = "openpgp-keys")]
    pub openpgp_keys: Vec<PathBuf>,
    /// SSH keys to trust, in git's `gpg.ssh.allowedSignersFile` format.
    #[arg(long)]
    pub allowed_signers: Option<PathBuf>,
    /// The commit to check (any revision git understands: a SHA, a branch, `HEAD~1`).
    pub rev: String,
}

/// Runs the check; see the module documentation for the exit codes.
pub fn run(args: Args) -> ExitCode {
    let policy = match Policy::load(&args.openpgp_keys, args.allowed_signers.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gantry verify-commit: {e}");
            return ExitCode::from(64);
        }
    };
    let (revision, raw) = match read_commit(&args.git_dir, &args.rev) {
        Ok(c) => c,
        Err(e @ Error::NoSuchRevision(_)) => {
            eprintln!("gantry verify-commit: {e}");
            return ExitCode::from(66);
        }
        Err(e) => {
            eprintln!("gantry verify-commit: --git-dir: {e}");
            return ExitCode::from(64);
        }
    };
    let verdict = policy.verify(&raw);
    let out = serde_json::json!({
        "revision": revision,
        "verdict": if verdict.trusted() { "trusted" } else { "untrusted" },
        "format": verdict.format,
        "signer": verdict.signer_or_key(),
        "reason": verdict.reason,
    });
    println!("{out}");
    eprintln!("{}", verdict.detail);
    if verdict.trusted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
