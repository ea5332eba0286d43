//! The demo's second act: the CA goes online. `mtls ca serve` starts, a device trades a
//! one-time token for a certificate, `mtls renew --daemon` renews `mtls serve`'s short-lived
//! certificate while the device stays connected, an admin revokes the device through the API,
//! and `mtls serve`, reading `--crl-url`, refuses the device's next handshake within seconds.
//! Every piece is the real one (the CA server, the enroll and renew clients, the API calls of
//! `ca token --url` and `ca revoke --url`), run in this process.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mtls_pki::time::Lifetime;
use mtls_pki::{CertificateAuthority, KeyType, Name, San};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::client::{Env, refused, run_client};
use super::report::{Check, say, step};
use super::served::{Served, serve_args};
use super::story::write_issued;
use crate::enroll::EnrollArgs;
use crate::remote::Remote;
use crate::renew::{Event, RenewArgs};

/// The life of `mtls serve`'s certificate: short, so that its renewal happens on stage. Real
/// ones live hours or days; the daemon renews at 2/3 of whatever it is.
const WEB_LIFE_SECS: u64 = 5;

/// Plays the act with `ca` (unlocked), numbering its steps from `first`, in `dir/online`.
pub(super) async fn act(
    dir: &Path,
    mut ca: CertificateAuthority,
    first: u32,
) -> Result<Vec<Check>> {
    let work = dir.join("online");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let ca_crt = ca.dir().join(mtls_pki::ca::files::CERT);
    step(
        first,
        "The CA goes online: mtls ca serve (API over TLS, CRL over plain HTTP, both on 127.0.0.1)",
    );
    certificates(&mut ca, &work)?;
    let opts = mtls_caserver::Options {
        listen: "127.0.0.1:0".parse()?,
        http_listen: Some("127.0.0.1:0".parse()?),
        sans: Vec::new(),
        max_connections: 64,
        renew_grace_secs: 3600,
    };
    let running = mtls_caserver::start(ca, opts).await?;
    let api = format!("https://{}", running.api_addr);
    let http = running
        .http_addr
        .map(|a| format!("http://{a}"))
        .context("the CA server has no HTTP listener")?;
    say(&format!("ca serve | API on {api}, CRL on {http}/crl"));
    say(&format!(
        "ca serve | CA fingerprint SHA256 {}",
        running.fingerprint
    ));
    let admin = Remote {
        url: Some(api.clone()),
        cert: Some(work.join("admin.crt")),
        key: Some(work.join("admin.key")),
        ca_file: Some(ca_crt.clone()),
    };
    let stage = Stage {
        work,
        ca_crt,
        api,
        admin,
    };
    let mut checks = Vec::new();
    let device = enroll(&stage, first + 1, &mut checks).await?;
    let srv = serve(&stage, &http, first + 2).await?;
    let live = renew(&stage, &srv, &mut checks).await?;
    let revoked_at = revoke(&stage, &device, first + 3, &mut checks).await?;
    refuse(&stage, &srv, revoked_at, first + 4, &mut checks).await;
    let _ = tokio::time::timeout(Duration::from_secs(3), live).await;
    step(first + 5, "Stopping mtls serve and the CA server");
    srv.stop("online servers' shutdown", &mut checks).await;
    running.shutdown().await;
    Ok(checks)
}

/// Where the act keeps its files and how it reaches the CA.
struct Stage {
    work: PathBuf,
    ca_crt: PathBuf,
    api: String,
    admin: Remote,
}

/// The admin's certificate (profile admin: the store record grants the role) and `mtls
/// serve`'s five-second one, issued on the CA machine before it goes online.
fn certificates(ca: &mut CertificateAuthority, work: &Path) -> Result<()> {
    let chain = ca.chain_pem().to_string();
    let (k, admin) = ca.issue(
        "admin",
        Name::parse("/CN=admin")?,
        vec![],
        mtls_pki::profile::ADMIN,
        None,
        KeyType::EcP256,
    )?;
    write_issued(work, "admin", &k, &admin, &chain)?;
    say(&format!("admin: serial {} (profile admin)", admin.serial));
    let (k, web) = ca.issue(
        "web",
        Name::parse("/CN=localhost")?,
        vec![
            San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            San::Dns("localhost".into()),
        ],
        "server",
        Lifetime::from_secs(WEB_LIFE_SECS),
        KeyType::EcP256,
    )?;
    write_issued(work, "web", &k, &web, &chain)?;
    say(&format!(
        "web: serial {} for IP:127.0.0.1, valid {WEB_LIFE_SECS} s (so that you see it renewed)",
        web.serial
    ));
    Ok(())
}

