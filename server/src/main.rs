use clap::Parser;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let args = server::cli::Args::parse();
    if let Err(e) = server::run(args) {
        eprintln!("quic-echo-server: error: {e}");
        std::process::exit(1);
    }
}
