//! Package uploads (v2 bits, v3 package upload) over real HTTP on loopback: streamed to disk
//! with their SHA-256, kept byte for byte; above `cf_max_package_bytes` answered 413 while the
//! client is still sending; memory flat whatever the size.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use berth_sim::*;
use support::Cf;

const SPACE: &str = "be1f9c1d-e629-488e-a560-a35b545f0ad7";
const BOUNDARY: &str = "berth-sim-boundary-4f7c";

impl Cf {
    async fn create_v2_app(&self, name: &str) -> String {
        let response = self
            .api(Method::POST, "/v2/apps")
            .json(&json!({ "name": name, "space_guid": SPACE }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["metadata"]["guid"].as_str().unwrap().to_owned()
    }

    /// `PUT /v2/apps/{guid}/bits` (synchronous) with `body`.
    async fn put_bits(&self, guid: &str, body: reqwest::Body) -> reqwest::Result<Response> {
        self.api(Method::PUT, &format!("/v2/apps/{guid}/bits"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
    }
}

/// The multipart body around a zip part named `field`: what comes before the zip, and after.
fn envelope(field: &str) -> (Vec<u8>, Vec<u8>) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"resources\"\r\n\r\n[]\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"p.zip\"\r\n\
         Content-Type: application/zip\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    (head.into_bytes(), tail.into_bytes())
}

fn multipart(field: &str, zip: &[u8]) -> Vec<u8> {
    let (mut body, tail) = envelope(field);
    body.extend_from_slice(zip);
    body.extend_from_slice(&tail);
    body
}

/// A zip with `files` of random (incompressible) bytes, stored.
fn random_zip(files: &[(&str, usize)]) -> Vec<u8> {
    let mut random = fastrand::Rng::with_seed(7);
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, size) in files {
        archive.start_file(*name, stored).unwrap();
        let data: Vec<u8> = std::iter::repeat_with(|| random.u8(..))
            .take(*size)
            .collect();
        std::io::Write::write_all(&mut archive, &data).unwrap();
    }
    archive.finish().unwrap().into_inner()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `body` sent in chunks of `chunk` bytes, without a `Content-Length` (chunked), pausing after
/// `pause_after` bytes until `go` is released: a client still sending when the answer comes.
fn paused_stream(
    body: Vec<u8>,
    chunk: usize,
    pause_after: usize,
    go: tokio::sync::oneshot::Receiver<()>,
) -> reqwest::Body {
    let chunks: Vec<Bytes> = body.chunks(chunk).map(Bytes::copy_from_slice).collect();
    let go = Arc::new(tokio::sync::Mutex::new(Some(go)));
    let stream = futures_util::stream::iter(chunks.into_iter().scan(0, |sent, piece| {
        *sent += piece.len();
        Some((*sent, piece))
    }))
    .then(move |(sent, piece)| {
        let go = Arc::clone(&go);
        async move {
            if sent > pause_after
                && let Some(go) = go.lock().await.take()
            {
                let _ = go.await;
            }
            Ok::<_, std::io::Error>(piece)
        }
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn a_v2_upload_is_stored_byte_for_byte_with_its_checksum() {
    let sim = Cf::start(SimOptions::default()).await;
    let guid = sim.create_v2_app("big").await;
    let archive = random_zip(&[("package.json", 20), ("public/video.bin", 3 << 20)]);
    // Chunked, in pieces: the simulator reads it as it comes.
    let (_go, wait) = tokio::sync::oneshot::channel();
    let body = paused_stream(
        multipart("application", &archive),
        64 << 10,
        usize::MAX,
        wait,
    );
    let response = sim.put_bits(&guid, body).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let app = &sim.handle.cf_apps()[0];
    assert_eq!(
        app["_bits"],
        json!({
            "bytes": archive.len(),
            "files": ["package.json", "public/video.bin"],
            "sha256": sha256_hex(&archive),
        })
    );
    assert_eq!(sim.handle.cf_package_zip(&guid).unwrap(), archive);
    let recorded = sim.handle.requests().pop().unwrap();
    // As text: each byte that is not UTF-8 became a replacement character.
    let kept = recorded.body.chars().count();
    assert!(
        (RECORDED_UPLOAD_BYTES / 2..=RECORDED_UPLOAD_BYTES).contains(&kept),
        "the recorder keeps the start only: {kept} characters"
    );
    assert!(recorded.body.contains("name=\"resources\""));
    assert!(recorded.body.contains("name=\"application\""));
}

#[tokio::test]
async fn a_v3_upload_is_stored_and_its_package_checksum_is_the_zip_s() {
    let sim = Cf::start(SimOptions {
        cf_job_time: Duration::from_millis(50),
        ..SimOptions::default()
    })
    .await;
    let app: Value = sim
        .api(Method::POST, "/v3/apps")
        .json(&json!({
            "name": "big",
            "relationships": { "space": { "data": { "guid": cloudfoundry::DEFAULT_CF_SPACE_GUID } } },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app = app["guid"].as_str().unwrap().to_owned();
    let package: Value = sim
        .api(Method::POST, "/v3/packages")
        .json(&json!({ "type": "bits", "relationships": { "app": { "data": { "guid": app } } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let package = package["guid"].as_str().unwrap().to_owned();
    let archive = random_zip(&[("index.html", 2 << 20)]);
    let response = sim
        .api(Method::POST, &format!("/v3/packages/{package}/upload"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart("bits", &archive))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready: Value = sim
        .api(Method::GET, &format!("/v3/packages/{package}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["state"], "READY");
    assert_eq!(ready["data"]["checksum"]["value"], sha256_hex(&archive));
    assert_eq!(sim.handle.cf_package_zip(&app).unwrap(), archive);
}

/// What a refused upload answers: nginx's own page, the connection closed after it.
async fn assert_refused(response: Response) {
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.headers()["connection"], "close");
    let page = response.text().await.unwrap();
    assert!(page.contains("413 Request Entity Too Large"), "{page}");
}

#[tokio::test]
async fn a_package_over_the_limit_is_refused_by_its_content_length_before_it_is_sent() {
    let sim = Cf::start(SimOptions {
        cf_max_package_bytes: 256 * 1024,
        ..SimOptions::default()
    })
    .await;
    let guid = sim.create_v2_app("big").await;
    let body = multipart("application", &random_zip(&[("a.bin", 1 << 20)]));
    let length = body.len() as u64;
    let (go, wait) = tokio::sync::oneshot::channel();
    // Nothing but the first chunk is sent until the answer is in.
    let stream = paused_stream(body, 16 << 10, 0, wait);
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        sim.api(Method::PUT, &format!("/v2/apps/{guid}/bits"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header("content-length", length)
            .body(stream)
            .send(),
    )
    .await
    .expect("the answer comes before the body is sent")
    .unwrap();
    let _ = go.send(());
    assert_refused(response).await;
    assert!(sim.handle.cf_apps()[0]["_bits"].is_null());
    let recorded = sim.handle.requests().pop().unwrap();
    assert!(recorded.path.ends_with("/bits"));
    assert_eq!(recorded.body, "", "nothing of it was read");
}

#[tokio::test]
async fn a_chunked_package_is_refused_once_the_count_passes_the_limit_and_the_rest_is_drained() {
    let limit = 256 * 1024;
    let sim = Cf::start(SimOptions {
        cf_max_package_bytes: limit,
        ..SimOptions::default()
    })
    .await;
    let guid = sim.create_v2_app("big").await;
    let body = multipart("application", &random_zip(&[("a.bin", 2 << 20)]));
    let (go, wait) = tokio::sync::oneshot::channel();
    // Pauses past the limit: the answer must come while the client is still sending.
    let stream = paused_stream(body, 16 << 10, 2 * limit as usize, wait);
    let sending = tokio::spawn({
        let request = sim
            .api(Method::PUT, &format!("/v2/apps/{guid}/bits"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(stream);
        async move { request.send().await }
    });
    let response = tokio::time::timeout(Duration::from_secs(10), sending)
        .await
        .expect("the answer comes before the body is sent")
        .unwrap()
        .unwrap();
    assert_refused(response).await;
    // The rest is read and dropped: a client that goes on sending is not reset.
    let _ = go.send(());
    assert!(sim.handle.cf_apps()[0]["_bits"].is_null());
    let recorded = sim.handle.requests().pop().unwrap();
    assert!(recorded.body.starts_with(&format!("--{BOUNDARY}")));
    // The simulator still answers on new connections.
    let response = sim.put_bits(&guid, multipart("application", &random_zip(&[])).into());
    assert_eq!(response.await.unwrap().status(), StatusCode::CREATED);
}

#[tokio::test]
async fn json_bodies_keep_their_small_limit() {
    let sim = Cf::start(SimOptions::default()).await;
    let huge = "x".repeat(MAX_BODY_BYTES + 1);
    let response = sim
        .api(Method::POST, "/v2/apps")
        .json(&json!({ "name": huge, "space_guid": SPACE }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// The peak resident memory of this process (Linux's `VmHWM`), in bytes. (A test of this file
/// that fails first may spoil it: printing a backtrace loads the debug information.)
#[cfg(target_os = "linux")]
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A 200 MB zip generated as it is sent (one stored entry of random bytes; its CRC is left
/// zero, the simulator reads only the central directory), with its SHA-256 computed meanwhile.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_upload_leaves_the_memory_flat() {
    const SIZE: usize = 200 << 20;
    const CHUNK: usize = 256 << 10;
    let name = b"data.bin";
    let sim = Cf::start(SimOptions::default()).await;
    let guid = sim.create_v2_app("huge").await;
    let mut local = Vec::new();
    local.extend_from_slice(&0x0403_4b50_u32.to_le_bytes());
    local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x58, 0, 0, 0, 0]); // version, flags, method, time, date, crc
    local.extend_from_slice(&(SIZE as u32).to_le_bytes());
    local.extend_from_slice(&(SIZE as u32).to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&0_u16.to_le_bytes());
    local.extend_from_slice(name);
    let mut central = Vec::new();
    central.extend_from_slice(&0x0201_4b50_u32.to_le_bytes());
    central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x58, 0, 0, 0, 0]); // versions, flags, method, time, date, crc
    central.extend_from_slice(&(SIZE as u32).to_le_bytes());
    central.extend_from_slice(&(SIZE as u32).to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0; 12]); // extra, comment, disk, internal and external attributes
    central.extend_from_slice(&0_u32.to_le_bytes()); // where the local header is
    central.extend_from_slice(name);
    let central_at = (local.len() + SIZE) as u32;
    let mut end = Vec::new();
    end.extend_from_slice(&0x0605_4b50_u32.to_le_bytes());
    end.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&central_at.to_le_bytes());
    end.extend_from_slice(&0_u16.to_le_bytes());
    let (head, tail) = envelope("application");
    let (head_len, tail_len) = (head.len(), tail.len());
    let digest = Arc::new(Mutex::new(ring::digest::Context::new(
        &ring::digest::SHA256,
    )));
    let zip_start = local.clone();
    let zip_end = [central, end].concat();
    let pieces = std::iter::once(Bytes::from(head))
        .chain(std::iter::once(Bytes::from(zip_start.clone())))
        .chain((0..SIZE / CHUNK).map(|n| {
            let mut random = fastrand::Rng::with_seed(n as u64);
            Bytes::from(
                std::iter::repeat_with(|| random.u64(..))
                    .take(CHUNK / 8)
                    .flat_map(u64::to_le_bytes)
                    .collect::<Vec<u8>>(),
            )
        }))
        .chain(std::iter::once(Bytes::from(zip_end.clone())))
        .chain(std::iter::once(Bytes::from(tail)));
    let hashing = Arc::clone(&digest);
    let total = head_len + zip_start.len() + SIZE + zip_end.len() + tail_len;
    let mut seen = 0;
    let stream = futures_util::stream::iter(pieces.map(move |piece| {
        // The zip is everything between the envelope's head and tail.
        let from = head_len.saturating_sub(seen).min(piece.len());
        let to = (total - tail_len).saturating_sub(seen).min(piece.len());
        if from < to {
            hashing.lock().unwrap().update(&piece[from..to]);
        }
        seen += piece.len();
        Ok::<_, std::io::Error>(piece)
    }));
    let before = peak_rss();
    let response = sim
        .put_bits(&guid, reqwest::Body::wrap_stream(stream))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
    let grown = peak_rss().saturating_sub(before);
    let sha256 = hex(digest.lock().unwrap().clone().finish().as_ref());
    let bits = &sim.handle.cf_apps()[0]["_bits"];
    assert_eq!(bits["files"], json!(["data.bin"]));
    assert_eq!(bits["bytes"], total - head_len - tail_len);
    assert_eq!(bits["sha256"], sha256);
    assert!(
        grown < 64 << 20,
        "the peak memory grew by {} MiB for a {} MiB upload",
        grown >> 20,
        SIZE >> 20
    );
}
