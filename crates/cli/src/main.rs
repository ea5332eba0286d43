//! `mtls`: a private CA and mutual-TLS toolkit. This binary only hands over to the command
//! line in `mtls_cli` (parse, call the libraries, print).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    mtls_cli::run()
}
