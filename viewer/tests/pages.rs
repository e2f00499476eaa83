//! The viewer over real HTTP on loopback: a real SQLite metadata store and
//! filesystem archive in a temp dir, real credentials, real patterns.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{
    OWN_SCRIPT, Viewer, assert_has, assert_has_why, assert_lacks, assert_lacks_why, hidden, record,
    row, rows, without_own_script,
};
use trailmark_viewer::operations::DeadLetterAction;

#[test]
fn signed_out_requests_get_the_sign_in_form_with_401_and_a_strict_csp() {
    let v = Viewer::start();
    for path in [
        "/",
        "/?q=op:delete",
        "/ui/entities/book/42",
        "/ui/events/ev-3",
    ] {
        let a = v.get(path, None);
        assert_eq!(a.status, 401, "{path}");
        assert!(
            a.body.contains(r#"action="/ui/signin""#),
            "{path}: {}",
            a.body
        );
        assert!(
            !a.body.contains("Dune") && !a.body.contains("ev-1"),
            "{path} leaks data"
        );
        let csp = a.csp.expect("CSP header");
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("unsafe"),
            "{csp}"
        );
        let cookie = a
            .set_cookies
            .iter()
            .find(|c| c.starts_with("trailmark_signin="))
            .expect("signin cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
    }
    // A session id that was never issued is the same as none.
    assert_eq!(v.get("/", Some(&"0".repeat(64))).status, 401);
    // Pages carry no script but the viewer's own file, which the CSP allows.
    let a = v.get("/ui/signin", None);
    assert_has(&a.body, OWN_SCRIPT);
    assert!(
        !without_own_script(&a.body).contains("<script"),
        "{}",
        a.body
    );
    let csp = a.csp.expect("CSP");
    assert_has(&csp, "script-src 'self'");
}

#[test]
fn sign_in_gives_an_opaque_http_only_session_that_is_never_the_token() {
    let v = Viewer::start();
    let token = &v.tokens["viewer"];
    let a = v.try_sign_in(token);
    assert_eq!(a.status, 303);
    assert_eq!(a.location.as_deref(), Some("/"));
    let cookie = a
        .set_cookies
        .iter()
        .find(|c| c.starts_with("trailmark_session="))
        .expect("session cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(token.as_str()),
        "the cookie must not carry the token"
    );
    assert!(a.set_cookies.iter().all(|c| !c.contains(token.as_str())));
    let session = v.sign_in("viewer");
    let page = v.get("/", Some(&session)).expect_ok();
    assert_has(&page.body, "Signed in as <strong>viewer</strong>");
    assert_lacks(&page.body, token.as_str());
}

#[test]
fn each_scope_gets_its_answer() {
    let v = Viewer::start();
    for (name, status) in [
        ("viewer", 303),
        ("reader", 303),
        ("admin", 303),
        ("producer", 403),
        ("scraper", 403),
    ] {
        let a = v.try_sign_in(&v.tokens[name]);
        assert_eq!(a.status, status, "{name}: {}", a.body);
        if status == 403 {
            assert!(
                a.body.contains("view"),
                "{name}: says which scope: {}",
                a.body
            );
            assert!(
                a.set_cookies
                    .iter()
                    .all(|c| !c.starts_with("trailmark_session=")),
                "{name}"
            );
        }
    }
    let wrong = v.try_sign_in("tmk_not_a_token_this_server_knows");
    assert_eq!(wrong.status, 401);
    assert_has(&wrong.body, r#"role="alert""#);
    // Each refusal goes to the host's journal: who, status, where; never the token.
    let refusals = v.journal.refusals.lock().expect("lock").clone();
    let seen: Vec<(&str, u16)> = refusals
        .iter()
        .map(|r| (r.who.as_str(), r.status))
        .collect();
    assert_eq!(
        seen,
        [("producer", 403), ("scraper", 403), ("anonymous", 401)]
    );
    assert!(refusals.iter().all(|r| r.path == "/ui/signin"));
    assert_lacks(&refusals[2].reason, "tmk_not_a_token");
}

#[test]
fn posts_without_the_csrf_value_are_refused() {
    let v = Viewer::start();
    // Sign-in: the form's value must equal its cookie.
    let form = v.get("/ui/signin", None);
    let csrf = hidden(&form.body, "csrf");
    let token = v.tokens["viewer"].as_str();
    for (cookie, field) in [
        ("", csrf.as_str()),
        ("trailmark_signin=forged", csrf.as_str()),
        ("trailmark_signin=x", "x2"),
    ] {
        let a = v.post("/ui/signin", cookie, &[("token", token), ("csrf", field)]);
        assert_eq!(a.status, 403, "cookie {cookie:?} field {field:?}");
        assert!(
            a.set_cookies
                .iter()
                .all(|c| !c.starts_with("trailmark_session="))
        );
    }
    // Sign-out: the session's token must come back.
    let session = v.sign_in("viewer");
    let cookie = format!("trailmark_session={session}");
    let a = v.post("/ui/signout", &cookie, &[("csrf", "wrong")]);
    assert_eq!(a.status, 403);
    let a = v.post("/ui/signout", &cookie, &[]);
    assert_eq!(a.status, 403);
    let recorded = v.journal.refusals.lock().expect("lock").clone();
    assert_eq!(
        recorded.len(),
        5,
        "three forged sign-ins, two sign-outs: {recorded:?}"
    );
    assert_eq!(
        (recorded[4].who.as_str(), recorded[4].path),
        ("viewer", "/ui/signout")
    );
    let page = v.get("/", Some(&session));
    assert_eq!(
        page.status, 200,
        "the refused sign-out left the session alone"
    );
    let real = hidden(&page.body, "csrf");
    let a = v.post("/ui/signout", &cookie, &[("csrf", &real)]);
    assert_eq!(a.status, 303);
    assert_eq!(v.get("/", Some(&session)).status, 401, "signed out");
}

#[test]
fn search_follows_the_newest_changes_live_on_request() {
    let v = Viewer::start();
    let s = v.sign_in("reader");
    let still = v.get("/?q=op%3Adelete", Some(&s));
    assert_lacks(&still.body, "http-equiv=\"refresh\"");
    assert_has(
        &still.body,
        r#"href="/?q=op%3Adelete&#38;live=1">Follow live</a>"#,
    );
    let live = v.get("/?q=op%3Adelete&live=1", Some(&s));
    assert_eq!(live.status, 200);
    assert!(
        live.body
            .contains(r#"<meta http-equiv="refresh" content="5">"#)
            && live
                .body
                .contains(r#"<a href="/?q=op%3Adelete">Stop following</a>"#),
        "{}",
        live.body
    );
    let later = v.get("/?q=op%3Adelete&live=1&cursor=abc", Some(&s));
    assert_lacks_why(&later.body, "http-equiv", "a later page is not reloaded");
}

#[test]
fn search_maps_qualifiers_filters_and_pages_by_cursor() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let page = |q: &str| {
        v.get(
            &format!(
                "/?q={}",
                form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ),
            Some(&s),
        )
    };

    let a = page("op:delete");
    assert_eq!(rows(&a.body), 1, "{}", a.body);
    assert_has(&a.body, r#"href="/ui/entities/book/7""#);
    assert_eq!(rows(&page("entity:book/42").body), 3);
    assert_eq!(
        rows(&page("author:ann author:bob").body),
        4,
        "repeats are OR-ed"
    );
    assert_eq!(
        rows(&page("type:book -op:update").body),
        3,
        "ev-1, ev-del, ev-x"
    );
    assert_eq!(
        rows(&page("author:carl after:2026-01-01T00:00:00Z").body),
        0
    );
    assert_eq!(
        rows(&page("before:2026-01-01T00:00:00Z").body),
        50,
        "bulk rows are older; first page"
    );
    // The query stays in the box, and errors say what is wrong.
    let bad = page("colour:red");
    assert_eq!(bad.status, 400);
    assert_has(&bad.body, "unknown qualifier `colour:`");
    assert_has(&bad.body, r#"value="colour:red""#);

    // Cursor pagination: 65 rows, 50 then 15, none twice.
    let first = v.get("/", Some(&s));
    assert_eq!(rows(&first.body), 50);
    let next = first
        .body
        .split(r#"<a href=""#)
        .filter_map(|p| p.split('"').next())
        .find(|h| h.contains("cursor="))
        .expect("next link")
        .replace("&amp;", "&");
    let second = v.get(&next, Some(&s));
    assert_eq!(rows(&second.body), 15, "{}", second.body);
    assert!(
        !second.body.contains("cursor="),
        "last page has no next link"
    );
    // Server-side filtering pages the same way: 60 carl rows OR a bob row.
    let either = page("author:carl author:bob");
    assert_eq!(rows(&either.body), 50);
    assert_has(&either.body, "cursor=");
}

/// The href of the facet link whose text is `text`.
fn facet_href(html: &str, text: &str) -> String {
    let end = html
        .find(&format!(">{text}</a> <span class=\"count\">"))
        .unwrap_or_else(|| panic!("no facet {text} in {html}"));
    let start = html[..end].rfind("<a href=\"").expect("link") + "<a href=\"".len();
    html[start..end]
        .split('"')
        .next()
        .expect("href")
        .replace("&#38;", "&")
}

/// The count shown beside facet `text`.
fn facet_count(html: &str, text: &str) -> u64 {
    let marker = format!(">{text}</a> <span class=\"count\">");
    let start = html.find(&marker).expect("facet") + marker.len();
    html[start..]
        .split('<')
        .next()
        .expect("count")
        .parse()
        .expect("a number")
}

#[test]
fn facets_count_the_result_and_toggle_their_qualifier() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let books = v.get("/?q=type%3Abook", Some(&s));
    assert_eq!(books.status, 200);
    assert_has(&books.body, "In the result: 5 matches");
    // ann 3, bob 1, the hostile author 1 (escaped); carl's orders are not
    // in the result.
    assert_eq!(facet_count(&books.body, "ann"), 3);
    assert_eq!(facet_count(&books.body, "bob"), 1);
    assert_eq!(
        facet_count(&books.body, "&#60;script&#62;alert(3)&#60;/script&#62;"),
        1
    );
    assert_lacks(&books.body, ">carl</a>");
    assert_eq!(facet_count(&books.body, "insert"), 2);
    assert_eq!(facet_count(&books.body, "update"), 2);
    assert_eq!(facet_count(&books.body, "delete"), 1);
    assert_eq!(facet_count(&books.body, "com.example.books"), 5);

    // A value's link adds its qualifier, and the page holds that many rows.
    let ann = facet_href(&books.body, "ann");
    assert_eq!(ann, "/?q=type%3Abook+author%3Aann");
    let anns = v.get(&ann, Some(&s));
    assert_eq!(rows(&anns.body), 3, "{}", anns.body);
    assert_has(&anns.body, "In the result: 3 matches");
    // Now it is marked, and its link takes the qualifier out again.
    assert_has(
        &anns.body,
        r#"class="active" title="In the query: select to remove it">ann</a>"#,
    );
    assert_eq!(facet_href(&anns.body, "ann"), "/?q=type%3Abook");

    // Every facet counts over the whole result, not the page: 65 records.
    let all = v.get("/", Some(&s));
    assert_eq!(rows(&all.body), 50);
    assert_eq!(facet_count(&all.body, "carl"), 60);
    assert_eq!(facet_count(&all.body, "order"), 60);
    // Later pages show rows only.
    let next = all
        .body
        .split(r#"<a href=""#)
        .filter_map(|p| p.split('"').next())
        .find(|h| h.contains("cursor="))
        .expect("next link")
        .replace("&#38;", "&");
    assert!(!v.get(&next, Some(&s)).body.contains("In the result"));
}

#[test]
fn the_histogram_draws_the_result_over_time_with_its_deletes() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let books = v.get("/?q=type%3Abook", Some(&s)).body;
    let bars = books.matches(r#"<rect class="bar" "#).count();
    assert!(
        (1..=5).contains(&bars),
        "one bar per non-empty span: {books}"
    );
    // ev-del is the one delete: one red part, its bar labelled so.
    assert_eq!(books.matches(r#"<rect class="bar-delete""#).count(), 1);
    assert_has(&books, "1 change, 1 delete</title>");
    // A bar narrows the query to its span: the delete's bar finds it.
    let start = books.find("1 change, 1 delete</title>").expect("bar");
    let link = books[..start].rfind("<a href=\"").expect("bar link") + "<a href=\"".len();
    let href = books[link..]
        .split('"')
        .next()
        .expect("href")
        .replace("&#38;", "&");
    assert!(
        href.contains("after%3A") && href.contains("before%3A"),
        "{href}"
    );
    let narrowed = v.get(&href, Some(&s)).expect_ok();
    assert_eq!(rows(&narrowed.body), 1, "{}", narrowed.body);
    assert_has(&narrowed.body, r#"<tr class="op-delete">"#);
    // An empty result has no bars and says so.
    let none = v.get("/?q=author%3Anobody", Some(&s)).body;
    assert_has(&none, "In the result: 0 matches");
    assert_lacks(&none, "<svg");
}

#[test]
fn checkpoints_are_listed_with_their_age_and_a_late_head_is_warned_about() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let a = v.get("/ui/checkpoints", Some(&s)).expect_ok();
    // Newest first, each with its time, age, hash and key (escaped).
    let five = a.body.find("<tr><td>5</td>").expect("checkpoint 5");
    let one = a.body.find("<tr><td>1</td>").expect("checkpoint 1");
    assert!(five < one, "newest first");
    assert_has(
        &a.body,
        r#"title="2026-01-01T00:00:00Z">2026-01-01 00:00:00</time>"#,
    );
    assert_has(&a.body, &"05".repeat(32));
    assert_has(&a.body, "&#60;key&#62;0123456789");
    assert_has_why(&a.body, " d ", "an age in days");
    // Records 6..9 have waited since 2026-01-01, far past 2 × 1 min.
    assert_has(
        &a.body,
        r#"<p class="error" role="alert">4 record(s) have waited "#,
    );
    // The exact commands, escaped.
    assert_has(
        &a.body,
        "trailmark verify --data /srv/&#60;trail&#62;</pre>",
    );
    assert_has(&a.body, "--checkpoints SAFE/checkpoints.jsonl</pre>");
    assert_has(
        &a.body,
        "<code>trailmark checkpoints export --data /srv/&#60;trail&#62; SAFE</code>",
    );

    // A checkpoint of the head now: no warning.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let fresh = |seq| trailmark_viewer::SignedCheckpoint {
        seq,
        time_ms: now,
        hash: "ff".repeat(32),
        key_id: "k".into(),
    };
    v.journal
        .checkpoint_log
        .lock()
        .expect("lock")
        .recent
        .insert(0, fresh(9));
    let a = v.get("/ui/checkpoints", Some(&s));
    assert_lacks(&a.body, r#"class="error""#);
    assert_has(
        &a.body,
        "The journal head (record 9) is covered by the last checkpoint.",
    );
    // Records since a recent one are pending, not late.
    v.journal.checkpoint_log.lock().expect("lock").recent[0] = fresh(7);
    let a = v.get("/ui/checkpoints", Some(&s));
    assert_lacks(&a.body, r#"class="error""#);
    assert_has(
        &a.body,
        "2 record(s) written since the last checkpoint; the host signs every 1 min.",
    );
    // Signed out: the sign-in form.
    assert_eq!(v.get("/ui/checkpoints", None).status, 401);
}

#[test]
fn a_delete_without_a_body_says_so_in_the_history() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let page = v.get("/ui/entities/book/7", Some(&s)).expect_ok();
    assert_has(&page.body, "Deleted: the delete carried no body.");
    assert_lacks(&page.body, "No body was archived");
}

#[test]
fn history_lists_versions_and_diffs_the_picked_pair() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let a = v.get("/ui/entities/book/42", Some(&s)).expect_ok();
    assert_eq!(a.body.matches(r#"<tr class="op-"#).count(), 3);
    assert_has(&a.body, "Changes from version 2 to version 3");
    // Default: the last two versions.
    assert_has(
        &a.body,
        r#"<tr class="removed"><td class="mono">/isbn</td>"#,
    );
    assert_has(&a.body, r#"<tr class="added"><td class="mono">/pages</td>"#);
    assert_has(&a.body, "3 unchanged value(s) folded");
    // The rules each version's event matched, from the journal.
    assert_has(&a.body, "<td>archive-all</td>");
    assert!(
        a.body.contains("no longer in the journal"),
        "ev-1 is not in it"
    );
    // Any pair: 1 → 3.
    let b = v.get("/ui/entities/book/42?from=ev-1&to=ev-3", Some(&s));
    assert_has(&b.body, "Changes from version 1 to version 3");
    for path in ["/price", "/author/name", "/isbn", "/pages"] {
        assert!(
            b.body.contains(&format!(r#"<td class="mono">{path}</td>"#)),
            "{path}: {}",
            b.body
        );
    }
    assert!(
        !b.body.contains(r#"<td class="mono">/title</td>"#),
        "unchanged paths are folded"
    );
    assert_has(&b.body, "Raw bodies");
}

#[test]
fn stored_values_are_escaped_everywhere() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let search = v.get("/?q=entity:ev", Some(&s));
    let search_all = v.get("/", Some(&s));
    let history = v
        .get("/ui/entities/book/%3Cb%3Eevil%3C%2Fb%3E", Some(&s))
        .expect_ok();
    assert_has(&history.body, "&#60;script&#62;alert(1)&#60;/script&#62;");
    for page in [&search.body, &search_all.body, &history.body] {
        assert!(
            !without_own_script(page).contains("<script"),
            "unescaped script: {page}"
        );
        assert!(!page.contains("<img"), "unescaped img");
        assert!(!page.contains("<b>evil"), "unescaped entity id");
    }
    assert!(
        search_all
            .body
            .contains("&#60;script&#62;alert(3)&#60;/script&#62;"),
        "the author, escaped"
    );
    assert_has(
        &search_all.body,
        r#"href="/ui/entities/book/%3Cb%3Eevil%3C%2Fb%3E""#,
    );
}

#[test]
fn event_detail_says_what_became_of_each_delivery() {
    let v = Viewer::start();
    let s = v.sign_in("reader");
    let delete = v.get("/ui/events/ev-del", Some(&s));
    assert_has(
        &delete.body,
        "<td>delete-alert</td><td class=\"delivery-bad\">dead-lettered (dead letter 4",
    );
    let update = v.get("/ui/events/ev-3", Some(&s));
    assert_has(
        &update.body,
        "<td>archive-all</td><td class=\"delivery-ok\">delivered</td>",
    );
    assert_has_why(
        &update.body,
        "<title>Event ev-3",
        "the title is the event, nothing else",
    );
}

#[test]
fn event_detail_explains_every_live_rule() {
    let v = Viewer::start();
    let s = v.sign_in("reader");
    let a = v.get("/ui/events/ev-del", Some(&s)).expect_ok();
    assert_has(&a.body, "<dt>Journal sequence</dt><dd>9</dd>");
    assert_has(&a.body, r#"href="/ui/entities/book/7""#);
    assert!(row(&a.body, "delete-alert").contains("matches; delivered at ingest"));
    assert!(
        row(&a.body, "archive-all").contains("matches</td>"),
        "matches now, not delivered at ingest"
    );
    let update = v.get("/ui/events/ev-3", Some(&s));
    let delete = row(&update.body, "delete-alert");
    assert_has(delete, "no match");
    assert_has(
        delete,
        "`detail.operation` is &#34;update&#34; but the pattern requires = &#34;delete&#34;",
    );
    assert_eq!(v.get("/ui/events/nope", Some(&s)).status, 404);
}

#[test]
fn pasted_events_are_explained_behind_the_csrf_token() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let cookie = format!("trailmark_session={s}");
    let form = v.get("/ui/explain", Some(&s));
    assert_eq!(form.status, 200);
    let csrf = hidden(&form.body, "csrf");
    let entry = r#"{"Source": "com.example.books", "DetailType": "Object State Change",
                    "Detail": "{\"operation\": \"delete\", \"note\": \"</textarea><script>alert(1)</script>\"}"}"#;

    let forged = v.post(
        "/ui/explain",
        &cookie,
        &[("csrf", "forged"), ("event", entry)],
    );
    assert_eq!(forged.status, 403);
    assert_lacks(&forged.body, "delete-alert");
    assert_eq!(v.journal.last_refused_path(), Some("/ui/explain"));

    let a = v
        .post("/ui/explain", &cookie, &[("csrf", &csrf), ("event", entry)])
        .expect_ok();
    assert!(
        row(&a.body, "delete-alert").contains("matches"),
        "{}",
        a.body
    );
    assert!(row(&a.body, "archive-all").contains("matches"));
    assert!(
        !without_own_script(&a.body).contains("<script"),
        "the pasted text is escaped: {}",
        a.body
    );
    assert!(
        !a.body.contains("delivered at ingest"),
        "a pasted event was never delivered"
    );

    let bad = v.post(
        "/ui/explain",
        &cookie,
        &[("csrf", &csrf), ("event", "{not json")],
    );
    assert_eq!(bad.status, 400);
    assert_has(&bad.body, "the event is not JSON");
}

#[test]
fn event_detail_says_whether_its_record_is_signed_pending_or_broken() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let integrity = |id: &str| {
        let page = v.get(&format!("/ui/events/{id}"), Some(&s)).body;
        let start = page.find("<dt>Integrity</dt>").expect("integrity");
        page[start..start + page[start..].find("</dd>").expect("end")].to_owned()
    };
    let covered = integrity("ev-3");
    assert_has(&covered, r#"class="integrity-covered""#);
    assert_has(
        &covered,
        "covered by the signed checkpoint of 2026-01-01T00:00:00Z (records up to 5)",
    );
    assert_has(
        &covered,
        "<code>trailmark verify --data /srv/&#60;trail&#62;</code>",
    );
    let pending = integrity("ev-del");
    assert_has(&pending, r#"class="integrity-pending""#);
    let broken = integrity("ev-2");
    assert_has(&broken, r#"class="integrity-broken""#);
    assert_has(&broken, "its hash does not recompute");
}

#[test]
fn export_streams_every_match_with_its_body_once_journaled() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let search = v.get("/?q=op%3Adelete", Some(&s));
    assert!(
        search
            .body
            .contains(r#"href="/ui/export?q=op%3Adelete&#38;format=csv""#)
            || search
                .body
                .contains(r#"href="/ui/export?q=op%3Adelete&amp;format=csv""#),
        "{}",
        search.body
    );

    let a = v
        .get("/ui/export?q=entity%3Abook%2F42&format=ndjson", Some(&s))
        .expect_ok();
    let lines: Vec<serde_json::Value> = a
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["event-id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["ev-3", "ev-2", "ev-1"], "newest first, as the search");
    assert_eq!(lines[2]["body"]["author"]["name"], "Herbert");
    assert_eq!(lines[0]["time"], "2026-01-01T00:00:02Z");

    // No row ceiling: past the 50-row page and the 500-record batch alike.
    let all = v.get("/ui/export", Some(&s));
    assert_eq!(all.body.lines().count(), 65);

    let csv = v.get("/ui/export?q=op%3Adelete&format=csv", Some(&s));
    let rows: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        rows[0],
        "time,event_id,source,entity_type,entity_id,operation,author,archive_key,attributes,rules,body,body_error"
    );
    assert_eq!(rows.len(), 2, "{}", csv.body);
    assert!(
        rows[1].contains(",ev-del,") && rows[1].contains(",bob,"),
        "{}",
        rows[1]
    );

    // Each export is journaled before it runs, with who and what.
    let exports = v.journal.exports.lock().expect("lock").clone();
    let seen: Vec<(&str, &str, &str)> = exports
        .iter()
        .map(|e| (e.who.as_str(), e.query.as_str(), e.format))
        .collect();
    assert_eq!(
        seen,
        [
            ("viewer", "entity:book/42", "ndjson"),
            ("viewer", "", "ndjson"),
            ("viewer", "op:delete", "csv")
        ]
    );
    // A HEAD probe neither exports nor journals.
    assert_eq!(v.head("/ui/export?q=op%3Adelete", &s), 200);
    assert_eq!(v.journal.exports.lock().expect("lock").len(), 3);
    // No record, no export.
    v.journal
        .refuse_exports
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = v.get("/ui/export?q=op%3Adelete", Some(&s));
    assert_eq!(refused.status, 503);
    assert_lacks(&refused.body, "ev-del");
    assert_eq!(v.get("/ui/export?format=xml", Some(&s)).status, 400);
    assert_eq!(v.get("/ui/export", None).status, 401);
}

#[test]
fn operations_are_for_admins_only() {
    let v = Viewer::start();
    for name in ["viewer", "reader"] {
        let a = v.get("/ui/operations", Some(&v.sign_in(name)));
        assert_eq!(a.status, 403, "{name}");
        assert!(
            a.body.contains("admin"),
            "{name}: says which scope: {}",
            a.body
        );
        assert_lacks(&a.body, "delete-alert");
    }
    let a = v
        .get("/ui/operations", Some(&v.sign_in("admin")))
        .expect_ok();
    assert_has(
        &a.body,
        r#"<th scope="row">delete-alert</th><td>alert</td><td>enabled</td>"#,
    );
    assert_has(&a.body, "Held: 2 (<code>trailmark dlq list</code>)");
    assert_has_why(&a.body, "rules/&#60;bad&#62;.yaml:1:1: not YAML", "escaped");
}

#[test]
fn dead_letters_are_replayed_or_purged_by_admins_after_a_confirmation() {
    let v = Viewer::start();
    let admin = v.sign_in("admin");
    let cookie = format!("trailmark_session={admin}");
    let dlq = |fields: &[(&str, &str)]| v.post("/ui/dead-letters", &cookie, fields);
    let ops = v.get("/ui/operations", Some(&admin));
    // Each letter with a box to tick; stored error texts are escaped.
    assert_has(&ops.body, r#"<input type="checkbox" name="id" value="4""#);
    assert_has(&ops.body, r#"<input type="checkbox" name="id" value="7""#);
    assert_has(&ops.body, "&#60;script&#62;alert(4)&#60;/script&#62;");
    assert!(!without_own_script(&ops.body).contains("<script"));
    assert_has(&ops.body, r#"<form method="get" action="/ui/dead-letters""#);

    // The confirmation step changes nothing and carries the CSRF token.
    let confirm = v
        .get("/ui/dead-letters?action=replay&id=4&id=99", Some(&admin))
        .expect_ok();
    assert_has(&confirm.body, "Replay 1 dead letter(s)?");
    assert_has(
        &confirm.body,
        "No longer held (replayed or purged already): 99.",
    );
    assert_has(
        &confirm.body,
        r#"<input type="hidden" name="id" value="4">"#,
    );
    assert_lacks(&confirm.body, r#"name="id" value="7""#);
    assert!(v.journal.dlq_actions.lock().expect("lock").is_empty());
    let csrf = hidden(&confirm.body, "csrf");

    // A forged form is refused and journaled; nothing is replayed.
    let forged = dlq(&[("csrf", "forged"), ("action", "replay"), ("id", "4")]);
    assert_eq!(forged.status, 403);
    assert!(v.journal.dlq_actions.lock().expect("lock").is_empty());
    assert_eq!(v.journal.last_refused_path(), Some("/ui/dead-letters"));

    // When the action cannot be journaled first, it does not run.
    v.journal
        .refuse_admin_actions
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let unjournaled = dlq(&[("csrf", &csrf), ("action", "replay"), ("id", "4")]);
    assert_eq!(unjournaled.status, 503, "{}", unjournaled.body);
    assert_has(&unjournaled.body, "the journal is unavailable");
    assert!(v.journal.dlq_actions.lock().expect("lock").is_empty());
    v.journal
        .refuse_admin_actions
        .store(false, std::sync::atomic::Ordering::SeqCst);

    let done = dlq(&[("csrf", &csrf), ("action", "replay"), ("id", "4")]).expect_ok();
    assert_has(&done.body, "Replayed: 1\n  (4).");
    assert_eq!(
        *v.journal.dlq_actions.lock().expect("lock"),
        [(DeadLetterAction::Replay, vec![4], "admin".to_owned())]
    );
    let ops = v.get("/ui/operations", Some(&admin));
    assert!(
        !ops.body.contains(r#"name="id" value="4""#),
        "replayed: gone"
    );

    // A purge says which letters stay, and why.
    let purged = dlq(&[
        ("csrf", &csrf),
        ("action", "purge"),
        ("id", "7"),
        ("id", "4"),
    ])
    .expect_ok();
    assert_has(&purged.body, "Purged: 1\n  (7).");
    assert_has(&purged.body, "Dead letter 4 stays: no such dead letter");

    // Viewers and readers may look at nothing of it, and change nothing.
    for name in ["viewer", "reader"] {
        let s = v.sign_in(name);
        let a = v.get("/ui/dead-letters?action=purge&id=7", Some(&s));
        assert_eq!(a.status, 403, "{name}");
        let form = v.get("/ui/explain", Some(&s));
        let csrf = hidden(&form.body, "csrf");
        let a = v.post(
            "/ui/dead-letters",
            &format!("trailmark_session={s}"),
            &[("csrf", &csrf), ("action", "purge"), ("id", "7")],
        );
        assert_eq!(a.status, 403, "{name}: {}", a.body);
    }
    assert_eq!(v.journal.dlq_actions.lock().expect("lock").len(), 2);
    // Nonsense is a 400 that says what is valid.
    let bad = v.get("/ui/dead-letters?action=delete&id=7", Some(&admin));
    assert_eq!(bad.status, 400);
    assert_has(&bad.body, "replay or purge");
}

#[test]
fn event_pages_read_the_journal_only_so_often_per_principal() {
    let v = Viewer::start_with(|state| {
        state.with_journal_read_limit(trailmark_viewer::journal_reads::JournalReadLimit {
            burst: 3,
            per_minute: 0,
            concurrent: 1,
        })
    });
    let ann = v.sign_in("viewer");
    for _ in 0..3 {
        assert_eq!(v.get("/ui/events/ev-3", Some(&ann)).status, 200);
    }
    let refused = v.get("/ui/events/ev-3", Some(&ann));
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.retry_after.as_deref(), Some("60"));
    assert_has(&refused.body, "too many journal reads");
    assert!(!refused.body.contains("Journal sequence"), "nothing read");
    // A second session of the same principal shares the bucket...
    let again = v.sign_in("viewer");
    assert_eq!(v.get("/ui/events/ev-3", Some(&again)).status, 429);
    // ...another principal has its own, and pages that do not read the
    // journal are not counted.
    let bob = v.sign_in("reader");
    assert_eq!(v.get("/ui/events/ev-3", Some(&bob)).status, 200);
    assert_eq!(v.get("/?q=op%3Adelete", Some(&ann)).status, 200);
}

#[test]
fn every_page_title_is_plain_text() {
    let v = Viewer::start();
    let admin = v.sign_in("admin");
    for path in [
        "/",
        "/?q=type%3Abook",
        "/ui/entities/book/42",
        "/ui/events/ev-del",
        "/ui/explain",
        "/ui/checkpoints",
        "/ui/operations",
        "/ui/signin",
    ] {
        let page = v.get(path, Some(&admin));
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        let title = page
            .body
            .split_once("<title>")
            .and_then(|(_, rest)| rest.split_once("</title>"))
            .map(|(title, _)| title)
            .unwrap_or_else(|| panic!("{path}: no <title>"));
        assert!(
            !title.contains('<') && title.len() < 200,
            "{path}: the title holds markup: {title}"
        );
    }
}

/// The `change` events of a live stream, read until `n` arrived.
fn read_changes(reader: &mut impl std::io::BufRead, n: usize) -> Vec<(u64, serde_json::Value)> {
    let mut changes = Vec::new();
    let (mut id, mut event) = (None, String::new());
    let mut line = String::new();
    while changes.len() < n {
        line.clear();
        assert!(
            reader.read_line(&mut line).expect("read the stream") > 0,
            "the stream ended"
        );
        let line = line.trim_end();
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            if event == "change" {
                let data = serde_json::from_str(v.trim()).expect("JSON data");
                changes.push((id.expect("an id before the data"), data));
            }
        } else if line.is_empty() {
            event.clear();
        }
    }
    changes
}

#[test]
fn the_live_tail_streams_new_matching_changes_and_resumes_after_the_last_id() {
    let v = Viewer::start();
    let s = v.sign_in("viewer");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let open = |last_id: Option<u64>| {
        let mut req = agent
            .get(format!("{}/ui/live?q=type%3Abook", v.url))
            .header("cookie", format!("trailmark_session={s}"));
        if let Some(id) = last_id {
            req = req.header("last-event-id", id.to_string());
        }
        let response = req.call().expect("open the stream");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "server-sent events"
        );
        std::io::BufReader::new(response.into_body().into_reader())
    };
    // Nothing before the stream opened is sent: it starts at the head.
    v.journal
        .append(record("old", ("book", "1"), "insert", 1, "ann", None));
    let mut stream = open(None);
    let journal = v.journal.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let first = journal.append(record("b-1", ("book", "2"), "update", 2, "<b>x</b>", None));
        // Not admitted by `type:book`.
        journal.append(record("c-1", ("customer", "9"), "insert", 3, "ann", None));
        let second = journal.append(record("b-2", ("book", "2"), "delete", 4, "bob", None));
        (first, second)
    });
    let got = read_changes(&mut stream, 2);
    let (first, second) = writer.join().expect("writer");
    assert_eq!(
        got.iter()
            .map(|(id, c)| (*id, c["event_id"].clone()))
            .collect::<Vec<_>>(),
        [(first, json!("b-1")), (second, json!("b-2"))]
    );
    assert_eq!(got[0].1["entity"], "book/2");
    assert_eq!(
        got[0].1["author"], "<b>x</b>",
        "text, for the script to set as text"
    );
    assert_eq!(got[1].1["operation"], "delete");
    drop(stream);
    // A browser reconnecting sends the last id it saw: the stream resumes
    // right after it, skipping nothing.
    let mut resumed = open(Some(first));
    let again = read_changes(&mut resumed, 1);
    assert_eq!(again[0].0, second);
    assert_eq!(again[0].1["event_id"], "b-2");
}

#[test]
fn the_live_tail_needs_a_session_and_a_valid_query() {
    let v = Viewer::start();
    assert_eq!(v.get("/ui/live", None).status, 401);
    let s = v.sign_in("viewer");
    let bad = v.get("/ui/live?q=colour%3Ablue", Some(&s));
    assert_eq!(bad.status, 400, "{}", bad.body);
}

/// WCAG 2 contrast ratio of two `#rrggbb` colours.
fn contrast(a: &str, b: &str) -> f64 {
    let luminance = |hex: &str| {
        let channel = |i: usize| {
            let c =
                f64::from(u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).expect("hex")) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
    };
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// A CSS colour value as `#rrggbb`: `#rgb` widened, `var(--x)` resolved
/// from `css`; `None` for anything else.
fn hex_colour(css: &str, value: &str) -> Option<String> {
    let value = value.trim();
    if let Some(name) = value
        .strip_prefix("var(--")
        .and_then(|v| v.strip_suffix(')'))
    {
        let at = css.find(&format!("--{name}:"))? + name.len() + 3;
        let end = css[at..].find(';')? + at;
        return hex_colour(css, &css[at..end]);
    }
    let digits = value.strip_prefix('#')?;
    match digits.len() {
        6 => Some(format!("#{}", digits.to_ascii_lowercase())),
        3 => Some(format!(
            "#{}",
            digits.chars().flat_map(|c| [c, c]).collect::<String>()
        )),
        _ => None,
    }
}

#[test]
fn text_colours_pass_wcag_aa_contrast_on_their_backgrounds() {
    let css = include_str!("../static/viewer.css");
    // Every colour text is set in (`color:`, not `background-color:`).
    let mut texts: Vec<String> = css
        .match_indices("color:")
        .filter(|(at, _)| !css[..*at].ends_with("background-") && !css[..*at].ends_with('-'))
        .filter_map(|(at, m)| {
            let rest = &css[at + m.len()..];
            let end = rest.find([';', '}']).unwrap_or(rest.len());
            hex_colour(css, &rest[..end])
        })
        .collect();
    texts.sort();
    texts.dedup();
    assert!(texts.len() >= 5, "{texts:?}");
    let var = |name: &str| hex_colour(css, &format!("var(--{name})")).expect("a colour");
    for text in texts.iter().filter(|t| *t != "#ffffff") {
        for background in ["#ffffff", "#f6f8fa"] {
            let ratio = contrast(text, background);
            assert!(ratio >= 4.5, "{text} on {background}: {ratio:.2} < 4.5");
        }
    }
    // The coloured backgrounds and what sits on them.
    for (text, background) in [
        ("#ffffff".to_owned(), var("accent")),
        ("#8a1c13".to_owned(), var("del")),
        (var("fg"), var("add")),
        (var("fg"), var("chg")),
        (var("fg"), var("del")),
    ] {
        let ratio = contrast(&text, &background);
        assert!(ratio >= 4.5, "{text} on {background}: {ratio:.2} < 4.5");
    }
}

#[test]
fn one_principal_cannot_hold_every_live_stream() {
    let v = Viewer::start();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .http_status_as_error(false)
        .build()
        .into();
    let open = |session: &str| {
        agent
            .get(format!("{}/ui/live", v.url))
            .header("cookie", format!("trailmark_session={session}"))
            .call()
            .expect("a response")
    };
    let viewer = v.sign_in("viewer");
    // Held open: each response's body is the stream.
    let held: Vec<_> = (0..8).map(|_| open(&viewer)).collect();
    assert!(held.iter().all(|r| r.status() == 200));
    let ninth = open(&viewer);
    assert_eq!(ninth.status(), 503, "a ninth stream of one principal");
    let other = open(&v.sign_in("reader"));
    assert_eq!(other.status(), 200, "another principal still gets one");
    drop(held);
}
