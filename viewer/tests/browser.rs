//! The viewer in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver on loopback. A person's path:
//! sign in → search → an entity's history → a diff → an event → explain.
//! Screenshots of each page go to `$CARGO_TARGET_TMPDIR/viewer-browser/`.
//!
//! Without `chromedriver` on the PATH the test says so and passes, unless
//! `TRAILMARK_BROWSER_TESTS=require` (set by `cargo xtask test`, which
//! installs the packages when it runs as root).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::{Viewer, assert_has};

/// A chromedriver process on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl Driver {
    fn start(log: &Path) -> Option<Driver> {
        let binary = find_on_path("chromedriver")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        // A zone off UTC by a fraction of an hour, so local times differ
        // visibly from UTC (Chromium takes the zone from TZ).
        let child = Command::new(binary)
            .env("TZ", "Asia/Kolkata")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("driver log"))
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        while Instant::now() < deadline {
            if agent.get(format!("{}/status", driver.url)).call().is_ok() {
                return Some(driver);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("chromedriver did not answer on {} within 20s", driver.url);
    }
}

/// A headless Chromium session through `driver`, with or without
/// JavaScript, in a fresh profile (kept until the second value is dropped).
async fn chromium(driver: &Driver, javascript: bool) -> (Client, tempfile::TempDir) {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut options = json!({"args": [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1280,900", "--no-first-run", "--disable-extensions",
        format!("--user-data-dir={}", profile.path().display()),
    ]});
    if !javascript {
        options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    // The console, for `console_errors`.
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session");
    (client, profile)
}

/// The console's errors since the last call (chromedriver's log endpoint):
/// script errors, CSP violations, failed loads.
async fn console_errors(client: &Client, driver: &Driver) -> Vec<String> {
    let session = client
        .session_id()
        .await
        .expect("session id")
        .expect("a session");
    let url = format!("{}/session/{session}/se/log", driver.url);
    let answer: Value = tokio::task::spawn_blocking(move || {
        ureq::post(&url)
            .send_json(json!({"type": "browser"}))
            .expect("the browser log")
            .body_mut()
            .read_json()
            .expect("JSON")
    })
    .await
    .expect("log task");
    answer["value"]
        .as_array()
        .expect("log entries")
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        // Signed out, `/` is the sign-in page with status 401, by design
        // (an API client gets the same answer); the browser logs the status.
        .filter(|e| {
            !e["message"]
                .as_str()
                .is_some_and(|m| m.contains("/ - Failed to load resource") && m.contains("401"))
        })
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Save a screenshot of the current page as `dir/name.png`.
async fn snap(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// What every page must hold to: no script, nothing loaded from elsewhere,
/// and the stylesheet applied (the CSP let it through).
async fn check_page(client: &Client, origin: &str) {
    let facts = client
        .execute(
            "return {scripts: Array.from(document.scripts).map(s => s.src || 'inline'), \
                     resources: performance.getEntriesByType('resource').map(e => e.name), \
                     styled: getComputedStyle(document.querySelector('.top')).display}",
            vec![],
        )
        .await
        .expect("page facts");
    assert_eq!(
        facts["scripts"],
        json!([format!("{origin}/ui/static/localtime.js")]),
        "a page carries a script other than the viewer's own file"
    );
    for resource in facts["resources"].as_array().into_iter().flatten() {
        let url = resource.as_str().unwrap_or_default();
        assert!(url.starts_with(origin), "off-origin request: {url}");
    }
    assert_eq!(
        facts["styled"],
        json!("flex"),
        "the stylesheet did not apply"
    );
}

/// Open `path` on the viewer at `origin`.
async fn open(client: &Client, origin: &str, path: &str) {
    client
        .goto(&format!("{origin}{path}"))
        .await
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
}

/// Sign in on the open sign-in form with `token`; the search page's URL.
async fn sign_in(client: &Client, token: &str) -> url::Url {
    client
        .find(Locator::Css("#token"))
        .await
        .expect("token field")
        .send_keys(token)
        .await
        .expect("type token");
    click(client, "form.signin button[type=submit]").await;
    wait_for_url(client, "the search page", |u| u.path() == "/").await
}

/// Click `css` once the page has it.
async fn click(client: &Client, css: &str) {
    wait_for(client, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Wait (at most 10 s) until the page's URL satisfies `ready`.
async fn wait_for_url(client: &Client, what: &str, ready: impl Fn(&url::Url) -> bool) -> url::Url {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = client.current_url().await.expect("url");
        if ready(&url) {
            return url;
        }
        assert!(Instant::now() < deadline, "waited 10s for {what}; at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The element `css` once the page has it (a URL can change before the new
/// document is in place).
async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.find(Locator::Css(css)).await {
            Ok(element) => return element,
            Err(e) => assert!(Instant::now() < deadline, "waited 10s for {css}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text(client: &Client) -> String {
    client
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_searches_diffs_and_reads_why_a_rule_fired() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("viewer-browser");
    std::fs::create_dir_all(&out).expect("screenshot dir");
    let Some(driver) = Driver::start(&out.join("chromedriver.log")) else {
        assert_ne!(
            std::env::var("TRAILMARK_BROWSER_TESTS").as_deref(),
            Ok("require"),
            "chromedriver is not on the PATH: apt-get install chromium chromium-driver"
        );
        eprintln!(
            "skipped: no chromedriver on the PATH (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let viewer = tokio::task::spawn_blocking(Viewer::start)
        .await
        .expect("viewer");
    let (client, _profile) = chromium(&driver, true).await;
    let origin = viewer.url.clone();
    let result = async {
        // Signed out: the sign-in form.
        open(&client, &origin, "/").await;
        check_page(&client, &origin).await;
        snap(&client, &out, "1-sign-in").await;
        let url = sign_in(&client, &viewer.tokens["viewer"]).await;
        // Signed in: the query bar.
        wait_for(&client, "#q").await;
        assert!(
            !url.as_str().contains(&viewer.tokens["viewer"]),
            "token in a URL"
        );

        // Search for the book.
        let q = client.find(Locator::Css("#q")).await.expect("query bar");
        q.send_keys("entity:book/42").await.expect("type query");
        click(&client, "form.query button[type=submit]").await;
        wait_for_url(&client, "the query in the URL", |u| {
            u.query()
                .unwrap_or_default()
                .contains("q=entity%3Abook%2F42")
        })
        .await;
        let rows = client
            .find_all(Locator::Css("table.results tbody tr"))
            .await
            .expect("rows");
        assert_eq!(rows.len(), 3);
        check_page(&client, &origin).await;
        let bars = client
            .find_all(Locator::Css("section.summary svg rect.bar"))
            .await
            .expect("bars");
        assert!(!bars.is_empty(), "a histogram of the result");
        snap(&client, &out, "2-search").await;

        // Times in UTC by default, the full instant on hover; the toggle
        // shows them in the browser's zone (+05:30 here) and is remembered.
        let first_time = || async {
            let t = client
                .find(Locator::Css("table.results tbody time"))
                .await
                .expect("a time");
            (
                t.text().await.expect("text"),
                t.attr("title").await.expect("title"),
            )
        };
        assert_eq!(
            first_time().await,
            (
                "2026-01-01 00:00:02".to_owned(),
                Some("2026-01-01T00:00:02Z".to_owned())
            )
        );
        click(&client, "#time-toggle").await;
        assert_eq!(first_time().await.0, "2026-01-01 05:30:02");
        let zone = client
            .find(Locator::Css("table.results th .tz"))
            .await
            .expect("zone label")
            .text()
            .await
            .expect("text");
        assert_eq!(zone, "UTC+05:30");
        snap(&client, &out, "2b-search-local-time").await;
        client.refresh().await.expect("reload");
        assert_eq!(
            first_time().await,
            (
                "2026-01-01 05:30:02".to_owned(),
                Some("2026-01-01T00:00:02Z".to_owned())
            ),
            "the choice is remembered; the title keeps UTC"
        );
        click(&client, "#time-toggle").await;
        assert_eq!(first_time().await.0, "2026-01-01 00:00:02");

        // Follow live: a change journaled while the page is open appears at
        // the top of the table, put there by the page's script from the
        // server-sent events (no reload).
        open(&client, &origin, "/?q=type%3Abook&live=1").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while client
            .find(Locator::Css("table[data-live-open]"))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the live stream did not open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // With local time on, the live row's time is local too.
        click(&client, "#time-toggle").await;
        let journaled = Instant::now();
        viewer.journal.append(support::record(
            "ev-live",
            ("book", "42"),
            "update",
            1_767_225_609_000,
            "<i>dora</i>",
            None,
        ));
        let first_row = loop {
            let first = client
                .find(Locator::Css("table.results tbody tr"))
                .await
                .expect("a row")
                .text()
                .await
                .expect("text");
            if first.contains("ev-live") || Instant::now() > deadline {
                break first;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_has(&first_row, "ev-live");
        assert!(
            first_row.contains("<i>dora</i>"),
            "shown as text: {first_row}"
        );
        // 00:00:09 UTC is 05:30:09 in Asia/Kolkata.
        assert!(
            first_row.contains("2026-01-01 05:30:09"),
            "local time: {first_row}"
        );
        let caption = client
            .find(Locator::Css("table.results caption"))
            .await
            .expect("caption")
            .text()
            .await
            .expect("text");
        assert!(caption.starts_with("6 change(s)"), "{caption}");
        click(&client, "#time-toggle").await;
        eprintln!(
            "browser test: a journaled change appeared in the live page after {} ms",
            journaled.elapsed().as_millis()
        );
        snap(&client, &out, "2c-search-live").await;

        // A facet narrows the query: the two updates of the three.
        click(
            &client,
            "section.summary a[title='Add op:update to the query']",
        )
        .await;
        wait_for_url(&client, "the facet's query", |u| {
            u.query().unwrap_or_default().contains("op%3Aupdate")
        })
        .await;
        let rows = client
            .find_all(Locator::Css("table.results tbody tr"))
            .await
            .expect("rows");
        assert_eq!(rows.len(), 2);
        client.back().await.expect("back to the search");

        // Its history, then the diff of the first and last versions.
        click(&client, "table.results tbody tr a[href^='/ui/entities/']").await;
        wait_for_url(&client, "the history", |u| {
            u.path().starts_with("/ui/entities/")
        })
        .await;
        assert!(
            text(&client)
                .await
                .contains("Changes from version 2 to version 3")
        );
        click(&client, "input[aria-label='Compare from version 1']").await;
        click(&client, "form.compare button[type=submit]").await;
        wait_for_url(&client, "the picked pair", |u| {
            u.query().unwrap_or_default().contains("from=ev-1")
        })
        .await;
        let page = text(&client).await;
        assert_has(&page, "Changes from version 1 to version 3");
        for path in ["/price", "/author/name", "/isbn", "/pages"] {
            assert!(page.contains(path), "{path} missing from the diff");
        }
        check_page(&client, &origin).await;
        snap(&client, &out, "3-history-diff").await;

        // The delete, and why delete-alert fired.
        open(&client, &origin, "/?q=op%3Adelete").await;
        click(&client, "table.results tbody tr a[href^='/ui/events/']").await;
        wait_for_url(&client, "the event", |u| {
            u.path().starts_with("/ui/events/")
        })
        .await;
        let page = text(&client).await;
        assert_has(&page, "Journal sequence");
        let row = client
            .find(Locator::XPath(
                "//table[@class='explain']//tr[th[starts-with(., 'delete-alert')]]",
            ))
            .await
            .expect("delete-alert row")
            .text()
            .await
            .expect("row text");
        assert_has(&row, "matches; delivered at ingest");
        check_page(&client, &origin).await;
        snap(&client, &out, "4-event-explain").await;

        // The checkpoints page, with the commands to verify offline.
        open(&client, &origin, "/ui/checkpoints").await;
        let page = text(&client).await;
        assert_has(&page, "trailmark verify --data");
        check_page(&client, &origin).await;
        snap(&client, &out, "4b-checkpoints").await;

        // A phone-sized window: the page never scrolls sideways; wide
        // tables scroll inside their own box.
        client
            .set_window_size(390, 844)
            .await
            .expect("narrow window");
        for (page, table, name) in [
            ("/", "table.results", "5-narrow-search"),
            ("/ui/events/ev-del", "table.explain", "6-narrow-event"),
        ] {
            open(&client, &origin, page).await;
            check_page(&client, &origin).await;
            let facts = client
                .execute(
                    "const box = document.querySelector(arguments[0]).parentElement; \
                     box.scrollIntoView(); \
                     return {page: document.documentElement.scrollWidth, \
                             window: window.innerWidth, \
                             overflow: getComputedStyle(box).overflowX, \
                             inner: box.scrollWidth, outer: box.clientWidth};",
                    vec![json!(table)],
                )
                .await
                .expect("layout facts");
            assert!(
                facts["page"].as_i64() <= facts["window"].as_i64(),
                "{page} scrolls sideways: {facts}"
            );
            assert_eq!(facts["overflow"], json!("auto"), "{page}: {facts}");
            assert!(
                facts["inner"].as_i64() > facts["outer"].as_i64(),
                "{page}: the table fits, nothing to scroll: {facts}"
            );
            snap(&client, &out, name).await;
        }

        // Export from the browser: the search page's NDJSON link, fetched
        // with the page's session, holds each match with its body.
        open(&client, &origin, "/?q=entity%3Abook%2F42").await;
        let href = client
            .find(Locator::Css("a[download]"))
            .await
            .expect("an export link")
            .attr("href")
            .await
            .expect("href")
            .expect("an href");
        let ndjson = client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 fetch(arguments[0]).then(r => r.text()).then(done, e => done('failed: ' + e));",
                vec![json!(href)],
            )
            .await
            .expect("the export");
        let lines: Vec<Value> = ndjson
            .as_str()
            .expect("text")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        assert_eq!(lines.len(), 3, "{ndjson}");
        assert!(lines.iter().all(|l| l["body"].is_object()), "{ndjson}");
        let errors = console_errors(&client, &driver).await;
        assert!(errors.is_empty(), "console errors: {errors:?}");
        Ok::<(), Value>(())
    }
    .await;
    client.close().await.expect("close the browser");
    result.expect("browser walk");

    // The same person with JavaScript off: sign in, search, history and
    // diff all work from plain links and forms.
    let (client, _profile) = chromium(&driver, false).await;
    let result = async {
        open(&client, &origin, "/").await;
        sign_in(&client, &viewer.tokens["viewer"]).await;
        open(&client, &origin, "/?q=entity%3Abook%2F42").await;
        click(&client, "table.results tbody tr a").await;
        wait_for_url(&client, "the history", |u| {
            u.path().starts_with("/ui/entities/")
        })
        .await;
        let page = text(&client).await;
        assert_has(&page, "Changes from version 2 to version 3");
        // No script ran (the toggle it reveals stays hidden); times are UTC.
        let toggle = client
            .find(Locator::Css("#time-toggle"))
            .await
            .expect("the toggle");
        assert!(
            !toggle.is_displayed().await.expect("displayed?"),
            "JavaScript ran"
        );
        assert_has(&page, "2026-01-01 00:00:02");
        snap(&client, &out, "7-no-javascript-history").await;
        let errors = console_errors(&client, &driver).await;
        assert!(errors.is_empty(), "console errors: {errors:?}");
        Ok::<(), Value>(())
    }
    .await;
    client.close().await.expect("close the browser");
    drop(viewer);
    result.expect("browser walk without JavaScript");
    eprintln!("screenshots in {}", out.display());
}
