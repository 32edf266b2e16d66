//! `cryptully`, the desktop client. Placeholder until the iced client lands: it says so and exits
//! with a non-zero status, rather than pretending to work.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    eprintln!(
        "cryptully: the desktop client is not built yet; the protocol crate \
         (cryptully-protocol, spec/) is in place and tested."
    );
    std::process::ExitCode::from(2)
}
