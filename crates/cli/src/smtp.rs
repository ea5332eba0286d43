//! The minimal SMTP STARTTLS exchange of RFC 3207, both sides, so that
//! `openssl s_client -starttls smtp` can talk to `mtls serve --starttls`.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

const MAX_LINE: usize = 1000; // RFC 5321 4.5.3.1.6: 1000 octets with CRLF

async fn line<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        buf.extend_from_slice(&chunk[..take]);
        r.consume(take);
        if buf.len() > MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "SMTP line too long",
            ));
        }
        if done {
            return Ok(Some(String::from_utf8_lossy(&buf).trim_end().to_string()));
        }
    }
}

/// Server side: greeting, EHLO/HELO, STARTTLS. Ok(true) when the client asked for STARTTLS
/// (the socket is then ready for the server handshake), Ok(false) when it quit.
///
/// The reader is unbuffered beyond each line (RFC 3207 forbids pipelining STARTTLS), so no TLS
/// bytes are swallowed.
pub async fn server_prelude<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> std::io::Result<bool> {
    s.write_all(b"220 mtls ESMTP ready\r\n").await?;
    loop {
        let mut r = BufReader::with_capacity(1, &mut *s);
        let Some(cmd) = line(&mut r).await? else {
            return Ok(false);
        };
        drop(r);
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                s.write_all(b"250-mtls\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
                    .await?
            }
            "HELO" => s.write_all(b"250 mtls\r\n").await?,
            "STARTTLS" => {
                s.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                return Ok(true);
            }
            "NOOP" => s.write_all(b"250 2.0.0 OK\r\n").await?,
            "QUIT" => {
                s.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(false);
            }
            _ => {
                s.write_all(b"530 5.7.0 Must issue a STARTTLS command first\r\n")
                    .await?
            }
        }
        s.flush().await?;
    }
}

/// Client side: read the greeting, EHLO, check STARTTLS is offered, STARTTLS, expect 220.
pub async fn client_prelude<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> std::io::Result<()> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut r = BufReader::with_capacity(1, &mut *s);
    let greet = line(&mut r)
        .await?
        .ok_or_else(|| bad("closed before the SMTP greeting".into()))?;
    if !greet.starts_with("220") {
        return Err(bad(format!("unexpected SMTP greeting {greet:?}")));
    }
    drop(r);
    s.write_all(b"EHLO mtls\r\n").await?;
    let mut offered = false;
    loop {
        let mut r = BufReader::with_capacity(1, &mut *s);
        let l = line(&mut r)
            .await?
            .ok_or_else(|| bad("closed during EHLO".into()))?;
        if !l.starts_with("250") {
            return Err(bad(format!("EHLO refused: {l:?}")));
        }
        if l[3..]
            .trim_start_matches(['-', ' '])
            .eq_ignore_ascii_case("STARTTLS")
        {
            offered = true;
        }
        if l.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    }
    if !offered {
        return Err(bad("the server does not offer STARTTLS".into()));
    }
    s.write_all(b"STARTTLS\r\n").await?;
    let mut r = BufReader::with_capacity(1, &mut *s);
    let l = line(&mut r)
        .await?
        .ok_or_else(|| bad("closed after STARTTLS".into()))?;
    if !l.starts_with("220") {
        return Err(bad(format!("STARTTLS refused: {l:?}")));
    }
    Ok(())
}
