//! Where a tunnel forwards to: `HOST:PORT` or `unix:/path`, and the loopback rule for it and
//! for the listen address.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};

use crate::error::{Error, Result};

/// A tunnel's far end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `HOST:PORT` (a name is resolved at each connection).
    Tcp(String),
    /// `unix:/path`.
    Unix(PathBuf),
}

/// A connected target.
#[derive(Debug)]
pub enum Stream {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a unix socket.
    Unix(UnixStream),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(a) => f.write_str(a),
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl Target {
    /// Parses `HOST:PORT`, `[V6]:PORT` or `unix:/path`.
    ///
    /// # Errors
    ///
    /// [`Error::BadTarget`] naming what is missing.
    pub fn parse(s: &str) -> Result<Target> {
        let bad = |why: &str| Error::BadTarget {
            target: s.to_string(),
            why: why.to_string(),
        };
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("give the socket's path after unix:"));
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| bad("give HOST:PORT or unix:/path"))?;
        if host.is_empty() {
            return Err(bad("the host is missing (127.0.0.1:PORT?)"));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => Ok(Target::Tcp(s.to_string())),
            _ => Err(bad("the port must be 1-65535")),
        }
    }

    /// True for a unix socket, or a host that is a loopback address or `localhost`.
    pub fn is_local(&self) -> bool {
        match self {
            Target::Unix(_) => true,
            Target::Tcp(a) => a.rsplit_once(':').is_some_and(|(h, _)| host_is_loopback(h)),
        }
    }

    /// Connects, within `timeout`.
    ///
    /// # Errors
    ///
    /// The system's error, or `TimedOut`.
    pub async fn connect(&self, timeout: Duration) -> std::io::Result<Stream> {
        let connect = async {
            match self {
                Target::Tcp(a) => {
                    let s = TcpStream::connect(a.as_str()).await?;
                    s.set_nodelay(true)?;
                    Ok(Stream::Tcp(s))
                }
                Target::Unix(p) => UnixStream::connect(p).await.map(Stream::Unix),
            }
        };
        match tokio::time::timeout(timeout, connect).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            )),
        }
    }
}

fn host_is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// True when `addr` (`HOST:PORT`) listens on loopback only.
pub fn is_loopback_listen(addr: &str) -> bool {
    match addr.parse::<SocketAddr>() {
        Ok(a) => a.ip().is_loopback(),
        Err(_) => addr
            .rsplit_once(':')
            .is_some_and(|(h, _)| host_is_loopback(h)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_know_whether_they_are_local() {
        assert_eq!(
            Target::parse("unix:/run/game.sock").unwrap(),
            Target::Unix("/run/game.sock".into())
        );
        assert!(Target::parse("127.0.0.1:6379").unwrap().is_local());
        assert!(Target::parse("[::1]:6379").unwrap().is_local());
        assert!(Target::parse("localhost:5432").unwrap().is_local());
        assert!(!Target::parse("10.0.0.5:5432").unwrap().is_local());
        for bad in ["", "unix:", "host", ":80", "h:0", "h:99999", "h:x"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        assert!(is_loopback_listen("127.0.0.1:0"));
        assert!(is_loopback_listen("[::1]:8443"));
        assert!(!is_loopback_listen("0.0.0.0:8443"));
        assert!(!is_loopback_listen("[::]:8443"));
    }
}
