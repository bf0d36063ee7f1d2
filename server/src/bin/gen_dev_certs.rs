//! Regenerates the development certificates: `gen-dev-certs [DIR]` (default `certs`).

fn main() {
    let dir = std::env::args_os().nth(1).unwrap_or_else(|| "certs".into());
    let dir = std::path::Path::new(&dir);
    match server::devcerts::write(dir) {
        Ok(()) => println!("wrote ca.pem, chain.pem and key.pem in {}", dir.display()),
        Err(e) => {
            eprintln!("gen-dev-certs: error: {e}");
            std::process::exit(1);
        }
    }
}
