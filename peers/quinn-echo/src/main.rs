//! `quinn-echo`: the quinn peer as a program of its own (the harness also
//! runs it in-process as `--server quinn`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match quinn_echo::run(quinn_echo::Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quinn-echo: error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
