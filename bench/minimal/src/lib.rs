//! A minimal `wasi:http` component for the peer benchmark: on any request it
//! reads the body, asks the PesaPal sandbox for a token, submits an order
//! with the request's `reference`, and answers 201 with the sandbox's reply.
//! No validation. The origin, credentials and IPN id come from the
//! component's environment (`environment` in the benchmark's spin.toml), or,
//! when that environment sets `FROM_SPIN_VARIABLES=1`, from Spin variables
//! through `wasi:config/store` (`sandbox_authority`, `pesapal_consumer_key`,
//! `pesapal_consumer_secret`, `pesapal_ipn_id`), as any Spin app taking its
//! credentials at run time must: the benchmark runs it both ways to show
//! what Spin's variables cost by themselves.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

wit_bindgen::generate!({
    path: "../../wit/deps/config@0.2.0-draft-2024-09-27",
    world: "wasi:config/imports",
    generate_all,
});

struct Minimal;

impl Guest for Minimal {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let body = request
            .consume()
            .ok()
            .map(|body| read_all(&body))
            .unwrap_or_default();
        let (status, reply) = match pay(&body) {
            Ok(reply) => (201, reply),
            Err(message) => (502, message.into_bytes()),
        };
        respond(out, status, &reply);
    }
}

/// `name` from the environment, or in variables mode the Spin variable
/// `variable`, each read once per request.
fn setting(name: &str, variable: &str) -> String {
    if std::env::var("FROM_SPIN_VARIABLES").is_ok_and(|on| on == "1") {
        wasi::config::store::get(variable)
            .ok()
            .flatten()
            .unwrap_or_default()
    } else {
        std::env::var(name).unwrap_or_default()
    }
}

fn pay(order: &[u8]) -> Result<Vec<u8>, String> {
    let order = String::from_utf8_lossy(order);
    let reference = string_field(&order, "reference").ok_or("no reference")?;
    let authority = setting("SANDBOX_AUTHORITY", "sandbox_authority");
    let token_body = format!(
        r#"{{"consumer_key":"{}","consumer_secret":"{}"}}"#,
        setting("PESAPAL_KEY", "pesapal_consumer_key"),
        setting("PESAPAL_SECRET", "pesapal_consumer_secret")
    );
    let reply = post(
        &authority,
        "/pesapalv3/api/Auth/RequestToken",
        None,
        &token_body,
    )?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let token = string_field(&reply, "token").ok_or("no token in the reply")?;
    let submit_body = format!(
        r#"{{"id":"{reference}","currency":"KES","amount":1500.00,"description":"Benchmark order","callback_url":"https://shop.example/return","notification_id":"{}","billing_address":{{"email_address":"jane@example.com","country_code":"KE","first_name":"Jane","last_name":"Doe"}}}}"#,
        setting("PESAPAL_IPN_ID", "pesapal_ipn_id")
    );
    post(
        &authority,
        "/pesapalv3/api/Transactions/SubmitOrderRequest",
        Some(token),
        &submit_body,
    )
}

/// The text of `"key":"..."` in `json` (no escapes: enough for the sandbox).
fn string_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

fn post(authority: &str, path: &str, token: Option<&str>, body: &str) -> Result<Vec<u8>, String> {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("content-type".into(), b"application/json".to_vec()),
        ("accept".into(), b"application/json".to_vec()),
        ("content-length".into(), body.len().to_string().into_bytes()),
    ];
    if let Some(token) = token {
        headers.push((
            "authorization".into(),
            format!("Bearer {token}").into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers).map_err(|_| "bad header")?;
    let request = OutgoingRequest::new(fields);
    let _ = request.set_method(&Method::Post);
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let outgoing = request.body().map_err(|_| "no body")?;
    {
        let stream = outgoing.write().map_err(|_| "no body stream")?;
        stream
            .blocking_write_and_flush(body.as_bytes())
            .map_err(|_| "write failed")?;
    }
    OutgoingBody::finish(outgoing, None).map_err(|_| "finish failed")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        other => return Err(format!("no response: {other:?}")),
    };
    let incoming = response.consume().map_err(|_| "no response body")?;
    let bytes = read_all(&incoming);
    drop(IncomingBody::finish(incoming));
    if response.status() >= 300 {
        return Err(format!("HTTP {}", response.status()));
    }
    Ok(bytes)
}

fn read_all(body: &IncomingBody) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(stream) = body.stream() {
        // Closed, or failed: either way the body ends here.
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            bytes.extend_from_slice(&chunk);
        }
    }
    bytes
}

/// Body written and finished before the response is handed over, with its length.
fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".into(), b"application/json".to_vec()),
        ("content-length".into(), body.len().to_string().into_bytes()),
    ])
    .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    if let Ok(stream) = outgoing.write() {
        let _ = stream.write(body);
    }
    let _ = OutgoingBody::finish(outgoing, None);
    ResponseOutparam::set(out, Ok(response));
}

wasip2::http::proxy::export!(Minimal);
