//! The optional HTTP listener: `GET /metrics` answered with the Prometheus text format.
//!
//! A tiny HTTP/1.1 server on one thread of its own, one connection at a time, one request per
//! connection (`Connection: close`). A request is read until its blank line, at most
//! [`MAX_REQUEST`] bytes and [`REQUEST_DEADLINE`] in all, so a client that sends garbage, too
//! much or nothing at all costs the listener at most that long; it gets `400`, `431` or `408`
//! and the next connection is served. `GET` (and `HEAD`) of `/metrics` get `200`; another path
//! gets `404`, another method `405`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The most bytes of a request (its request line and headers).
pub(crate) const MAX_REQUEST: usize = 8 * 1024;
/// How long a client has to send its whole request.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long writing the response may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the idle listener looks for a connection or a stop.
const POLL: Duration = Duration::from_millis(25);
/// How long unread request bytes are drained after the response, so that closing does not
/// reset the connection before the client has read the response.
const LINGER: Duration = Duration::from_millis(500);

/// The content type of the Prometheus text format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A bound listener, not yet serving (bound early, so that a busy port fails the start before
/// anything else runs).
#[derive(Debug)]
pub(crate) struct MetricsListener {
    listener: TcpListener,
    addr: SocketAddr,
}

/// The running listener; dropping it stops it.
#[derive(Debug)]
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsListener {
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<MetricsListener> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        Ok(MetricsListener { listener, addr })
    }

    /// Serves `render`'s text on a thread of its own.
    pub(crate) fn start(
        self,
        render: impl Fn() -> String + Send + 'static,
    ) -> io::Result<MetricsServer> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("metrics-http".to_owned())
                .spawn(move || accept_loop(&self.listener, &stop, &render))?
        };
        Ok(MetricsServer {
            addr: self.addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl MetricsServer {
    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and waits for the thread (at most one request's deadline).
    pub(crate) fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, render: &dyn Fn() -> String) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(error) = serve(stream, render) {
                    tracing::debug!(%peer, %error, "metrics request failed");
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                // Out of descriptors and the like: wait for it to pass.
                tracing::warn!(%error, "metrics listener cannot accept");
                std::thread::sleep(POLL);
            }
        }
    }
}

/// What was asked, as far as the listener cares.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// `GET` or `HEAD` (`head`) of `/metrics`.
    Metrics { head: bool },
    /// Another path.
    NotFound,
    /// Another method.
    MethodNotAllowed,
    /// Not an HTTP/1 request line.
    Bad,
    /// Longer than [`MAX_REQUEST`].
    TooLarge,
    /// Not complete within [`REQUEST_DEADLINE`].
    Timeout,
}

fn serve(mut stream: TcpStream, render: &dyn Fn() -> String) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let request = read_request(&mut stream)?;
    let (status, extra, body) = match request {
        Request::Metrics { head } => {
            let body = render();
            let headers = format!("Content-Type: {CONTENT_TYPE}\r\n");
            let length = body.len();
            let body = if head { String::new() } else { body };
            return respond(&mut stream, "200 OK", &headers, &body, length);
        }
        Request::NotFound => ("404 Not Found", "", "not found: try /metrics\n"),
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "method not allowed\n",
        ),
        Request::Bad => ("400 Bad Request", "", "bad request\n"),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "",
            "request too large\n",
        ),
        Request::Timeout => ("408 Request Timeout", "", "request timeout\n"),
    };
    let headers = format!("Content-Type: text/plain; charset=utf-8\r\n{extra}");
    respond(&mut stream, status, &headers, body, body.len())
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &str,
    body: &str,
    length: usize,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    // Closing a socket with unread input resets the connection, which can destroy the
    // response before the client reads it: end the output, then drain what the client still
    // sends (a request larger than the limit), for a bounded time.
    stream.shutdown(std::net::Shutdown::Write)?;
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Reads the request head within the limits and says what it asks.
fn read_request(stream: &mut TcpStream) -> io::Result<Request> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buffer = [0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        if let Some(end) = head_end(&buffer[..len]) {
            return Ok(parse(&buffer[..end]));
        }
        if len == buffer.len() {
            return Ok(Request::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Request::Timeout);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buffer[len..]) {
            // The client stopped sending before a whole head: judge what came.
            Ok(0) => {
                return Ok(if len == 0 {
                    Request::Bad
                } else {
                    parse(&buffer[..len])
                });
            }
            Ok(n) => len += n,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Request::Timeout);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Where the head ends (its blank line), if it has.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Judges a request by its first line: `METHOD TARGET HTTP/1.x`.
fn parse(head: &[u8]) -> Request {
    let Ok(text) = std::str::from_utf8(head) else {
        return Request::Bad;
    };
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !token(method) || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Request::Bad;
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    match (method, path) {
        ("GET", "/metrics") => Request::Metrics { head: false },
        ("HEAD", "/metrics") => Request::Metrics { head: true },
        ("GET" | "HEAD", _) => Request::NotFound,
        _ => Request::MethodNotAllowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_judged() {
        let cases: [(&[u8], Request); 10] = [
            (
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                Request::Metrics { head: false },
            ),
            (b"HEAD /metrics HTTP/1.0", Request::Metrics { head: true }),
            (
                b"GET /metrics?x=1 HTTP/1.1",
                Request::Metrics { head: false },
            ),
            (b"GET / HTTP/1.1", Request::NotFound),
            (b"GET /metricsx HTTP/1.1", Request::NotFound),
            (b"POST /metrics HTTP/1.1", Request::MethodNotAllowed),
            (b"DELETE /other HTTP/1.1", Request::MethodNotAllowed),
            (b"GET /metrics HTTP/2.0", Request::Bad),
            (b"GET /metrics", Request::Bad),
            (b"\xff\xfe garbage", Request::Bad),
        ];
        for (head, expected) in cases {
            assert_eq!(parse(head), expected, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn the_head_ends_at_its_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
