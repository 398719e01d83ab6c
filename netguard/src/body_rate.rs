//! A request body that fails once it has arrived slower than a minimum rate (after a grace
//! period), so a client trickling an upload cannot hold a connection and a handler forever.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body's error once it is too slow.
#[derive(Debug)]
pub struct TooSlow {
    /// The minimum rate in bytes a second the body fell below.
    pub min_rate: u64,
}

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body arrived slower than {} bytes/s (the limit)",
            self.min_rate
        )
    }
}

impl std::error::Error for TooSlow {}

pub struct MinRate<B> {
    inner: B,
    min_rate: u64,
    grace: Duration,
    start: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
}

impl<B> MinRate<B> {
    /// `min_rate` bytes/s from the start once `grace` has passed; 0 turns the check off.
    pub fn new(inner: B, min_rate: u64, grace: Duration) -> Self {
        let start = Instant::now();
        MinRate {
            inner,
            min_rate,
            grace,
            start,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(start + grace)),
        }
    }

    /// When the bytes received so far stop being enough.
    fn due(&self) -> Instant {
        self.start
            + self.grace
            + Duration::from_secs_f64(self.received as f64 / self.min_rate as f64)
    }
}

impl<B> Body for MinRate<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending if this.min_rate == 0 => Poll::Pending,
            Poll::Pending => {
                let due = this.due();
                this.timer.as_mut().reset(due);
                if Instant::now() >= due || this.timer.as_mut().poll(cx).is_ready() {
                    let min_rate = this.min_rate;
                    return Poll::Ready(Some(Err(Box::new(TooSlow { min_rate }))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
