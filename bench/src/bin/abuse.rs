//! Abusive peers against a TLS server (`mtls serve`), and a well-behaved mutual-TLS client to
//! run beside them. Each command prints one JSON line (with the local ports it used, so that a
//! script can find every connection in the server's log). See `mtls_bench::abuse`.
//!
//! ```text
//! abuse --connect 127.0.0.1:8443 stall 500 --mode mixed
//! abuse --connect 127.0.0.1:8443 garbage --bytes 512 --seed 7
//! abuse --connect 127.0.0.1:8443 http
//! abuse --connect 127.0.0.1:8443 tls10
//! abuse --connect 127.0.0.1:8443 long-chain 50
//! abuse --connect 127.0.0.1:8443 huge-chain 1048576
//! abuse --connect 127.0.0.1:8443 same-name 120 --ca-cert ca.crt
//! abuse --connect 127.0.0.1:8443 burst 2000 --hold-ms 1500
//! abuse --connect 127.0.0.1:8443 vanish --mode rst --ca ca.crt --cert c.crt --key c.key
//! abuse --connect 127.0.0.1:8443 good --secs 60 --ca ca.crt --cert c.crt --key c.key
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use mtls_bench::abuse::{self, Creds, GoodOptions, StallMode, Target, VanishMode};

#[derive(Parser)]
struct Cli {
    /// The server's address.
    #[arg(long, global = true, default_value = "127.0.0.1:8443")]
    connect: SocketAddr,
    /// Server name to send and verify (default: the address's IP).
    #[arg(long, global = true)]
    servername: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct CredArgs {
    /// CA certificate(s) for the server's certificate.
    #[arg(long)]
    ca: PathBuf,
    /// Client certificate.
    #[arg(long)]
    cert: PathBuf,
    /// Client key (unencrypted).
    #[arg(long)]
    key: PathBuf,
}

impl CredArgs {
    fn creds(&self) -> Creds {
        Creds {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Open N TCP connections that never finish the handshake and hold each until the server
    /// closes it; reports how long that took.
    Stall {
        n: usize,
        /// silent (send nothing), partial (half a ClientHello) or mixed.
        #[arg(long, default_value = "mixed")]
        mode: StallMode,
        /// Give up waiting for the server to free them after this many seconds.
        #[arg(long, default_value_t = 60.0)]
        max_wait: f64,
    },
    /// Send random bytes.
    Garbage {
        #[arg(long, default_value_t = 512)]
        bytes: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seconds to wait for the server to close.
        #[arg(long, default_value_t = 15.0)]
        wait: f64,
    },
    /// Send a plaintext `GET / HTTP/1.1`.
    Http {
        #[arg(long, default_value_t = 15.0)]
        wait: f64,
    },
    /// Send a hand-built TLS 1.0-only ClientHello.
    Tls10 {
        #[arg(long, default_value_t = 15.0)]
        wait: f64,
    },
    /// Present a client chain of N certificates from our own root (leaf, N-2 intermediates,
    /// root). With --cert/--key: the real client certificate, then N-1 of those.
    LongChain {
        n: usize,
        /// With --key: a real client certificate first, then N-1 of ours.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
    },
    /// Present a leaf and N CA certificates that all carry the subject of --ca-cert, each with
    /// a fresh key (path building against a large CRL; see `abuse::same_name_chain`).
    SameName {
        n: usize,
        /// The trusted CA certificate whose name the fakes copy.
        #[arg(long)]
        ca_cert: PathBuf,
    },
    /// Present a client chain whose Certificate message is at least BYTES long.
    HugeChain { bytes: usize },
    /// Open N connections at once and hold each for --hold-ms (above --max-conns, the server
    /// refuses the rest at once).
    Burst {
        n: usize,
        #[arg(long, default_value_t = 1500)]
        hold_ms: u64,
    },
    /// Handshake, wait for a heartbeat, send half a TLS record, then vanish (rst: TCP reset;
    /// fin: FIN without close_notify).
    Vanish {
        #[arg(long, default_value = "rst")]
        mode: VanishMode,
        #[command(flatten)]
        creds: CredArgs,
    },
    /// A well-behaved mutual-TLS client: handshake, send a line, read a heartbeat, close; in a
    /// loop. Prints handshake latency percentiles and failures.
    Good {
        #[arg(long)]
        secs: f64,
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// A round not served within this many seconds (retries included) is a failure.
        #[arg(long, default_value_t = 15.0)]
        give_up: f64,
        #[command(flatten)]
        creds: CredArgs,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let t = Target {
        addr: cli.connect,
        servername: cli.servername,
    };
    let secs = Duration::from_secs_f64;
    let v = match cli.cmd {
        Cmd::Stall { n, mode, max_wait } => abuse::stall(&t, n, mode, secs(max_wait)).await?,
        Cmd::Garbage { bytes, seed, wait } => abuse::garbage(&t, bytes, seed, secs(wait)).await?,
        Cmd::Http { wait } => abuse::http(&t, secs(wait)).await?,
        Cmd::Tls10 { wait } => abuse::tls10(&t, secs(wait)).await?,
        Cmd::LongChain { n, cert, key } => match (cert, key) {
            (Some(cert), Some(key)) => {
                // The real leaf, then the attacker's intermediates and root: n in all.
                let extra = abuse::attacker_chain(n)?;
                let chain = abuse::real_leaf_with(&cert, &key, &extra.chain[1..])?;
                abuse::present_chain("long-chain-real-leaf", &t, chain).await?
            }
            _ => abuse::present_chain("long-chain", &t, abuse::attacker_chain(n)?).await?,
        },
        Cmd::HugeChain { bytes } => {
            abuse::present_chain("huge-chain", &t, abuse::padded_chain(bytes)?).await?
        }
        Cmd::SameName { n, ca_cert } => {
            abuse::present_chain("same-name", &t, abuse::same_name_chain(&ca_cert, n)?).await?
        }
        Cmd::Burst { n, hold_ms } => abuse::burst(&t, n, Duration::from_millis(hold_ms)).await?,
        Cmd::Vanish { mode, creds } => abuse::vanish(&t, &creds.creds(), mode).await?,
        Cmd::Good {
            secs: s,
            workers,
            give_up,
            creds,
        } => {
            let opts = GoodOptions {
                secs: s,
                workers,
                give_up: secs(give_up),
            };
            abuse::good(&t, &creds.creds(), &opts, Arc::new(AtomicBool::new(false)))
                .await?
                .to_json()
        }
    };
    println!("{v}");
    Ok(())
}
