//! Package uploads streamed to disk. A bits upload (`PUT /cf/v2/apps/{guid}/bits`,
//! `POST /cf/v3/packages/{guid}/upload`) may be as large as Cloud Controller accepts (1 GiB by
//! default), so its multipart body is read as it arrives: the zip part goes into an unnamed
//! temporary file while its SHA-256 is computed, the other parts (a few bytes of JSON) stay in
//! memory, and the simulator's memory stays flat whatever the package's size.
//!
//! A body above [`SimOptions::cf_max_package_bytes`](crate::SimOptions::cf_max_package_bytes)
//! is refused as soon as its `Content-Length`, or the bytes counted so far, say so. Like nginx
//! in front of a real Cloud Controller, the simulator then answers at once and keeps reading
//! (and dropping) the rest of the body for a while ("lingering close"), so that a client still
//! sending sees the answer instead of a connection reset.
//!
//! The files are unnamed (`tempfile::tempfile`): the system removes each when its package goes
//! or the process ends, even when the simulator never stops (the tests' background simulators
//! run until their process exits) or is killed. Nothing is left behind on disk.

use std::io::{Seek, SeekFrom, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};

use crate::request::{Part, Request};
use crate::server::MAX_BODY_BYTES;

/// How much of a package upload's body the request recorder keeps: the multipart headers and
/// the start of the zip, enough to see what was sent.
pub const RECORDED_UPLOAD_BYTES: usize = 64 * 1024;

/// How long the rest of a refused body is read and dropped before the connection is closed:
/// nginx's `lingering_time` default.
const LINGER: Duration = Duration::from_secs(30);

/// The multipart parts that hold a package's zip: v2's `application`, v3's `bits`.
const ZIP_PARTS: [&str; 2] = ["application", "bits"];

/// An uploaded zip on disk, with its size and SHA-256 (of the bytes as sent).
pub(crate) struct StoredFile {
    file: Mutex<std::fs::File>,
    pub(crate) len: u64,
    pub(crate) sha256: String,
}

impl StoredFile {
    /// Runs `read` on the file, positioned at its start (one reader at a time).
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&mut std::fs::File) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.seek(SeekFrom::Start(0))?;
        read(&mut file)
    }

    /// The whole file.
    pub(crate) fn bytes(&self) -> std::io::Result<Vec<u8>> {
        self.read(|file| {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(file, &mut bytes)?;
            Ok(bytes)
        })
    }
}

impl std::fmt::Debug for StoredFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredFile")
            .field("len", &self.len)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// How a package upload's body was taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Read to its end; the request's parts are decoded (none when it was not a well-formed
    /// multipart body, as if nothing had been sent).
    Whole,
    /// Larger than the limit: refused, the rest is being read and dropped.
    TooLarge,
}

/// Reads a package upload's `body` into `request`: the parts (the zip on disk) and, as
/// `request.body`, the first [`RECORDED_UPLOAD_BYTES`] for the recorder. `limit` counts the
/// whole body. Fails only when the disk does.
pub(crate) async fn receive(
    request: &mut Request,
    body: Incoming,
    limit: u64,
) -> std::io::Result<Received> {
    let declared = request
        .header("content-length")
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        linger(body);
        return Ok(Received::TooLarge);
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let counted = Counted {
        body: Some(body),
        seen: Arc::clone(&seen),
        limit,
        handed: false,
    };
    let boundary = request
        .header("content-type")
        .and_then(|value| multer::parse_boundary(value).ok());
    let parts = match boundary {
        Some(boundary) => read_parts(multer::Multipart::new(counted, boundary)).await,
        None => {
            // Not multipart: nothing to keep, but the size still counts.
            let mut counted = counted;
            while let Some(Ok(_)) = futures_util::StreamExt::next(&mut counted).await {}
            Ok(Vec::new())
        }
    };
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    request.body = seen.prefix.freeze();
    match parts {
        _ if seen.over => Ok(Received::TooLarge),
        Ok(parts) => {
            request.parts = parts;
            Ok(Received::Whole)
        }
        Err(Problem::TooLarge) => Ok(Received::TooLarge),
        Err(Problem::Malformed) => Ok(Received::Whole),
        Err(Problem::Disk(error)) => Err(error),
    }
}

