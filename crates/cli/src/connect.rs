//! `mtls connect`: the seed's Qt client, done with `mtls_socket`. Status goes to stderr, data
//! received to stdout.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_socket::{Event, IgnoreRule, SslConfiguration, SslSocket};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::argparse::{self, TlsArg};
use crate::peer::{PeerCert, describe_error};

#[derive(Args, Clone)]
pub struct ConnectArgs {
    /// HOST:PORT, e.g. localhost:8443, 127.0.0.1:8443, [::1]:8443.
    pub target: String,
    /// CA certificates the server's certificate must chain to.
    #[arg(long)]
    pub ca: PathBuf,
    /// CRLs to check the server's chain against (repeatable): every certificate below the
    /// trust anchor, as openssl's -crl_check_all.
    #[arg(long)]
    pub crl: Vec<PathBuf>,
    /// Accept a server certificate whose issuer has no (current) CRL among --crl.
    #[arg(long, requires = "crl")]
    pub crl_soft_fail: bool,
    #[command(flatten)]
    pub revocation: crate::revocation::RevocationArgs,
    /// Our certificate chain, for mutual TLS.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Our private key.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// The name to send (SNI) and check in the server's certificate [default: HOST].
    #[arg(long)]
    pub servername: Option<String>,
    /// An error to tolerate: KIND, or KIND:SHA256 to tolerate it only on the certificate with
    /// that SHA-256 fingerprint (repeatable), e.g. HostNameMismatch:3f2a….
    #[arg(long)]
    pub ignore_error: Vec<String>,
    /// Speak SMTP first and upgrade with STARTTLS (RFC 3207).
    #[arg(long)]
    pub starttls: bool,
    /// The message sent once encrypted and every --interval.
    #[arg(long, default_value = "I am in!")]
    pub send: String,
    /// The message sent every --interval after the first [default: the --send message].
    #[arg(long)]
    pub then: Option<String>,
    /// Seconds between messages (0: send once).
    #[arg(long, default_value = "0", value_parser = argparse::interval)]
    pub interval: Duration,
    /// Exit 0 after sending this many messages (and a last check that the server still talks).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Lowest TLS version: 1.2 or 1.3.
    #[arg(long, value_enum, default_value = "1.2")]
    pub tls_min: TlsArg,
    /// Highest TLS version: 1.2 or 1.3.
    #[arg(long, value_enum, default_value = "1.3")]
    pub tls_max: TlsArg,
    /// Passphrase file for an encrypted --key. Or set MTLS_KEY_PASSPHRASE.
    #[arg(long)]
    pub key_passphrase_file: Option<PathBuf>,
    /// Seconds the handshake may take.
    #[arg(long, default_value = "10", value_parser = argparse::timeout)]
    pub handshake_timeout: Duration,
    /// Verify the server's certificate with the RFC 5280 issuer rules of openssl's
    /// -x509_strict too.
    #[arg(long)]
    pub strict: bool,
}

/// How a client run ended, for the demo.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every certificate error found in the server's chain (ignored or not).
    pub ssl_errors: Vec<mtls_socket::SslError>,
    /// What was received.
    pub received: Vec<String>,
}

fn split_target(t: &str) -> Result<(String, u16)> {
    let (host, port) = t
        .rsplit_once(':')
        .with_context(|| format!("{t:?} is not HOST:PORT"))?;
    let port: u16 = port.parse().with_context(|| format!("bad port in {t:?}"))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}

/// Builds the client's configuration.
pub fn configure(a: &ConnectArgs) -> Result<SslConfiguration> {
    let mut cfg = SslConfiguration::new();
    cfg.add_ca_certificates_file(&a.ca)?;
    for c in &a.crl {
        cfg.add_crl_file(c)?;
    }
    if a.crl_soft_fail {
        cfg.set_revocation_failure(mtls_socket::RevocationFailure::Soft);
    }
    a.revocation.apply(&mut cfg);
    if let (Some(c), Some(k)) = (&a.cert, &a.key) {
        let pass = crate::pass::for_key_file(k, a.key_passphrase_file.as_deref())?;
        cfg.set_local_certificate_files(c, k, pass.as_ref().map(|p| p.as_slice()))?;
    }
    cfg.set_protocol_range(a.tls_min.version(), a.tls_max.version())
        .context("--tls-min is above --tls-max")?;
    if let Some(n) = &a.servername {
        cfg.set_peer_verify_name(n.clone());
    }
    cfg.set_handshake_timeout(a.handshake_timeout);
    cfg.set_strict_verification(a.strict);
    Ok(cfg)
}

