//! A request as the simulator's modules see it (read whole, or a package upload's zip on disk;
//! path, query and multipart parts decoded) and the answer they give.

use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::Bytes;
use serde_json::Value;

/// A request as the platform modules see it: fully read, with the query parsed.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Percent-decoded path segments, without empty ones.
    pub(crate) segments: Vec<String>,
    pub(crate) raw_query: String,
    /// Percent-decoded `(key, value)` pairs in order, repeats kept.
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: Bytes,
    /// The parts of a `multipart/form-data` body, in order; empty for any other body.
    pub(crate) parts: Vec<Part>,
}

/// One named part of a `multipart/form-data` body.
pub(crate) struct Part {
    pub(crate) name: String,
    /// What it holds, when it is held in memory; empty when it went to disk.
    pub(crate) body: Bytes,
    /// What it holds, when it went to disk: a package upload's zip.
    pub(crate) stored: Option<std::sync::Arc<crate::spool::StoredFile>>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The last value of a query parameter.
    pub(crate) fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

impl Request {
    pub(crate) fn from_parts(parts: &hyper::http::request::Parts, body: Bytes) -> Self {
        let path = parts.uri.path().to_owned();
        let raw_query = parts.uri.query().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_ascii_lowercase())
                .and_modify(|joined: &mut String| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert(value);
        }
        Self {
            method: parts.method.as_str().to_ascii_uppercase(),
            segments: path
                .split('/')
                .filter(|segment| !segment.is_empty())
                .map(|segment| {
                    percent_encoding::percent_decode_str(segment)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .collect(),
            query: parse_query(&raw_query),
            path,
            raw_query,
            headers,
            body,
            parts: Vec::new(),
        }
    }
}

/// The named parts of a `multipart/form-data` body; none when the body is not one or is
/// malformed, as if nothing had been sent.
pub(crate) async fn multipart_parts(content_type: Option<&str>, body: &Bytes) -> Vec<Part> {
    let Some(boundary) = content_type.and_then(|value| multer::parse_boundary(value).ok()) else {
        return Vec::new();
    };
    // The body is already read whole: one chunk, so no part ever waits.
    let chunks = futures_util::stream::iter([Ok::<_, Infallible>(body.clone())]);
    let mut multipart = multer::Multipart::new(chunks, boundary);
    let mut parts = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().map(str::to_owned);
                let Ok(body) = field.bytes().await else {
                    return Vec::new();
                };
                if let Some(name) = name {
                    parts.push(Part {
                        name,
                        body,
                        stored: None,
                    });
                }
            }
            Ok(None) => return parts,
            Err(_) => return Vec::new(),
        }
    }
}

/// Percent-decoded `(key, value)` pairs of a query string or form body (`+` is a space),
/// repeats kept; malformed escapes stay as they are.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// An answer from a platform module or the control API.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Bytes>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(Bytes::from(body.to_string())),
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn raw(status: u16, body: String) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(Bytes::from(body)),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[tokio::test]
    async fn multipart_parts_are_found_by_name() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"resources\"\r\n\r\n[]\r\n--XyZ\r\nContent-Disposition: form-data; name=\"application\"; filename=\"a.zip\"\r\nContent-Type: application/zip\r\n\r\nPK\x03\x04\r\n--XyZ--\r\n",
        );
        let parts = multipart_parts(Some("multipart/form-data; boundary=\"XyZ\""), &body).await;
        let names: Vec<&str> = parts.iter().map(|part| part.name.as_str()).collect();
        assert_eq!(names, ["resources", "application"]);
        assert_eq!(parts[0].body.as_ref(), b"[]");
        assert_eq!(parts[1].body.as_ref(), b"PK\x03\x04");
        assert!(
            multipart_parts(Some("application/json"), &body)
                .await
                .is_empty()
        );
        assert!(multipart_parts(None, &body).await.is_empty());
        let cut = body.slice(..body.len() / 2);
        let cut = multipart_parts(Some("multipart/form-data; boundary=XyZ"), &cut).await;
        assert!(cut.is_empty(), "a body cut short counts as none");
    }
}
