//! `cargo run -p xtask -- assets [DIR]`: writes the man pages and shell completions of
//! `cryptully` and `cryptully-relay` into DIR (default `packaging/generated`, which git
//! ignores), generated from the same clap definitions as `--help`, so they never drift. The
//! Debian packages install them from there.

#![forbid(unsafe_code)]

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = match args.as_slice() {
        [task] if task == "assets" => PathBuf::from("packaging/generated"),
        [task, dir] if task == "assets" => PathBuf::from(dir),
        _ => {
            eprintln!("usage: cargo run -p xtask -- assets [DIR]");
            return ExitCode::from(2);
        }
    };
    match assets(&dir) {
        Ok(()) => {
            println!("wrote man pages and completions to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn assets(dir: &Path) -> std::io::Result<()> {
    let commands = [
        cryptully_client_iced::cli::Args::command(),
        cryptully_relay::cli::Cli::command(),
    ];
    for cmd in commands {
        let name = cmd.get_name().to_string();
        let man = dir.join("man");
        std::fs::create_dir_all(&man)?;
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
        std::fs::write(man.join(format!("{name}.1")), page)?;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let out = dir.join("completions").join(shell.to_string());
            std::fs::create_dir_all(&out)?;
            clap_complete::generate_to(shell, &mut cmd.clone(), &name, &out)?;
        }
    }
    Ok(())
}
