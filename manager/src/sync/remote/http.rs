//! gix's smart-HTTP transport driven by the tree's reqwest (rustls): a request is sent when
//! its response is first read, so a POST carries everything gix wrote to its body first.
//! Responses are held in memory: the manager's repositories are small text trees.

use std::io::{BufRead, Cursor, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gix::error::Result as GixResult;
use gix_transport::client::blocking_io::http::{GetResponse, Http, PostBodyDataKind, PostResponse};

/// Where a client notes the server's refusal (401/403), which gix's own error words as a
/// missing credential helper.
pub type Refusal = Arc<Mutex<Option<String>>>;

/// One HTTP client; `authorization` is the `Authorization` header value for every request.
pub struct Client {
    client: reqwest::blocking::Client,
    authorization: Option<String>,
    refusal: Refusal,
}

impl Client {
    /// A client whose requests each end within `timeout`.
    pub fn new(
        timeout: Duration,
        authorization: Option<String>,
        refusal: Refusal,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(20)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "git/2.0 (drp-manager/",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()?;
        Ok(Self {
            client,
            authorization,
            refusal,
        })
    }

    fn request(
        &mut self,
        url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        post: bool,
    ) -> Pending {
        let mut builder = if post {
            self.client.post(url)
        } else {
            self.client.get(url)
        };
        for line in headers {
            if let Some((name, value)) = line.as_ref().split_once(':') {
                builder = builder.header(name.trim(), value.trim());
            }
        }
        if let Some(auth) = &self.authorization {
            builder = builder.header(reqwest::header::AUTHORIZATION, auth.as_str());
        }
        Arc::new(Mutex::new(Exchange {
            request: Some(builder),
            body: Vec::new(),
            response: None,
            refusal: self.refusal.clone(),
        }))
    }
}

type Pending = Arc<Mutex<Exchange>>;

/// A response's headers and body, or why there is none (as the io error gix expects).
type Answer = Result<(Vec<u8>, Vec<u8>), (std::io::ErrorKind, String)>;

/// One request, from the body gix writes to the response it reads.
struct Exchange {
    request: Option<reqwest::blocking::RequestBuilder>,
    body: Vec<u8>,
    response: Option<Answer>,
    refusal: Refusal,
}

impl Exchange {
    /// Sends the request (once) and holds its headers (`name:value` lines) and body.
    fn resolve(&mut self) {
        if self.response.is_some() {
            return;
        }
        let Some(request) = self.request.take() else {
            return;
        };
        let body = std::mem::take(&mut self.body);
        let request = if body.is_empty() {
            request
        } else {
            request.body(body)
        };
        let response = send(request);
        if let Err((std::io::ErrorKind::PermissionDenied, why)) = &response {
            if let Ok(mut slot) = self.refusal.lock() {
                *slot = Some(why.clone());
            }
        }
        self.response = Some(response);
    }

    fn part(&mut self, headers: bool) -> std::io::Result<Vec<u8>> {
        self.resolve();
        match &mut self.response {
            Some(Ok((h, b))) => Ok(std::mem::take(if headers { h } else { b })),
            Some(Err((kind, message))) => Err(std::io::Error::new(*kind, message.clone())),
            None => Err(std::io::Error::other("the request was already sent")),
        }
    }
}

/// 401 is PermissionDenied (as gix's transport expects), other failures `Other`.
fn send(request: reqwest::blocking::RequestBuilder) -> Answer {
    let mut response = request
        .send()
        .map_err(|e| (std::io::ErrorKind::Other, chain(&e)))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err((
            std::io::ErrorKind::PermissionDenied,
            format!("the server refused our credentials (HTTP {status})"),
        ));
    }
    if !status.is_success() {
        return Err((std::io::ErrorKind::Other, format!("HTTP {status}")));
    }
    let mut headers = Vec::new();
    for (name, value) in response.headers() {
        headers.extend_from_slice(name.as_str().as_bytes());
        headers.push(b':');
        headers.extend_from_slice(value.as_bytes());
        headers.push(b'\n');
    }
    let mut body = Vec::new();
    response.read_to_end(&mut body).map_err(|e| {
        (
            std::io::ErrorKind::Other,
            format!("reading the response: {e}"),
        )
    })?;
    Ok((headers, body))
}

/// An error and its causes on one line (reqwest puts the useful part in its sources).
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let s = cause.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = cause.source();
    }
    text
}

/// The headers or the body of an exchange, read once it has been sent.
pub struct Part {
    exchange: Pending,
    headers: bool,
    data: Option<Cursor<Vec<u8>>>,
}

impl Part {
    fn data(&mut self) -> std::io::Result<&mut Cursor<Vec<u8>>> {
        if self.data.is_none() {
            let bytes = self
                .exchange
                .lock()
                .map_err(|_| std::io::Error::other("http exchange lock poisoned"))?
                .part(self.headers)?;
            self.data = Some(Cursor::new(bytes));
        }
        self.data
            .as_mut()
            .ok_or_else(|| std::io::Error::other("http response missing"))
    }
}

impl Read for Part {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.data()?.read(buf)
    }
}

impl BufRead for Part {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.data()?.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Some(d) = self.data.as_mut() {
            d.consume(amt);
        }
    }
}

/// What gix writes as a POST's body.
pub struct Body(Pending);

impl Write for Body {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("http exchange lock poisoned"))?
            .body
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn parts(exchange: &Pending) -> (Part, Part) {
    let part = |headers| Part {
        exchange: exchange.clone(),
        headers,
        data: None,
    };
    (part(true), part(false))
}

impl Http for Client {
    type Headers = Part;
    type ResponseBody = Part;
    type PostBody = Body;

    fn get(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> GixResult<GetResponse<Part, Part>> {
        let exchange = self.request(url, headers, false);
        let (headers, body) = parts(&exchange);
        Ok(GetResponse { headers, body })
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> GixResult<PostResponse<Part, Part, Body>> {
        let exchange = self.request(url, headers, true);
        let (headers, body) = parts(&exchange);
        Ok(PostResponse {
            post_body: Body(exchange),
            headers,
            body,
        })
    }

    /// gix's http options (proxies, extra headers, low-speed limits) are not used: the
    /// manager sets its own timeout and credentials.
    fn configure(&mut self, _config: &dyn std::any::Any) -> GixResult {
        Ok(())
    }
}
