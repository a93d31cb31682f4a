//! A real browser for the tests: the distribution's headless Chromium driven through its
//! WebDriver (`chromedriver`, W3C protocol, JSON over HTTP on loopback). Nothing downloads a
//! browser: `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`) are used, or `ERPGATE_CHROMIUM` / `ERPGATE_CHROMEDRIVER`.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

fn binary(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// An element found on the page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium (1280×900, a fresh profile).
    pub fn start() -> Browser {
        let chromium = binary("ERPGATE_CHROMIUM", "/usr/bin/chromium");
        let driver_bin = binary("ERPGATE_CHROMEDRIVER", "/usr/bin/chromedriver");
        assert!(
            std::path::Path::new(&chromium).exists() && std::path::Path::new(&driver_bin).exists(),
            "the browser tests need {chromium} and {driver_bin} (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
        let port = super::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--no-first-run", "--disable-extensions",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let v = b.call("POST", "/session", Some(&caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    /// One WebDriver command; the `value` of its answer (panics on a WebDriver error).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let v = self.try_call(method, path, body);
        if let Some(err) = v.get("error") {
            panic!("webdriver {method} {path}: {err}: {}", v["message"]);
        }
        v
    }

    fn try_call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let text = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n",
            self.addr
        );
        if method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", text.len()));
        }
        req.push_str("\r\n");
        req.push_str(&text);
        let mut stream = TcpStream::connect(self.addr).expect("chromedriver");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        stream.write_all(req.as_bytes()).expect("send");
        let r = super::http::read_response(&mut BufReader::new(stream)).expect("answer");
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        // A new session answers {"value": {"sessionId", "capabilities"}}.
        value
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(&json!({ "url": url })),
        );
    }

    /// The address bar.
    pub fn url(&self) -> String {
        self.call("GET", &self.session_path("/url"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's source as the browser holds it now.
    pub fn source(&self) -> String {
        self.call("GET", &self.session_path("/source"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The first element matching CSS `selector`, if any.
    pub fn find(&self, selector: &str) -> Option<Element> {
        let v = self.try_call(
            "POST",
            &self.session_path("/element"),
            Some(&json!({"using": "css selector", "value": selector})),
        );
        v.get(ELEMENT)
            .and_then(Value::as_str)
            .map(|s| Element(s.to_string()))
    }

    /// The element matching `selector`, waiting up to 10 s for it (a page still loading
    /// after a form's submission); panics with the page when there is none.
    pub fn el(&self, selector: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.find(selector) {
                return e;
            }
            if Instant::now() >= deadline {
                panic!("no {selector} on {}:\n{}", self.url(), self.source());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `text` into the element.
    pub fn type_into(&self, selector: &str, text: &str) {
        let e = self.el(selector);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{}/value", e.0)),
            Some(&json!({ "text": text })),
        );
    }

    /// Clicks the element (a submit button: waits for the next page).
    pub fn click(&self, selector: &str) {
        let e = self.el(selector);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{}/click", e.0)),
            Some(&json!({})),
        );
    }

    /// The element's visible text.
    pub fn text(&self, selector: &str) -> String {
        // The element can be replaced between finding and reading it (a page still loading
        // after a click): a stale reference is found again, within the same 10 s as `el`.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.el(selector);
            let path = self.session_path(&format!("/element/{}/text", e.0));
            let v = self.try_call("GET", &path, None);
            let stale = v.get("error").and_then(Value::as_str) == Some("stale element reference");
            if stale && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            if let Some(err) = v.get("error") {
                panic!("webdriver GET {path}: {err}: {}", v["message"]);
            }
            return v.as_str().unwrap_or("").to_string();
        }
    }

    /// Runs `script` in the page and returns what it returns.
    pub fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// Waits up to 10 s for the address bar to read `url` (a form's navigation may still be
    /// under way when its click returns).
    pub fn wait_url(&self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.url();
            if now == url {
                return;
            }
            assert!(Instant::now() < deadline, "at {now}, not {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to 10 s for the text of `selector` to be `text`.
    pub fn wait_text(&self, selector: &str, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self
                .find(selector)
                .map(|_| self.text(selector))
                .unwrap_or_default();
            if now == text {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{selector} reads {now:?}, not {text:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The browser's cookies for the current page (name, value, flags as the browser sees
    /// them).
    pub fn cookies(&self) -> Vec<Value> {
        self.call("GET", &self.session_path("/cookie"), None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Deletes every cookie the browser holds for the current page's site.
    pub fn delete_cookies(&self) {
        self.call("DELETE", &self.session_path("/cookie"), None);
    }

    /// A PNG of the window, saved to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine as _;
        let v = self.call("GET", &self.session_path("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("screenshot"))
            .expect("png");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &self.session_path(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