/// Runs a client session. `status` receives each status line; `data` each received chunk.
pub async fn session(
    a: &ConnectArgs,
    status: &mut (dyn FnMut(String) + Send),
    data: &mut (dyn FnMut(&str) + Send),
    stdin_lines: bool,
) -> Result<Outcome> {
    let (host, port) = split_target(&a.target)?;
    let rules = a
        .ignore_error
        .iter()
        .map(|s| {
            s.parse::<IgnoreRule>()
                .with_context(|| format!("--ignore-error {s:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut sock = SslSocket::new(configure(a)?)?;
    if !rules.is_empty() {
        sock.ignore_ssl_errors_expected(rules.clone());
    }
    let mut events = sock.events();
    let msg = format!("{}\n", a.send);
    sock.enqueue(msg.as_bytes());
    let sni = a.servername.clone().unwrap_or_else(|| host.clone());
    let result = if a.starttls {
        match sock.connect_to_host(&host, port).await {
            Ok(()) => {
                crate::smtp::client_prelude(&mut sock)
                    .await
                    .context("STARTTLS exchange")?;
                sock.start_client_encryption(Some(&sni)).await
            }
            Err(e) => Err(e),
        }
    } else if a.servername.is_some() {
        match sock.connect_to_host(&host, port).await {
            Ok(()) => sock.start_client_encryption(Some(&sni)).await,
            Err(e) => Err(e),
        }
    } else {
        sock.connect_to_host_encrypted(&host, port).await
    };
    // The handshake's events are printed once; then the channel is closed, or every later read
    // would queue a ReadyRead in it without end.
    sock.stop_events();
    while let Ok(e) = events.try_recv() {
        match e {
            Event::StateChanged(s) => status(format!("state {s:?}")),
            Event::ModeChanged(m) => status(format!("mode {m:?}")),
            Event::Encrypted => status("encrypted".into()),
            _ => {}
        }
    }
    let errors = sock.ssl_errors().to_vec();
    for e in &errors {
        let ignored = rules.iter().any(|r| r.matches(e));
        status(format!(
            "ssl error {} ({})",
            describe_error(e),
            if ignored {
                "ignored: expected"
            } else {
                "not ignored"
            }
        ));
    }
    if let Err(e) = result {
        let kinds: Vec<String> = e.ssl_errors().iter().map(|x| x.kind.to_string()).collect();
        if kinds.is_empty() {
            // TLS 1.2 servers (OpenSSL) answer a missing client certificate with a bare
            // handshake_failure; say what it most likely means.
            let hint = match &e {
                mtls_socket::Error::PeerRejected {
                    alert: mtls_socket::AlertDescription::HandshakeFailure,
                    ..
                } if a.cert.is_none() => {
                    " — the server probably requires a client certificate: give --cert and --key"
                }
                _ => "",
            };
            bail!("handshake with {}:{port} failed: {e}{hint}", host);
        }
        bail!(
            "handshake with {}:{port} failed [{}]: {e}",
            host,
            kinds.join(", ")
        );
    }
    status(format!(
        "handshake done: {:?} {}",
        sock.protocol().unwrap_or(mtls_socket::TlsVersion::Tls13),
        sock.cipher().unwrap_or_default()
    ));
    for (i, c) in sock.peer_certificate_chain().iter().enumerate() {
        let p = PeerCert::from_der(c);
        status(format!("server certificate {i}: {}", p.describe()));
        status(format!(
            "  sha256 {}  SANs [{}]",
            p.sha256,
            p.sans.join(", ")
        ));
    }
    status(format!("sent: {}", a.send));
    let mut sent = 1u64;
    let mut received = Vec::new();
    let interval = Some(a.interval).filter(|d| !d.is_zero());
    let mut tick = interval.map(|d| tokio::time::interval_at(tokio::time::Instant::now() + d, d));
    let (r, mut w) = tokio::io::split(sock);
    let mut reader = BufReader::new(r);
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = stdin_lines;
    let mut buf = vec![0u8; 16 * 1024];
    let done_after = |n: u64| a.count.is_some_and(|c| n >= c);
    // After the last message, listen a little longer: in TLS 1.3 a server that refuses our
    // certificate says so only now.
    let grace = Duration::from_millis(700);
    let mut deadline: Option<tokio::time::Instant> =
        done_after(sent).then(|| tokio::time::Instant::now() + grace);
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = reader.read(&mut buf) => match r {
                Ok(0) => { status("the server closed the connection".into()); break; }
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    data(&text);
                    received.push(text);
                }
                Err(e) => {
                    let err = mtls_socket::Error::from_io(format!("reading from {host}:{port}"), e);
                    bail!("{err}");
                }
            },
            _ = async { match tick.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending::<()>().await } }, if !done_after(sent) => {
                let next = a.then.as_deref().unwrap_or(&a.send);
                w.write_all(format!("{next}\n").as_bytes()).await.map_err(|e| mtls_socket::Error::from_io("writing", e))?;
                sent += 1;
                status(format!("sent: {next}"));
                if done_after(sent) { deadline = Some(tokio::time::Instant::now() + grace); }
            }
            l = stdin.next_line(), if stdin_open => match l {
                Ok(Some(l)) => {
                    w.write_all(format!("{l}\n").as_bytes()).await.map_err(|e| mtls_socket::Error::from_io("writing", e))?;
                }
                _ => stdin_open = false,
            },
            _ = until_deadline => break,
        }
    }
    let _ = w.shutdown().await;
    Ok(Outcome {
        ssl_errors: errors,
        received,
    })
}

/// `mtls connect` from the command line.
pub fn run(a: ConnectArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        session(
            &a,
            // Status lines quote the server's certificate: one line each, whatever it holds.
            &mut |s| eprintln!("{}", crate::out::escape_controls(&s)),
            &mut |d| {
                use std::io::Write;
                let mut o = std::io::stdout().lock();
                if o.write_all(d.as_bytes()).and_then(|()| o.flush()).is_err() {
                    std::process::exit(0);
                }
            },
            true,
        )
        .await
        .map(|_| ())
    })
}
