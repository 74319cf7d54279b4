//! The dashboard in headless Chromium, served by the router alone (no API
//! behind it): the modules load and run, and the Content-Security-Policy the
//! router sends is enforced by a real browser.

use bulwark_dashboard::browser::Browser;
use serde_json::Value;

async fn serve() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app: axum::Router = bulwark_dashboard::router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

#[tokio::test]
async fn without_an_api_the_page_falls_back_to_the_login_form() -> anyhow::Result<()> {
    let base = serve().await?;
    let browser = Browser::start().await?;
    browser.goto(&format!("{base}/ui/")).await?;
    browser.wait_for("#login-name").await?;
    // The API is absent (404): the failure is shown, not swallowed.
    browser.wait_for_text("#banner", "HTTP 404").await?;
    browser.screenshot("login-without-api").await?;
    browser.close().await?;
    Ok(())
}

#[tokio::test]
async fn trusted_types_refuse_html_strings_and_inline_script() -> anyhow::Result<()> {
    let base = serve().await?;
    let browser = Browser::start().await?;
    browser.goto(&format!("{base}/ui/")).await?;
    browser.wait_for("#login-name").await?;
    let html_sink = browser
        .eval(
            "try { document.getElementById('main').innerHTML = '<img src=x>'; return 'assigned'; } \
             catch (e) { return e.name; }",
            vec![],
        )
        .await?;
    assert_eq!(html_sink, Value::from("TypeError"));
    let script_sink = browser
        .eval(
            "try { const s = document.createElement('script'); s.text = 'window.injected = 1'; \
             document.body.appendChild(s); return 'appended'; } catch (e) { return e.name; }",
            vec![],
        )
        .await?;
    assert_eq!(script_sink, Value::from("TypeError"));
    let handler_attribute = browser
        .eval(
            "try { document.createElement('img').setAttribute('onerror', 'window.injected = 2'); \
             return 'set'; } catch (e) { return e.name; }",
            vec![],
        )
        .await?;
    assert_eq!(handler_attribute, Value::from("TypeError"));
    // Loading from another origin is refused, and the page says so.
    browser
        .eval(
            "const i = document.createElement('img'); i.src = 'http://127.0.0.2:9/x.png'; \
             document.body.appendChild(i);",
            vec![],
        )
        .await?;
    browser.wait_for_text("#banner", "security policy").await?;
    assert_eq!(
        browser
            .eval("return window.injected === undefined", vec![])
            .await?,
        Value::Bool(true)
    );
    browser.screenshot("csp-violation-reported").await?;
    browser.close().await?;
    Ok(())
}