/// An API call as the admin, off the async workers (the client runs its own runtime).
async fn as_admin(
    stage: &Stage,
    path: &'static str,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    let remote = stage.admin.clone();
    let ca = stage.ca_crt.clone();
    tokio::task::spawn_blocking(move || remote.call(ca, "POST", path, &body).map(|a| a.json()))
        .await
        .context("the API call's thread")?
}

fn enroll_args(stage: &Stage, token: &str, name: &str) -> EnrollArgs {
    EnrollArgs {
        url: stage.api.clone(),
        token: Some(token.to_string()),
        token_file: None,
        ca: stage.ca_crt.clone(),
        out_dir: stage.work.clone(),
        name: name.into(),
        sans: Vec::new(),
        key_type: "ec-p256".into(),
        key_passphrase_file: None,
    }
}

/// An admin makes a single-use token; device1 trades it for a certificate, and a second use is
/// refused. Returns device1's serial.
async fn enroll(stage: &Stage, n: u32, checks: &mut Vec<Check>) -> Result<String> {
    step(
        n,
        "An admin makes a one-time token; device1 enrolls with it (its key never leaves it)",
    );
    let v = as_admin(
        stage,
        "/v1/tokens",
        json!({"name": "device1", "profile": "client", "ttl": "5m", "uses": 1}),
    )
    .await?;
    let token = v["token"]
        .as_str()
        .context("no token in the answer")?
        .to_string();
    say("admin    | POST /v1/tokens: a token for device1, one use, 5 minutes");
    let args = enroll_args(stage, &token, "device1");
    let got = tokio::task::spawn_blocking(move || crate::enroll::enroll(&args))
        .await
        .context("the enrollment's thread")?;
    let (ok, seen, serial) = match got {
        Ok(g) => {
            say(&format!(
                "device1  | enrolled: serial {} until {}",
                g.serial, g.not_after
            ));
            (true, format!("201, serial {}", g.serial), g.serial)
        }
        Err(e) => (false, format!("{e:#}"), String::new()),
    };
    checks.push(Check {
        what: "token enrollment".into(),
        expected: "certificate issued".into(),
        seen,
        ok,
    });
    let again = enroll_args(stage, &token, "device1-again");
    let second = tokio::task::spawn_blocking(move || crate::enroll::enroll(&again))
        .await
        .context("the enrollment's thread")?;
    let (ok, seen) = match second {
        Ok(_) => (false, "a second certificate was issued".to_string()),
        Err(e) => {
            let t = format!("{e:#}");
            say(&format!("device1  | the same token again: {t}"));
            (t.contains("401"), t.chars().take(80).collect())
        }
    };
    checks.push(Check {
        what: "token used twice".into(),
        expected: "refused: 401".into(),
        seen,
        ok,
    });
    Ok(serial)
}

/// `mtls serve` on the short-lived certificate, fetching the CRL from the CA server.
async fn serve(stage: &Stage, http: &str, n: u32) -> Result<Served> {
    step(
        n,
        "mtls serve on the 5-second certificate, --crl-url from the CA; device1 connects and stays",
    );
    let mut args = serve_args(&stage.work, &stage.ca_crt, "web.crt", "web.key");
    args.crl_url = vec![format!("{http}/crl")];
    args.crl_refresh = Duration::from_millis(500);
    Served::start(args, "crl_fetched").await
}

fn env<'a>(stage: &'a Stage, srv: &'a Served) -> Env<'a> {
    srv.env(&stage.work, &stage.ca_crt)
}

