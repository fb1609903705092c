//! Headless Chromium over WebDriver: starts Debian's `chromedriver` on a free loopback port
//! (in its own process group, killed with it), opens one session with no-network flags, and
//! offers the few helpers the scenarios need: wait for a JavaScript condition, click, type,
//! screenshot.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a condition may take to become true.
pub const WAIT: Duration = Duration::from_secs(10);

pub const ENTER: &str = "\u{e007}";
pub const TAB: &str = "\u{e004}";

const CHROME_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-crash-reporter",
    "--disable-breakpad",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--hide-scrollbars",
    "--window-size=1280,800",
];

pub struct Browser {
    pub client: Client,
    _driver: Driver,
    shots: PathBuf,
}

/// The chromedriver process; dropping it kills its process group (Chromium included), also
/// when the session could not be created.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// JavaScript truthiness, for the values a script returns.
fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false)) && v != &json!("") && v != &json!(0)
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| PathBuf::from(d).join(name)).find(|p| p.is_file())
}

/// Where screenshots go: `target/browser-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("browser-screenshots")
}

impl Browser {
    pub async fn start() -> Browser {
        Self::start_with(&[]).await
    }

    /// A session with Chromium flags added to the usual ones.
    pub async fn start_with(extra_flags: &[String]) -> Browser {
        let chromedriver = which("chromedriver").expect(
            "chromedriver is not installed: apt-get install -y chromium chromium-driver (.ci/run does this)",
        );
        let port = free_port();
        let mut cmd = Command::new(chromedriver);
        cmd.arg(format!("--port={port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = Driver(cmd.spawn().expect("chromedriver starts"));
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{url}/status")).await
                && r.status().is_success()
            {
                break;
            }
            assert!(started.elapsed() < WAIT, "chromedriver did not answer on {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args: Vec<String> = CHROME_FLAGS.iter().map(|f| f.to_string()).chain(extra_flags.iter().cloned()).collect();
        let mut options = json!({"args": args});
        if let Some(bin) = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].iter().find(|p| std::path::Path::new(p).exists()) {
            options["binary"] = json!(bin);
        }
        let caps = json!({"browserName": "chrome", "goog:chromeOptions": options});
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&url)
            .await
            .expect("a Chromium session");
        client.set_window_size(1280, 900).await.expect("window size");
        let shots = screenshot_dir();
        std::fs::create_dir_all(&shots).unwrap();
        Browser { client, _driver: driver, shots }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs a script (its `return` value; promises are awaited).
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls the expression until it is truthy; returns its value. A page being replaced
    /// (a sign-out reloads it) fails the script for a moment: that counts as not yet.
    pub async fn wait_js(&self, what: &str, expr: &str) -> Value {
        let script = format!("try {{ return ({expr}); }} catch (e) {{ return null; }}");
        let started = Instant::now();
        loop {
            let last = match self.client.execute(&script, vec![]).await {
                Ok(v) if truthy(&v) => return v,
                Ok(v) => format!("last value {v}"),
                Err(e) => format!("script failed: {e}"),
            };
            if started.elapsed() > WAIT {
                let _ = self.screenshot(&format!("failed-{}", what.replace(|c: char| !c.is_alphanumeric(), "-"))).await;
                panic!("timed out waiting for {what}: {expr} ({last})");
            }
            tokio::time::sleep(Duration::from_millis(80)).await;
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    /// Acts on the element; finds it again when a re-render replaced it in between (the
    /// dashboard redraws lists and menus as frames arrive).
    async fn act(&self, what: &str, css: &str, action: impl AsyncFn(&Element) -> Result<(), CmdError>) {
        let started = Instant::now();
        loop {
            match action(&self.find(css).await).await {
                Ok(()) => return,
                Err(e) if e.is_stale_element_reference() && started.elapsed() < WAIT => {}
                Err(e) => panic!("{what} {css}: {e}"),
            }
        }
    }

    pub async fn click(&self, css: &str) {
        self.act("click", css, async |el| el.click().await).await;
    }

    /// Picks the option with this value in a `<select>`.
    pub async fn select(&self, css: &str, value: &str) {
        self.act("select in", css, async |el| el.select_by_value(value).await).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Clicks a tab and waits for its panel.
    pub async fn tab(&self, name: &str) {
        self.click(&format!("[data-tab=\"{name}\"]")).await;
        self.wait_js(&format!("the {name} tab"), &format!("!document.getElementById('tab-{name}').hidden")).await;
    }

    /// Saves `target/browser-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
