//! Links the `gantry` binary as a position-dependent executable.
//!
//! A position-independent one starts by applying some 65,000 relocations, touching 300 pages the
//! kernel must fault in: 1 ms of the 2.5 ms `gantry --version` takes, and a fifth of
//! `gantry render` on a small chart, which is what a user runs in a loop. The crates are still
//! compiled as position-independent code (which links either way); only the executable is fixed,
//! as Go's binaries are by default. The services' own binaries are left as they are.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=gantry=-no-pie");
    }
}