/// Why the parts could not be read.
enum Problem {
    /// Not a well-formed multipart body (or the connection broke).
    Malformed,
    /// A part held in memory grew beyond [`MAX_BODY_BYTES`].
    TooLarge,
    Disk(std::io::Error),
}

impl From<multer::Error> for Problem {
    fn from(_: multer::Error) -> Self {
        Self::Malformed
    }
}

/// The named parts, the zip on disk.
async fn read_parts(mut multipart: multer::Multipart<'static>) -> Result<Vec<Part>, Problem> {
    let mut parts = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        let Some(name) = field.name().map(str::to_owned) else {
            // An unnamed part is nobody's: read past it.
            while field.chunk().await?.is_some() {}
            continue;
        };
        if ZIP_PARTS.contains(&name.as_str()) {
            let mut spool = Spool::new().map_err(Problem::Disk)?;
            while let Some(chunk) = field.chunk().await? {
                spool.write(&chunk).map_err(Problem::Disk)?;
            }
            let stored = spool.finish().map_err(Problem::Disk)?;
            parts.push(Part {
                name,
                body: Bytes::new(),
                stored: Some(Arc::new(stored)),
            });
        } else {
            let mut body = BytesMut::new();
            while let Some(chunk) = field.chunk().await? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(Problem::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            parts.push(Part {
                name,
                body: body.freeze(),
                stored: None,
            });
        }
    }
    Ok(parts)
}

/// A zip being written to disk, hashed as it goes.
struct Spool {
    file: std::fs::File,
    len: u64,
    digest: ring::digest::Context,
}

impl Spool {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            file: tempfile::tempfile()?,
            len: 0,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
        })
    }

    /// Writes a chunk. A plain (blocking) write: it lands in the page cache, and a simulator
    /// serving a handful of clients does not need more.
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.file.write_all(chunk)?;
        self.digest.update(chunk);
        self.len += chunk.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<StoredFile> {
        self.file.flush()?;
        let sha256 = self
            .digest
            .finish()
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(StoredFile {
            file: Mutex::new(self.file),
            len: self.len,
            sha256,
        })
    }
}

/// What the counting stream has seen of a body.
#[derive(Default)]
struct Seen {
    total: u64,
    prefix: BytesMut,
    /// The body grew beyond the limit.
    over: bool,
}

/// The request body as a stream of chunks, counted against the limit; beyond it, or when
/// dropped before the end, the rest of the body is read and dropped (see [`linger`]).
///
/// multer reads its stream until it is pending, into one buffer: a client sending faster than
/// the parts are taken would fill it. So after each chunk the stream says "pending" once (and
/// wakes itself at once), and multer hands on what it has before it reads more.
struct Counted {
    body: Option<Incoming>,
    seen: Arc<Mutex<Seen>>,
    limit: u64,
    /// A chunk was handed on since the last pause.
    handed: bool,
}

impl Stream for Counted {
    type Item = std::io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.handed {
            this.handed = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = match ready!(Pin::new(body).poll_frame(cx)) {
                None => {
                    this.body = None;
                    return Poll::Ready(None);
                }
                Some(Err(error)) => {
                    this.body = None;
                    return Poll::Ready(Some(Err(std::io::Error::other(error))));
                }
                Some(Ok(frame)) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let mut seen = this.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.total += data.len() as u64;
            let room = RECORDED_UPLOAD_BYTES.saturating_sub(seen.prefix.len());
            seen.prefix.extend_from_slice(&data[..room.min(data.len())]);
            if seen.total > this.limit {
                seen.over = true;
                drop(seen);
                if let Some(body) = this.body.take() {
                    linger(body);
                }
                return Poll::Ready(Some(Err(std::io::Error::other(
                    "the body is larger than the package limit",
                ))));
            }
            this.handed = true;
            return Poll::Ready(Some(Ok(data)));
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(body) = self.body.take()
            && !body.is_end_stream()
        {
            linger(body);
        }
    }
}

/// Reads and drops the rest of `body` for up to [`LINGER`], from a task of its own, so that
/// the answer already given reaches a client that is still sending: closing a connection with
/// unread data resets it, and the client's pending answer may be lost with it.
fn linger(mut body: Incoming) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let _ = tokio::time::timeout(LINGER, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    });
}
