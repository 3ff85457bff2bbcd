//! Just enough HTTP/1.1 (RFC 9112) for the Docker plugin protocol: every call is
//! `POST /<Subsystem>.<Method>` with a small JSON body, answered with JSON. Requests are read
//! with hard limits (header block, body size, header count); bodies come with `Content-Length`
//! (what dockerd's Go client sends) or `Transfer-Encoding: chunked` (RFC 9112 §7.1).
//! Connections are kept alive unless the client says `Connection: close` or speaks HTTP/1.0.
use std::io::{BufRead, Read, Write};

/// Largest request line + header block.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest body (volume options are small; a long magnet is a few KiB).
pub const MAX_BODY: usize = 1 << 20;
/// Most header fields.
pub const MAX_HEADERS: usize = 64;

/// A request we could not read. `status` is what to answer before closing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct HttpError {
    pub status: u16,
    pub why: String,
}

fn err(status: u16, why: impl Into<String>) -> HttpError {
    HttpError {
        status,
        why: why.into(),
    }
}

/// One request. `Debug` shows the body's length only (Create bodies carry passwords).
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// The client wants the connection closed after the answer.
    pub close: bool,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("close", &self.close)
            .finish()
    }
}

/// Read one line (up to `\n`) of at most `*budget` bytes, decrementing the budget.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> Result<Option<Vec<u8>>, HttpError> {
    let mut line = Vec::new();
    let n = r
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| err(400, format!("read: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(err(431, "request header too large"));
    }
    *budget -= n;
    if line.last() != Some(&b'\n') {
        return Err(err(400, "connection closed inside the request header"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

fn read_chunked<R: BufRead>(r: &mut R) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD;
    loop {
        let line = read_line(r, &mut budget)?.ok_or_else(|| err(400, "truncated chunk"))?;
        let size_text = String::from_utf8_lossy(&line);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| err(400, "bad chunk size"))?;
        if size == 0 {
            // Trailer fields until the empty line.
            loop {
                let l = read_line(r, &mut budget)?.ok_or_else(|| err(400, "truncated trailer"))?;
                if l.is_empty() {
                    return Ok(body);
                }
            }
        }
        // `size` is the peer's (up to usize::MAX): compare without adding to it.
        if size > MAX_BODY - body.len() {
            return Err(err(413, "request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])
            .map_err(|_| err(400, "truncated chunk"))?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)
            .map_err(|_| err(400, "truncated chunk"))?;
        if crlf != *b"\r\n" {
            return Err(err(400, "chunk not followed by CRLF"));
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Read the next request; `Ok(None)` on a clean end of stream between requests.
pub fn read_request<R: BufRead>(r: &mut R) -> Result<Option<Request>, HttpError> {
    let mut budget = MAX_HEAD;
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let line = loop {
        match read_line(r, &mut budget)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let line = String::from_utf8(line).map_err(|_| err(400, "request line is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err(400, "malformed request line"));
    };
    // RFC 9112 §3: method = token (RFC 9110 §5.6.2), and a request-target is never empty.
    if method.is_empty() || !method.bytes().all(is_tchar) || path.is_empty() {
        return Err(err(400, "malformed request line"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(err(505, "only HTTP/1.0 and HTTP/1.1")),
    };
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = http10;
    let mut count = 0;
    loop {
        let l = read_line(r, &mut budget)?
            .ok_or_else(|| err(400, "connection closed inside the request header"))?;
        if l.is_empty() {
            break;
        }
        count += 1;
        if count > MAX_HEADERS {
            return Err(err(431, "too many header fields"));
        }
        let l = String::from_utf8_lossy(&l);
        let Some((name, value)) = l.split_once(':') else {
            return Err(err(400, "malformed header field"));
        };
        if name.ends_with([' ', '\t']) {
            return Err(err(400, "whitespace before ':' in a header field"));
        }
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                let n: usize = value.parse().map_err(|_| err(400, "bad Content-Length"))?;
                if length.is_some_and(|m| m != n) {
                    return Err(err(400, "conflicting Content-Length"));
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                if value.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else {
                    return Err(err(501, "unsupported Transfer-Encoding"));
                }
            }
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.split(',').any(|t| t.trim() == "close") {
                    close = true;
                } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                    close = false;
                }
            }
            _ => {}
        }
    }
    if chunked && length.is_some() {
        // RFC 9112 §6.1: a request with both is a smuggling attempt; refuse it.
        return Err(err(400, "both Content-Length and Transfer-Encoding"));
    }
    let body = if chunked {
        read_chunked(r)?
    } else {
        let n = length.unwrap_or(0);
        if n > MAX_BODY {
            return Err(err(413, "request body too large"));
        }
        let mut b = vec![0u8; n];
        r.read_exact(&mut b)
            .map_err(|_| err(400, "connection closed inside the body"))?;
        b
    };
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        body,
        close,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Write a JSON answer (the plugin API's media type, as go-plugins-helpers sends it).
pub fn write_response<W: Write>(
    w: &mut W,
    status: u16,
    body: &[u8],
    close: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/vnd.docker.plugins.v1.1+json\r\nContent-Length: {}\r\n{}\r\n",
        reason(status),
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    );
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(s: &[u8]) -> Result<Option<Request>, HttpError> {
        read_request(&mut Cursor::new(s.to_vec()))
    }

    #[test]
    fn what_dockerd_sends() {
        let raw = b"POST /VolumeDriver.Mount HTTP/1.1\r\nHost: plugin\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 29\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nAccept-Encoding: gzip\r\n\r\n{\"Name\":\"v1\",\"ID\":\"abcdef01\"}";
        let r = parse(raw).unwrap().unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/VolumeDriver.Mount");
        assert_eq!(r.body, b"{\"Name\":\"v1\",\"ID\":\"abcdef01\"}");
        assert!(!r.close);
        // An empty body (Plugin.Activate) and two requests on one connection.
        let mut c = Cursor::new(
            b"POST /Plugin.Activate HTTP/1.1\r\n\r\nPOST /X HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"
                .to_vec(),
        );
        let a = read_request(&mut c).unwrap().unwrap();
        assert!(a.body.is_empty());
        let b = read_request(&mut c).unwrap().unwrap();
        assert_eq!((b.body.as_slice(), b.close), (&b"{}"[..], true));
        assert_eq!(read_request(&mut c).unwrap(), None);
    }

    #[test]
    fn chunked_bodies() {
        let r = parse(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n{\"a\r\n2\r\n\"}\r\n0\r\nT: v\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, b"{\"a\"}");
        assert_eq!(
            parse(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .unwrap_err()
                .status,
            400
        );
        let huge = format!(
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            MAX_BODY + 1
        );
        assert_eq!(parse(huge.as_bytes()).unwrap_err().status, 413);
    }

    #[test]
    fn limits_and_malformed_requests() {
        let s = |raw: &[u8]| parse(raw).unwrap_err().status;
        assert_eq!(
            s(format!("POST /a HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD)).as_bytes()),
            431
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("H{i}: v\r\n")).collect();
        assert_eq!(s(format!("POST /a HTTP/1.1\r\n{many}\r\n").as_bytes()), 431);
        assert_eq!(
            s(format!(
                "POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                MAX_BODY + 1
            )
            .as_bytes()),
            413
        );
        assert_eq!(s(b"POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(
            s(b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(s(b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}"), 400);
        assert_eq!(
            s(b"POST /a HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            s(b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(s(b"POST /a HTTP/2\r\n\r\n"), 505);
        assert_eq!(s(b"POST /a\r\n\r\n"), 400);
        assert_eq!(s(b"POST /a HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
        assert_eq!(s(b"POST /a HTTP/1.1\r\nX : y\r\n\r\n"), 400);
        assert_eq!(s(b"POST /a HTTP/1.1\r\nHost: x"), 400);
        assert_eq!(parse(b"").unwrap(), None);
    }

    /// Found by the `docker_request` fuzz target (`fuzz/corpus/docker_request/`): a chunk size
    /// near usize::MAX overflowed the body-size check (a panic, in release a wrapped length and
    /// an out-of-range slice); an empty method or request-target was accepted.
    #[test]
    fn fuzz_chunk_size_overflow_and_empty_request_line_parts() {
        let r = parse(
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\nffffffffffffffff\r\n",
        );
        assert_eq!(r.unwrap_err().status, 413);
        for line in [
            &b"  HTTP/1.1\n\n"[..],
            b" / HTTP/1.1\n\n",
            b"POST  HTTP/1.1\n\n",
            b"P\x01 / HTTP/1.1\n\n",
        ] {
            let e = parse(line).unwrap_err();
            assert_eq!((e.status, e.why.as_str()), (400, "malformed request line"));
        }
        assert_eq!(parse(b"P / HTTP/1.1\n\n").unwrap().unwrap().method, "P");
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        write_response(&mut out, 200, b"{\"Err\":\"\"}", true).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 10\r\n"));
        assert!(s.contains("Connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\n{\"Err\":\"\"}"));
    }
}
