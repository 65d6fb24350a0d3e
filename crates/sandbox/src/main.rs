//! `finconnect-sandbox`: serve the PesaPal, ClickPesa and M-Pesa Daraja
//! emulator until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use finconnect_sandbox::{MPESA_PASSKEY, Sandbox, SandboxConfig};

const USAGE: &str = "\
finconnect-sandbox: a loopback emulator of the PesaPal API 3.0, ClickPesa and
M-Pesa Daraja endpoints FinConnect uses.

USAGE:
    finconnect-sandbox [OPTIONS]

OPTIONS:
    --addr ADDR                      listen address [default: 127.0.0.1:9400]
    --allow-non-loopback             permit a non-loopback --addr
    --pesapal-consumer-key KEY       [default: sandbox-pesapal-key]
    --pesapal-consumer-secret SECRET [default: sandbox-pesapal-secret]
    --clickpesa-client-id ID         [default: sandbox-clickpesa-client]
    --clickpesa-api-key KEY          [default: sandbox-clickpesa-key]
    --clickpesa-checksum-key KEY     require and sign ClickPesa checksums
    --clickpesa-webhook-url URL      where ClickPesa webhooks go (http only)
    --token-ttl SECONDS              PesaPal token lifetime [default: 300]
    --mpesa-consumer-key KEY         [default: sandbox-mpesa-key]
    --mpesa-consumer-secret SECRET   [default: sandbox-mpesa-secret]
    --mpesa-shortcode DIGITS         STK shortcode [default: 174379]
    --mpesa-passkey PASSKEY          STK passkey [default: the public Daraja sandbox one]
    --mpesa-till-number DIGITS       Buy Goods PartyB [default: 174380]
    --mpesa-token-ttl SECONDS        Daraja token lifetime [default: 3599]
    --quiet                          do not log requests and deliveries
    -h, --help                       print this help
    -V, --version                    print the version
";

struct Options {
    addr: SocketAddr,
    allow_non_loopback: bool,
    quiet: bool,
    config: SandboxConfig,
}

enum Parsed {
    Run(Box<Options>),
    Help,
    Version,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 9400)),
        allow_non_loopback: false,
        quiet: false,
        config: SandboxConfig::default(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "--allow-non-loopback" => options.allow_non_loopback = true,
            "--quiet" => options.quiet = true,
            "--addr" => {
                let text = value("--addr")?;
                options.addr = text
                    .parse()
                    .map_err(|e| format!("--addr {text:?}: {e} (expected IP:PORT)"))?;
            }
            "--pesapal-consumer-key" => options.config.pesapal_consumer_key = value(&flag)?,
            "--pesapal-consumer-secret" => options.config.pesapal_consumer_secret = value(&flag)?,
            "--clickpesa-client-id" => options.config.clickpesa_client_id = value(&flag)?,
            "--clickpesa-api-key" => options.config.clickpesa_api_key = value(&flag)?,
            "--clickpesa-checksum-key" => {
                options.config.clickpesa_checksum_key = Some(value(&flag)?);
            }
            "--clickpesa-webhook-url" => {
                let url = value(&flag)?;
                if !url.starts_with("http://") {
                    return Err(format!(
                        "--clickpesa-webhook-url {url:?}: the sandbox delivers over plain http:// only"
                    ));
                }
                options.config.clickpesa_webhook_url = Some(url);
            }
            "--token-ttl" => {
                let text = value(&flag)?;
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| format!("--token-ttl {text:?}: expected whole seconds"))?;
                options.config.token_ttl = Duration::from_secs(seconds);
            }
            "--mpesa-consumer-key" => options.config.mpesa_consumer_key = value(&flag)?,
            "--mpesa-consumer-secret" => options.config.mpesa_consumer_secret = value(&flag)?,
            "--mpesa-passkey" => options.config.mpesa_passkey = value(&flag)?,
            "--mpesa-shortcode" | "--mpesa-till-number" => {
                let digits = value(&flag)?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("{flag} {digits:?}: expected digits"));
                }
                if flag == "--mpesa-shortcode" {
                    options.config.mpesa_shortcode = digits;
                } else {
                    options.config.mpesa_till_number = digits;
                }
            }
            "--mpesa-token-ttl" => {
                let text = value(&flag)?;
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| format!("--mpesa-token-ttl {text:?}: expected whole seconds"))?;
                options.config.mpesa_token_ttl = Duration::from_secs(seconds);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if !options.addr.ip().is_loopback() && !options.allow_non_loopback {
        return Err(format!(
            "--addr {} is not a loopback address; the sandbox is meant for this machine only \
             (pass --allow-non-loopback to insist)",
            options.addr
        ));
    }
    Ok(Parsed::Run(Box::new(options)))
}

