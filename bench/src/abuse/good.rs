//! The well-behaved mutual-TLS client run beside the attacks.

#[allow(unused_imports)]
use super::*;

// ---- the well-behaved client ---------------------------------------------------------------

/// Counts the bytes read from a stream.
pub(crate) struct Counting {
    inner: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the good client saw.
#[derive(Debug, Default, Clone)]
pub struct GoodReport {
    /// Rounds that got a heartbeat (handshake, line sent, heartbeat read).
    pub served: u64,
    /// Rounds that failed (any error other than a refusal at the connection limit, or not
    /// served within the give-up time).
    pub failures: u64,
    /// Connections the server closed before saying anything (its --max-conns refusal); each
    /// was retried after 50 ms.
    pub refused: u64,
    /// Rounds that needed at least one retry.
    pub retried_rounds: u64,
    /// TCP connect + TLS handshake of each successful attempt, ms.
    pub handshake_ms: Vec<f64>,
    /// From the round's start to the handshake done, retries included, ms.
    pub until_handshake_ms: Vec<f64>,
    /// Failure messages and their counts.
    pub errors: BTreeMap<String, u64>,
    /// Seconds run.
    pub seconds: f64,
}

impl GoodReport {
    /// The JSON summary (percentiles, not every sample).
    pub fn to_json(&self) -> Value {
        json!({
            "client": "good",
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "handshakes": self.handshake_ms.len(),
            "served": self.served,
            "failures": self.failures,
            "refused": self.refused,
            "retried_rounds": self.retried_rounds,
            "handshake_ms": summary(&self.handshake_ms),
            "until_handshake_ms": summary(&self.until_handshake_ms),
            "errors": self.errors,
        })
    }

    fn merge(&mut self, o: GoodReport) {
        self.served += o.served;
        self.failures += o.failures;
        self.refused += o.refused;
        self.retried_rounds += o.retried_rounds;
        self.handshake_ms.extend(o.handshake_ms);
        self.until_handshake_ms.extend(o.until_handshake_ms);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

/// Options of the good client.
#[derive(Clone, Debug)]
pub struct GoodOptions {
    /// Run until this long has passed, or `stop` turns true.
    pub secs: f64,
    /// Loops at once.
    pub workers: usize,
    /// A round not served within this long (retries included) is a failure.
    pub give_up: Duration,
}

pub(crate) fn is_refusal(e: &std::io::Error, read: u64) -> bool {
    use std::io::ErrorKind as K;
    read == 0
        && matches!(
            e.kind(),
            K::UnexpectedEof | K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted
        )
}

/// One round: handshake (retrying a refusal at the connection limit), send a line, read a
/// heartbeat, close with close_notify.
pub(crate) async fn good_round(
    t: &Target,
    connector: &TlsConnector,
    n: u64,
    give_up: Duration,
    rep: &mut GoodReport,
) -> Result<()> {
    let round = Instant::now();
    let mut retried = false;
    let mut s = loop {
        let t0 = Instant::now();
        let tcp = connect(t.addr).await?;
        let read = Arc::new(AtomicU64::new(0));
        let io = Counting {
            inner: tcp,
            read: read.clone(),
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(t.name()?, io)).await {
            Err(_) => anyhow::bail!("handshake timed out after {HANDSHAKE_TIMEOUT:?}"),
            Ok(Ok(s)) => {
                rep.handshake_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                rep.until_handshake_ms
                    .push(round.elapsed().as_secs_f64() * 1000.0);
                break s;
            }
            Ok(Err(e)) if is_refusal(&e, read.load(Ordering::Relaxed)) => {
                rep.refused += 1;
                retried = true;
                if round.elapsed() >= give_up {
                    anyhow::bail!("refused for {give_up:?} (last: {e})");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Err(e)) => anyhow::bail!("handshake: {e}"),
        }
    };
    if retried {
        rep.retried_rounds += 1;
    }
    s.write_all(format!("good client round {n}\n").as_bytes())
        .await
        .context("writing")?;
    s.flush().await.context("flushing")?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("hello I am server") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => anyhow::bail!("no heartbeat within 5 s"),
            Ok(Ok(0)) => anyhow::bail!("the server closed before a heartbeat"),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => anyhow::bail!("reading: {e}"),
        }
    }
    rep.served += 1;
    let _ = s.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while s.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
    })
    .await;
    Ok(())
}

/// The well-behaved client: `workers` loops of rounds until `opts.secs` pass or `stop` is set.
pub async fn good(
    t: &Target,
    creds: &Creds,
    opts: &GoodOptions,
    stop: Arc<AtomicBool>,
) -> Result<GoodReport> {
    let connector = TlsConnector::from(creds.config()?);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(opts.secs);
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..opts.workers.max(1) {
        let (t, connector, stop, counter, give_up) = (
            t.clone(),
            connector.clone(),
            stop.clone(),
            counter.clone(),
            opts.give_up,
        );
        tasks.spawn(async move {
            let mut rep = GoodReport::default();
            while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                if let Err(e) = good_round(&t, &connector, n, give_up, &mut rep).await {
                    rep.failures += 1;
                    *rep.errors.entry(format!("{e:#}")).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            rep
        });
    }
    let mut all = GoodReport::default();
    while let Some(r) = tasks.join_next().await {
        all.merge(r.context("a good-client worker panicked")?);
    }
    all.seconds = start.elapsed().as_secs_f64();
    Ok(all)
}