/// device1 connects for good; `mtls renew --daemon` renews web.crt at 2/3 of its life;
/// `mtls serve` reloads it without a restart while device1 stays connected. Returns device1's
/// live session, which the revocation later ends.
async fn renew(
    stage: &Stage,
    srv: &Served,
    checks: &mut Vec<Check>,
) -> Result<tokio::task::JoinHandle<Result<crate::connect::Outcome>>> {
    let env = env(stage, srv);
    let before = srv.seen.len();
    let live = tokio::spawn(run_client(
        "device1".into(),
        env.client("device1", vec![], None, Duration::from_millis(800), 1),
    ));
    srv.seen
        .wait(before, Duration::from_secs(3), &|r| {
            r.kind == "received" && r.cn.as_deref() == Some("device1")
        })
        .await;
    let args = RenewArgs {
        url: stage.api.clone(),
        cert: stage.work.join("web.crt"),
        key: stage.work.join("web.key"),
        ca: stage.ca_crt.clone(),
        rekey: false,
        daemon: true,
        exec: None,
        key_passphrase_file: None,
    };
    let (etx, mut erx) = mpsc::unbounded_channel::<String>();
    let (dstop, dstop_rx) = oneshot::channel::<()>();
    let daemon = tokio::spawn(async move {
        let report = move |e: Event| {
            let line = match e {
                Event::Next(w) => format!("next renewal in {} s", w.as_secs()),
                Event::Renewed(r) => format!("renewed: serial {} until {}", r.serial, r.not_after),
                Event::Failed(e, _) => format!("renewal failed: {e}"),
            };
            let _ = etx.send(line);
        };
        crate::renew::daemon(&args, None, &report, async {
            let _ = dstop_rx.await;
        })
        .await;
    });
    let mut renewed = None;
    let end = Instant::now() + Duration::from_secs(WEB_LIFE_SECS + 3);
    while renewed.is_none() && Instant::now() < end {
        match tokio::time::timeout_at(end.into(), erx.recv()).await {
            Ok(Some(line)) => {
                say(&format!("renew    | {line}"));
                if let Some(s) = line.strip_prefix("renewed: serial ") {
                    renewed = s.split_whitespace().next().map(str::to_string);
                }
            }
            _ => break,
        }
    }
    let _ = dstop.send(());
    let _ = daemon.await;
    let serial = renewed.unwrap_or_default();
    let reload_from = srv.seen.len();
    let reloaded = srv
        .seen
        .wait(before, Duration::from_secs(3), &|r| {
            r.kind == "cert_reloaded" && !serial.is_empty() && r.message.contains(&serial)
        })
        .await;
    checks.push(Check {
        what: "server certificate renewal".into(),
        expected: "renewed, reloaded, no restart".into(),
        seen: match &reloaded {
            Some(_) => format!("serial {serial} served"),
            None if serial.is_empty() => "no renewal".into(),
            None => format!("renewed to {serial}, not reloaded"),
        },
        ok: reloaded.is_some(),
    });
    // device1's session goes on across the reload: more of its messages arrive.
    let stayed = srv
        .seen
        .wait(reload_from, Duration::from_secs(3), &|r| {
            r.kind == "received" && r.cn.as_deref() == Some("device1")
        })
        .await
        .is_some()
        && !live.is_finished();
    checks.push(Check {
        what: "device1 across the renewal".into(),
        expected: "stays connected".into(),
        seen: if stayed {
            "still exchanging".into()
        } else {
            "disconnected".into()
        },
        ok: stayed,
    });
    Ok(live)
}

/// The admin revokes device1 through the API. Returns when.
async fn revoke(stage: &Stage, serial: &str, n: u32, checks: &mut Vec<Check>) -> Result<Instant> {
    step(
        n,
        "An admin revokes device1 through the API (POST /v1/revoke)",
    );
    let at = Instant::now();
    let r = as_admin(
        stage,
        "/v1/revoke",
        json!({"serial": serial, "reason": "keyCompromise"}),
    )
    .await;
    let (ok, seen) = match &r {
        Ok(v) => {
            say(&format!("admin    | revoked {serial}: {v}"));
            (true, "200, CRL renewed by the CA server".to_string())
        }
        Err(e) => (false, format!("{e:#}")),
    };
    checks.push(Check {
        what: "revocation through the API".into(),
        expected: "revoked".into(),
        seen,
        ok,
    });
    Ok(at)
}

/// `mtls serve` fetches the new CRL, closes device1's session and refuses its next handshake.
async fn refuse(stage: &Stage, srv: &Served, since: Instant, n: u32, checks: &mut Vec<Check>) {
    step(
        n,
        "mtls serve fetches the new CRL from --crl-url and refuses device1 within seconds",
    );
    let closed = srv
        .seen
        .wait(0, Duration::from_secs(5), &|r| {
            r.kind == "closed"
                && r.cn.as_deref() == Some("device1")
                && r.message.contains("revoked")
        })
        .await;
    let closed_ok = closed.is_some();
    let env = env(stage, srv);
    let r = run_client(
        "device1".into(),
        env.client("device1", vec![], Some(1), Duration::ZERO, 1),
    )
    .await;
    let (ok, txt) = refused(&r, "CertificateRevoked");
    let secs = since.elapsed().as_secs_f64();
    checks.push(Check {
        what: "revoked device, live session".into(),
        expected: "closed by mtls serve".into(),
        seen: closed
            .map(|r| r.message)
            .unwrap_or_else(|| "still open".into()),
        ok: closed_ok,
    });
    checks.push(Check {
        what: "revoked device reconnects".into(),
        expected: "refused: CertificateRevoked".into(),
        seen: format!("{secs:.1} s after the revocation: {txt}"),
        ok: ok && secs < 10.0,
    });
}