fn banner(sandbox: &Sandbox) -> String {
    let config = sandbox.config();
    let origin = sandbox.origin();
    let checksum = config
        .clickpesa_checksum_key
        .as_deref()
        .map_or_else(|| "off".to_owned(), |key| format!("required, key {key}"));
    let webhook = config
        .clickpesa_webhook_url
        .as_deref()
        .unwrap_or("none (PUT /_sandbox/clickpesa/webhook to set)")
        .to_owned();
    let passkey = if config.mpesa_passkey == MPESA_PASSKEY {
        format!("{MPESA_PASSKEY} (public sandbox)")
    } else {
        "[configured, not shown]".to_owned()
    };
    format!(
        "finconnect-sandbox listening on {origin}
Dashboard         {origin}/  (open it in a browser)

PesaPal API 3.0   {pesapal}
  consumer_key     {key}
  consumer_secret  {secret}
  token lifetime   {ttl} s
ClickPesa         {clickpesa}
  client-id        {client}
  api-key          {api_key}
  checksum         {checksum}
  webhook URL      {webhook}
M-Pesa Daraja     {mpesa}
  consumer key     {mpesa_key}
  consumer secret  {mpesa_secret}
  shortcode        {shortcode} (paybill PartyB), till {till} (Buy Goods PartyB)
  passkey          {passkey}
  token lifetime   {mpesa_ttl} s

Control (JSON):
  GET    {origin}/_sandbox                       this summary
  GET    {origin}/_sandbox/requests              provider requests received
  DELETE {origin}/_sandbox/requests
  GET    {origin}/_sandbox/orders                IPNs, orders and payments
  GET    {origin}/_sandbox/deliveries            notifications sent and answers
  POST   {origin}/_sandbox/pesapal/orders/{{order_tracking_id}}/complete|fail|reverse
  POST   {origin}/_sandbox/clickpesa/payments/{{order_reference}}/complete|fail
  POST   {origin}/_sandbox/mpesa/stk/{{checkout_request_id}}/success|cancelled_by_user|no_response|wrong_pin|insufficient_funds|<code>
  GET|PUT {origin}/_sandbox/mpesa/options         {{\"reissue_invalidates_previous\": true}}
  PUT    {origin}/_sandbox/clickpesa/webhook     {{\"url\": \"http://127.0.0.1:3000/notifications/clickpesa\"}}
  POST   {origin}/_sandbox/faults                {{\"target\": \"pesapal_status\", \"kind\": \"html500\", \"times\": 1}}
  DELETE {origin}/_sandbox/faults

Ctrl-C stops it.",
        pesapal = sandbox.pesapal_base_url(),
        key = config.pesapal_consumer_key,
        secret = config.pesapal_consumer_secret,
        ttl = config.token_ttl.as_secs(),
        clickpesa = sandbox.clickpesa_base_url(),
        client = config.clickpesa_client_id,
        api_key = config.clickpesa_api_key,
        mpesa = sandbox.mpesa_base_url(),
        mpesa_key = config.mpesa_consumer_key,
        mpesa_secret = config.mpesa_consumer_secret,
        shortcode = config.mpesa_shortcode,
        till = config.mpesa_till_number,
        mpesa_ttl = config.mpesa_token_ttl.as_secs(),
    )
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("finconnect-sandbox {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("finconnect-sandbox: {message}");
            return ExitCode::from(2);
        }
    };
    let sandbox = match Sandbox::start_on(options.addr, options.config) {
        Ok(sandbox) => sandbox,
        Err(err) => {
            eprintln!(
                "finconnect-sandbox: cannot listen on {}: {err}",
                options.addr
            );
            return ExitCode::FAILURE;
        }
    };
    sandbox.set_verbose(!options.quiet);
    println!("{}", banner(&sandbox));
    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|runtime| runtime.block_on(tokio::signal::ctrl_c()));
    match waited {
        Ok(Ok(())) => {
            eprintln!("finconnect-sandbox: stopping");
            ExitCode::SUCCESS
        }
        Ok(Err(err)) | Err(err) => {
            eprintln!("finconnect-sandbox: cannot wait for Ctrl-C: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let Ok(Parsed::Run(options)) = parse(args(&[])) else {
            unreachable!("empty arguments parse");
        };
        assert_eq!(options.addr.to_string(), "127.0.0.1:9400");
        assert_eq!(options.config, SandboxConfig::default());

        let Ok(Parsed::Run(options)) = parse(args(&[
            "--addr=127.0.0.1:0",
            "--pesapal-consumer-key",
            "k",
            "--clickpesa-checksum-key=c",
            "--token-ttl",
            "7",
        ])) else {
            unreachable!("valid arguments parse");
        };
        assert_eq!(options.addr.port(), 0);
        assert_eq!(options.config.pesapal_consumer_key, "k");
        assert_eq!(options.config.clickpesa_checksum_key.as_deref(), Some("c"));
        assert_eq!(options.config.token_ttl, Duration::from_secs(7));
    }

    #[test]
    fn non_loopback_needs_the_flag_and_bad_input_is_refused() {
        assert!(parse(args(&["--addr", "0.0.0.0:9400"])).is_err());
        assert!(matches!(
            parse(args(&["--addr", "0.0.0.0:9400", "--allow-non-loopback"])),
            Ok(Parsed::Run(_))
        ));
        assert!(parse(args(&["--addr"])).is_err());
        assert!(parse(args(&["--token-ttl", "soon"])).is_err());
        assert!(parse(args(&["--clickpesa-webhook-url", "https://x"])).is_err());
        assert!(parse(args(&["--bogus"])).is_err());
        assert!(parse(args(&["--mpesa-shortcode", "17a379"])).is_err());
        let Ok(Parsed::Run(options)) = parse(args(&[
            "--mpesa-shortcode=600000",
            "--mpesa-till-number",
            "600001",
            "--mpesa-token-ttl=5",
        ])) else {
            unreachable!("valid arguments parse");
        };
        assert_eq!(options.config.mpesa_shortcode, "600000");
        assert_eq!(options.config.mpesa_till_number, "600001");
        assert_eq!(options.config.mpesa_token_ttl, Duration::from_secs(5));
        assert!(matches!(parse(args(&["--help"])), Ok(Parsed::Help)));
    }
}
