//! Safaricom M-Pesa Daraja, Lipa na M-Pesa Online (STK push):
//! `GET /oauth/v1/generate?grant_type=client_credentials` with HTTP Basic
//! credentials, then `POST /mpesa/stkpush/v1/processrequest` (the prompt on
//! the customer's phone) or `POST /mpesa/stkpushquery/v1/query` (its
//! outcome) with `Authorization: Bearer <token>`. Facts and sources:
//! `specs/mpesa-daraja.md` §2–§5.
//!
//! Quirks handled here: `expires_in`, `ResponseCode` and `ResultCode` as a
//! string or a number; success as an all-zero `ResponseCode` (`"0"`,
//! `"00000000"`); the gateway's `{requestId, errorCode, errorMessage}` body,
//! whose one code `500.001.1001` covers unrelated causes (so the message is
//! read too: "The transaction is being processed" is a pending payment, not
//! an error); HTML, SOAP-fault and empty bodies; non-numeric result codes
//! such as `SFC_IC0003`. The `Password` is `base64(shortcode ‖ passkey ‖
//! timestamp)` with ONE timestamp, in East Africa Time, taken from the
//! caller's clock (`now_unix`): nothing here reads a clock.

pub mod callback;
mod connector;
mod wire;

pub use connector::Mpesa;

use self::wire::*;
use super::{AccessToken, describe_unreadable, finish, request};
use crate::config::{self, Variables, names};
use crate::domain::{
    Payment, PaymentDetails, PaymentMethod, PaymentRequest, PaymentStatus, Provider,
};
use crate::error::{Error, ProviderError, Result};
use crate::money::Amount;
use crate::secret::Secret;
use crate::transport::{HttpRequest, HttpResponse, Method, header_text};
use crate::validate;
use serde::de::DeserializeOwned;

/// Who answers.
pub const PROVIDER: Provider = Provider::Mpesa;

/// Error codes with which the gateway refuses an access token (expired,
/// reissued, from another environment, or an app without the product).
const TOKEN_REFUSED_CODES: [&str; 2] = ["404.001.03", "401.002.01"];

/// The OAuth code for refused Basic credentials.
const CREDENTIALS_REFUSED_CODE: &str = "400.008.01";

/// The code and message with which the STK query says "not answered yet".
const BEING_PROCESSED_CODE: &str = "500.001.1001";
const BEING_PROCESSED_MESSAGE: &str = "the transaction is being processed";

/// How [`Error::Authentication`] messages for a refused access token start;
/// [`is_invalid_token`] recognises them by it.
const TOKEN_REFUSED: &str = "access token refused";

/// How [`Error::Authentication`] messages for refused credentials start.
const CREDENTIALS_REFUSED: &str = "consumer key and secret refused";

/// The largest amount Daraja takes in one STK push (2025 FAQ), in KES.
pub const MAX_AMOUNT_KES: u32 = 250_000;

/// The `TransactionDesc` sent when the payment request has no description.
pub const DEFAULT_DESCRIPTION: &str = "Payment";

/// East Africa Time: UTC+3 all year (no daylight saving).
const EAT_OFFSET_SECONDS: u64 = 3 * 3600;

macro_rules! credential {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Its own type, so that credentials cannot be swapped silently; its
        /// `Debug` shows no value.
        #[derive(Clone, Debug)]
        pub struct $name(Secret);

        impl $name {
            /// Wraps a secret.
            pub fn new(secret: Secret) -> Self {
                Self(secret)
            }

            /// The value itself.
            pub fn expose(&self) -> &str {
                self.0.expose()
            }
        }
    };
}

credential!(
    /// The Daraja app's consumer key.
    ConsumerKey
);
credential!(
    /// The Daraja app's consumer secret.
    ConsumerSecret
);
credential!(
    /// The Lipa na M-Pesa Online passkey of the shortcode.
    Passkey
);

/// Paybill or till: decides `TransactionType` and `PartyB`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransactionType {
    /// `CustomerPayBillOnline`: `PartyB` is the shortcode.
    #[default]
    PayBill,
    /// `CustomerBuyGoodsOnline`: `PartyB` is the till number (`mpesa_party_b`).
    BuyGoods,
}

impl TransactionType {
    /// The name Daraja expects, exact case.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::PayBill => "CustomerPayBillOnline",
            TransactionType::BuyGoods => "CustomerBuyGoodsOnline",
        }
    }

    /// Reads `paybill`/`buygoods` or Daraja's own names, in any case.
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "paybill" | "customerpaybillonline" => Some(TransactionType::PayBill),
            "buygoods" | "customerbuygoodsonline" => Some(TransactionType::BuyGoods),
            _ => None,
        }
    }
}

/// M-Pesa settings, read from variables at call time.
#[derive(Clone, Debug)]
pub struct MpesaConfig {
    /// Base URL without a trailing slash (`https://sandbox.safaricom.co.ke`).
    pub base_url: String,
    /// Consumer key.
    pub consumer_key: ConsumerKey,
    /// Consumer secret.
    pub consumer_secret: ConsumerSecret,
    /// Passkey of the shortcode.
    pub passkey: Passkey,
    /// `BusinessShortCode`: 5 to 7 digits.
    pub shortcode: String,
    /// The till number for Buy Goods (`PartyB`); `None` for paybills.
    pub party_b: Option<String>,
    /// Paybill or till.
    pub transaction_type: TransactionType,
    /// The default `CallBackURL`.
    pub callback_url: Option<String>,
}

impl MpesaConfig {
    /// Reads `mpesa_base_url` (default the sandbox), `mpesa_consumer_key`,
    /// `mpesa_consumer_secret`, `mpesa_passkey`, `mpesa_shortcode`, and the
    /// optional `mpesa_transaction_type` (`paybill` by default, or
    /// `buygoods`), `mpesa_party_b` (the till number; required for
    /// `buygoods`, refused for a paybill unless equal to the shortcode) and
    /// `mpesa_callback_url`.
    pub fn load(vars: &dyn Variables) -> Result<Self> {
        let base_url = config::base_url(vars, names::MPESA_BASE_URL, config::MPESA_SANDBOX_URL)?;
        let consumer_key =
            ConsumerKey::new(config::required_secret(vars, names::MPESA_CONSUMER_KEY)?);
        let consumer_secret =
            ConsumerSecret::new(config::required_secret(vars, names::MPESA_CONSUMER_SECRET)?);
        let passkey = Passkey::new(config::required_secret(vars, names::MPESA_PASSKEY)?);
        let shortcode = config::optional(vars, names::MPESA_SHORTCODE)?
            .ok_or_else(|| Error::config(names::MPESA_SHORTCODE, "is not set"))?;
        if !is_short_code(&shortcode) {
            return Err(Error::config(
                names::MPESA_SHORTCODE,
                "must be 5 to 7 digits (the paybill, or the head office number of a till)",
            ));
        }
        let transaction_type = match config::optional(vars, names::MPESA_TRANSACTION_TYPE)? {
            None => TransactionType::default(),
            Some(text) => TransactionType::parse(&text).ok_or_else(|| {
                Error::config(
                    names::MPESA_TRANSACTION_TYPE,
                    "must be `paybill` (CustomerPayBillOnline) or `buygoods` (CustomerBuyGoodsOnline)",
                )
            })?,
        };
        let party_b = config::optional(vars, names::MPESA_PARTY_B)?;
        if party_b.as_deref().is_some_and(|till| !is_short_code(till)) {
            return Err(Error::config(
                names::MPESA_PARTY_B,
                "must be 5 to 7 digits (the till number)",
            ));
        }
        match (transaction_type, &party_b) {
            (TransactionType::BuyGoods, None) => {
                return Err(Error::config(
                    names::MPESA_PARTY_B,
                    "is not set: `buygoods` needs the till number as PartyB",
                ));
            }
            (TransactionType::PayBill, Some(party)) if *party != shortcode => {
                return Err(Error::config(
                    names::MPESA_PARTY_B,
                    "is only for `buygoods` (the till number): a paybill is paid to its own \
                     shortcode; remove it or set `mpesa_transaction_type` to `buygoods`",
                ));
            }
            _ => {}
        }
        let callback_url = config::optional(vars, names::MPESA_CALLBACK_URL)?;
        if let Some(url) = &callback_url {
            validate::absolute_http_url(url)
                .map_err(|reason| Error::config(names::MPESA_CALLBACK_URL, reason))?;
        }
        Ok(Self {
            base_url,
            consumer_key,
            consumer_secret,
            passkey,
            shortcode,
            party_b,
            transaction_type,
            callback_url,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// `PartyB`: the shortcode for a paybill, the till for Buy Goods.
    fn party_b(&self) -> &str {
        match self.transaction_type {
            TransactionType::PayBill => &self.shortcode,
            TransactionType::BuyGoods => self.party_b.as_deref().unwrap_or(&self.shortcode),
        }
    }
}

fn is_short_code(text: &str) -> bool {
    (5..=7).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// `GET {base}/oauth/v1/generate?grant_type=client_credentials` with
/// `Authorization: Basic base64(key:secret)`, no body.
pub fn token_request(config: &MpesaConfig) -> Result<HttpRequest> {
    let credentials = format!(
        "{}:{}",
        config.consumer_key.expose(),
        config.consumer_secret.expose()
    );
    finish(
        request(
            Method::Get,
            config.url("/oauth/v1/generate?grant_type=client_credentials"),
        )
        .with_header(
            "authorization",
            format!("Basic {}", base64(credentials.as_bytes())),
        ),
        names::MPESA_BASE_URL,
    )
}

/// Reads the OAuth reply. `expires_in` (seconds, `"3599"` or `3599`) is kept
/// as text in [`AccessToken::expires`].
///
/// Daraja may answer a wrong key or secret with an empty HTTP 400 (spec §2):
/// that stays an unreadable reply, but its message says so.
pub fn parse_token(response: &HttpResponse) -> Result<AccessToken> {
    if response.status == 400 && response.body.trim_ascii().is_empty() {
        return Err(Error::unexpected(
            PROVIDER,
            400,
            format!(
                "{}; Daraja answers a wrong consumer key or secret this way",
                describe_unreadable(response)
            ),
        ));
    }
    check_reply(response, Step::Token)?;
    let reply: MpesaTokenResponse = read_json(response)?;
    let token = reply
        .access_token
        .as_ref()
        .and_then(Text::non_blank)
        .ok_or_else(|| {
            Error::unexpected(
                PROVIDER,
                response.status,
                "token reply without access_token",
            )
        })?;
    if header_text(token).is_none() {
        return Err(Error::unexpected(
            PROVIDER,
            response.status,
            "token reply with an access_token that cannot go into a header",
        ));
    }
    Ok(AccessToken {
        value: Secret::new(token),
        expires: reply
            .expires_in
            .as_ref()
            .and_then(Text::non_blank)
            .map(str::to_owned),
    })
}

/// A payment request checked against Daraja's STK push rules. It owns every
/// value the request needs, already in Daraja's form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StkPush {
    reference: String,
    amount_kes: u32,
    phone: String,
    description: String,
    callback_url: Option<String>,
}

impl StkPush {
    /// The merchant reference, sent as `AccountReference`.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The amount in whole Kenyan shillings.
    pub fn amount_kes(&self) -> u32 {
        self.amount_kes
    }

    /// The paying MSISDN in `2547XXXXXXXX`/`2541XXXXXXXX` form (`PartyA`, `PhoneNumber`).
    pub fn phone(&self) -> &str {
        &self.phone
    }

    /// `TransactionDesc`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The request's own `callback_url`, if it gave one.
    pub fn callback_url(&self) -> Option<&str> {
        self.callback_url.as_deref()
    }
}

/// Checks a payment request for an STK push; nothing is sent if this fails.
///
/// - `currency` must be `KES`.
/// - `amount` whole shillings, 1 to 250 000: `"100"` or `"100.00"` (any zero
///   decimal part); `"100.50"` is refused, not rounded.
/// - `reference` becomes `AccountReference`: 1 to 12 letters and digits.
/// - `description` becomes `TransactionDesc`: at most 13 characters of
///   letters, digits, spaces and `. , - _` (special characters make prompts
///   fail silently, spec §8); `"Payment"` when absent.
/// - `customer.phone` is required. `2547XXXXXXXX` and `2541XXXXXXXX` are
///   taken as they are; the forms people type are normalised to them:
///   `07…`/`01…` (10 digits) and `+2547…`/`+2541…` lose their prefix and
///   gain `254`. Anything else (spaces, other countries) is refused.
/// - `callback_url`, when given, must be an absolute http(s) URL.
/// - `method`, when given, must be `mobile_money`.
pub fn validate_payment(request: &PaymentRequest) -> Result<StkPush> {
    // An STK push is mobile money; a card or checkout link would silently
    // become a push.
    if let Some(method) = request.method
        && method != PaymentMethod::MobileMoney
    {
        return Err(Error::invalid(
            "method",
            format!(
                "M-Pesa collects by STK push only (`mobile_money`), not `{}`",
                method.as_str()
            ),
        ));
    }
    validate::currency(&request.currency).map_err(|r| Error::invalid("currency", r))?;
    if request.currency != "KES" {
        return Err(Error::invalid("currency", "must be KES for M-Pesa"));
    }
    let amount_kes = whole_shillings(&request.amount)?;
    let reference = &request.reference;
    if !((1..=12).contains(&reference.len())
        && reference.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(Error::invalid(
            "reference",
            "must be 1 to 12 letters and digits for M-Pesa (it is the AccountReference shown in the prompt)",
        ));
    }
    let description = match request.description.as_deref() {
        None => DEFAULT_DESCRIPTION.to_owned(),
        Some(text) => {
            let allowed =
                |c: char| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | ',' | '-' | '_');
            let valid =
                !text.trim().is_empty() && text.chars().count() <= 13 && text.chars().all(allowed);
            if !valid {
                return Err(Error::invalid(
                    "description",
                    "must be 1 to 13 characters of letters, digits, spaces, '.', ',', '-' or '_' for M-Pesa (TransactionDesc)",
                ));
            }
            text.to_owned()
        }
    };
    let phone = request
        .customer
        .phone
        .as_deref()
        .ok_or_else(|| Error::invalid("customer.phone", "is required for M-Pesa"))?;
    let phone = normalise_msisdn(phone).ok_or_else(|| {
        Error::invalid(
            "customer.phone",
            "must be a Safaricom number: 2547XXXXXXXX or 2541XXXXXXXX (also accepted: 07…, 01…, +2547…, +2541…)",
        )
    })?;
    if let Some(url) = &request.callback_url {
        validate::absolute_http_url(url).map_err(|r| Error::invalid("callback_url", r))?;
    }
    Ok(StkPush {
        reference: reference.clone(),
        amount_kes,
        phone,
        description,
        callback_url: request.callback_url.clone(),
    })
}

/// The amount as whole shillings, read exactly through [`Amount`].
fn whole_shillings(text: &str) -> Result<u32> {
    let amount = validate::amount(text).map_err(|r| Error::invalid("amount", r))?;
    let hundredths = amount.hundredths();
    if hundredths % 100 != 0 {
        return Err(Error::invalid(
            "amount",
            "must be whole shillings for M-Pesa, such as \"100\" or \"100.00\"",
        ));
    }
    match u32::try_from(hundredths / 100) {
        Ok(kes) if kes <= MAX_AMOUNT_KES => Ok(kes),
        _ => Err(Error::invalid(
            "amount",
            "must be at most 250000 KES for one M-Pesa STK push",
        )),
    }
}

/// `2547XXXXXXXX`/`2541XXXXXXXX` from the forms Kenyans write their number in.
fn normalise_msisdn(text: &str) -> Option<String> {
    let national = if let Some(rest) = text.strip_prefix("+254") {
        rest
    } else if text.len() == 12 {
        text.strip_prefix("254")?
    } else {
        text.strip_prefix('0')?
    };
    let valid = national.len() == 9
        && matches!(national.as_bytes().first(), Some(b'7' | b'1'))
        && national.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| format!("254{national}"))
}

/// The `CallBackURL` for `push`: its own, else the configured default.
/// Call it before fetching a token, so a missing URL costs no call.
pub fn callback_url<'a>(config: &'a MpesaConfig, push: &'a StkPush) -> Result<&'a str> {
    push.callback_url
        .as_deref()
        .or(config.callback_url.as_deref())
        .ok_or_else(|| {
            Error::config(
                names::MPESA_CALLBACK_URL,
                "is not set and the payment request has no `callback_url`: M-Pesa needs one \
                 of them to report the outcome",
            )
        })
}

/// `YYYYMMDDHHmmss` in East Africa Time (UTC+3) for a Unix time.
pub fn timestamp(now_unix: u64) -> String {
    let local = now_unix.saturating_add(EAT_OFFSET_SECONDS);
    let (year, month, day) = civil_date(local / 86_400);
    let seconds = local % 86_400;
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// The Gregorian (year, month, day) of a count of days since 1970-01-01.
/// Counts in 400-year eras of 146 097 days from 0000-03-01, with March as
/// the first month so that the leap day falls at the end of a year.
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    // 719 468 days separate 0000-03-01 from 1970-01-01.
    let days = days_since_epoch + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 = March … 11 = February.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// `Password`: `base64(shortcode ‖ passkey ‖ timestamp)`. Derived from the
/// passkey, so it is a secret too.
pub fn password(shortcode: &str, passkey: &Passkey, timestamp: &str) -> Secret {
    let plain = format!("{shortcode}{}{timestamp}", passkey.expose());
    Secret::new(base64(plain.as_bytes()))
}

/// `POST {base}/mpesa/stkpush/v1/processrequest`: the prompt on the
/// customer's phone. One timestamp, from `now_unix`, goes into both
/// `Timestamp` and `Password`.
pub fn stk_push_request(
    config: &MpesaConfig,
    token: &AccessToken,
    push: &StkPush,
    now_unix: u64,
) -> Result<HttpRequest> {
    let call_back_url = callback_url(config, push)?;
    let timestamp = timestamp(now_unix);
    let password = password(&config.shortcode, &config.passkey, &timestamp);
    let body = MpesaStkPushRequest {
        business_short_code: &config.shortcode,
        password: password.expose(),
        timestamp: &timestamp,
        transaction_type: config.transaction_type.as_str(),
        amount: push.amount_kes,
        party_a: &push.phone,
        party_b: config.party_b(),
        phone_number: &push.phone,
        call_back_url,
        account_reference: &push.reference,
        transaction_desc: &push.description,
    };
    authorized_json(
        config,
        token,
        "/mpesa/stkpush/v1/processrequest",
        to_json(&body)?,
    )
}

/// Reads the STK push reply: accepted only when `ResponseCode` is all
/// zeros. Acceptance means the prompt was sent, not that anyone paid.
pub fn parse_stk_push(response: &HttpResponse, push: &StkPush) -> Result<Payment> {
    check_reply(response, Step::Api)?;
    let reply: MpesaStkPushResponse = read_json(response)?;
    let status = response.status;
    let code = reply
        .response_code
        .as_ref()
        .and_then(Text::non_blank)
        .ok_or_else(|| {
            Error::unexpected(PROVIDER, status, "STK push reply without ResponseCode")
        })?;
    if !is_all_zeros(code) {
        let message = [&reply.response_description, &reply.customer_message]
            .into_iter()
            .find_map(|text| text.as_ref().and_then(Text::non_blank))
            .map_or_else(|| format!("ResponseCode {code}"), str::to_owned);
        return Err(Error::Provider(ProviderError {
            provider: PROVIDER,
            http_status: status,
            code: Some(code.to_owned()),
            message,
        }));
    }
    let tracking_id = reply
        .checkout_request_id
        .as_ref()
        .and_then(Text::non_blank)
        .filter(|id| validate_checkout_request_id(id).is_ok())
        .ok_or_else(|| {
            Error::unexpected(
                PROVIDER,
                status,
                "STK push reply without a usable CheckoutRequestID",
            )
        })?;
    Ok(Payment {
        provider: PROVIDER,
        reference: push.reference.clone(),
        tracking_id: tracking_id.to_owned(),
        redirect_url: None,
        status: PaymentStatus::Pending,
    })
}

/// A `CheckoutRequestID` (`ws_CO_…`), in a safe charset so it can go into a
/// path or a body untouched: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn validate_checkout_request_id(id: &str) -> Result<()> {
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "id",
            "must be an M-Pesa CheckoutRequestID (1 to 64 of A-Z, a-z, 0-9, '_', '-')",
        ))
    }
}

/// `POST {base}/mpesa/stkpushquery/v1/query` with a fresh timestamp and password.
pub fn stk_query_request(
    config: &MpesaConfig,
    token: &AccessToken,
    checkout_request_id: &str,
    now_unix: u64,
) -> Result<HttpRequest> {
    validate_checkout_request_id(checkout_request_id)?;
    let timestamp = timestamp(now_unix);
    let password = password(&config.shortcode, &config.passkey, &timestamp);
    let body = MpesaStkQueryRequest {
        business_short_code: &config.shortcode,
        password: password.expose(),
        timestamp: &timestamp,
        checkout_request_id,
    };
    authorized_json(
        config,
        token,
        "/mpesa/stkpushquery/v1/query",
        to_json(&body)?,
    )
}

/// Reads the STK query reply. `ResultCode` decides ([`ResultCode`]); the
/// "The transaction is being processed" error (`500.001.1001`, whatever the
/// HTTP status) means the customer has not answered yet: pending. The query
/// carries no amount, receipt or phone; `tracking_id` is the reply's
/// `CheckoutRequestID` (in the pending answer, its `requestId`, which
/// echoes it).
pub fn parse_stk_query(response: &HttpResponse) -> Result<PaymentDetails> {
    if response.status != 401 {
        let envelope: MpesaErrorBody = read_json(response)?;
        if let Some(message) = being_processed(&envelope) {
            return Ok(PaymentDetails {
                provider: PROVIDER,
                reference: None,
                tracking_id: envelope
                    .request_id
                    .as_ref()
                    .and_then(Text::non_blank)
                    .filter(|id| validate_checkout_request_id(id).is_ok())
                    .map(str::to_owned),
                status: PaymentStatus::Pending,
                amount: None,
                currency: None,
                method: None,
                confirmation_code: None,
                description: Some(message.to_owned()),
            });
        }
    }
    check_reply(response, Step::Api)?;
    let reply: MpesaStkQueryResponse = read_json(response)?;
    let status = response.status;
    let refused = reply
        .response_code
        .as_ref()
        .and_then(Text::non_blank)
        .filter(|code| !is_all_zeros(code));
    if let Some(code) = refused {
        return Err(Error::Provider(ProviderError {
            provider: PROVIDER,
            http_status: status,
            code: Some(code.to_owned()),
            message: reply
                .response_description
                .as_ref()
                .and_then(Text::non_blank)
                .map_or_else(|| format!("ResponseCode {code}"), str::to_owned),
        }));
    }
    let result = reply
        .result_code
        .as_ref()
        .and_then(Text::non_blank)
        .map(ResultCode::parse)
        .ok_or_else(|| Error::unexpected(PROVIDER, status, "STK query reply without ResultCode"))?;
    Ok(PaymentDetails {
        provider: PROVIDER,
        reference: None,
        tracking_id: reply
            .checkout_request_id
            .as_ref()
            .and_then(Text::non_blank)
            .filter(|id| validate_checkout_request_id(id).is_ok())
            .map(str::to_owned),
        status: PaymentStatus::from(&result),
        amount: None,
        currency: None,
        method: None,
        confirmation_code: None,
        description: reply
            .result_desc
            .as_ref()
            .and_then(Text::non_blank)
            .map(str::to_owned),
    })
}

/// The provider's words when `envelope` is the query's "being processed" answer.
fn being_processed(envelope: &MpesaErrorBody) -> Option<&str> {
    let code = envelope.error_code.as_ref().and_then(Text::non_blank)?;
    let message = envelope.error_message.as_ref().and_then(Text::non_blank)?;
    (code == BEING_PROCESSED_CODE
        && message
            .to_ascii_lowercase()
            .contains(BEING_PROCESSED_MESSAGE))
    .then_some(message)
}

/// Whether `error` is Daraja refusing the access token of an API call
/// (`404.001.03`, `401.002.01`, or HTTP 401). The refusal comes before any
/// prompt is sent, so the flow may fetch a new token and retry once.
pub fn is_invalid_token(error: &Error) -> bool {
    matches!(
        error,
        Error::Authentication { provider, message }
            if *provider == PROVIDER && message.starts_with(TOKEN_REFUSED)
    )
}

/// The result of an STK push, from the query or the callback. Known codes
/// are named (spec §4); any other is kept as [`ResultCode::Other`] and is a
/// failure, never a success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultCode {
    /// `0`: paid.
    Success,
    /// `1`: the customer's balance is insufficient.
    InsufficientBalance,
    /// `2`: below the minimum amount.
    DeclinedLimitRule,
    /// `3`: above the maximum amount.
    AboveMaximum,
    /// `4`: the customer's daily limit would be exceeded.
    DailyLimit,
    /// `8`: the receiving account's balance limit would be exceeded.
    BalanceLimit,
    /// `17`: same amount to the same customer within 2 minutes.
    RuleLimited,
    /// `26`: system busy.
    SystemBusy,
    /// `1001`: another session holds the subscriber.
    SubscriberLocked,
    /// `1019`: the transaction expired.
    Expired,
    /// `1025`: the push could not be sent (prompt too long).
    PushFailed,
    /// `9999`: error sending the push.
    PushError,
    /// `1031`: cancelled by the customer.
    CancelledByUser1031,
    /// `1032`: cancelled by the customer (prompt dismissed).
    CancelledByUser,
    /// `1037`: the customer's phone could not be reached, or no answer.
    NoResponse,
    /// `2001`: wrong M-Pesa PIN.
    InvalidInitiator,
    /// `2028`: not permitted for the product (wrong TransactionType or PartyB).
    NotPermitted,
    /// `8006`: the customer's PIN is locked.
    CredentialLocked,
    /// `SFC_IC0003`: the operator does not exist (till paid as a paybill).
    OperatorDoesNotExist,
    /// Any other code, as Daraja wrote it.
    Other(String),
}

impl ResultCode {
    /// Reads a code as Daraja writes it (`"0"`, `1032`, `"SFC_IC0003"`).
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        let number = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<u64>().ok()
        } else {
            None
        };
        match number {
            Some(0) => Self::Success,
            Some(1) => Self::InsufficientBalance,
            Some(2) => Self::DeclinedLimitRule,
            Some(3) => Self::AboveMaximum,
            Some(4) => Self::DailyLimit,
            Some(8) => Self::BalanceLimit,
            Some(17) => Self::RuleLimited,
            Some(26) => Self::SystemBusy,
            Some(1001) => Self::SubscriberLocked,
            Some(1019) => Self::Expired,
            Some(1025) => Self::PushFailed,
            Some(9999) => Self::PushError,
            Some(1031) => Self::CancelledByUser1031,
            Some(1032) => Self::CancelledByUser,
            Some(1037) => Self::NoResponse,
            Some(2001) => Self::InvalidInitiator,
            Some(2028) => Self::NotPermitted,
            Some(8006) => Self::CredentialLocked,
            _ if text.eq_ignore_ascii_case("SFC_IC0003") => Self::OperatorDoesNotExist,
            _ => Self::Other(text.to_owned()),
        }
    }

    /// Whether the customer cancelled the prompt (`1031`, `1032`).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::CancelledByUser | Self::CancelledByUser1031)
    }
}

impl From<&ResultCode> for PaymentStatus {
    fn from(code: &ResultCode) -> Self {
        match code {
            ResultCode::Success => PaymentStatus::Completed,
            ResultCode::InsufficientBalance
            | ResultCode::DeclinedLimitRule
            | ResultCode::AboveMaximum
            | ResultCode::DailyLimit
            | ResultCode::BalanceLimit
            | ResultCode::RuleLimited
            | ResultCode::SystemBusy
            | ResultCode::SubscriberLocked
            | ResultCode::Expired
            | ResultCode::PushFailed
            | ResultCode::PushError
            | ResultCode::CancelledByUser1031
            | ResultCode::CancelledByUser
            | ResultCode::NoResponse
            | ResultCode::InvalidInitiator
            | ResultCode::NotPermitted
            | ResultCode::CredentialLocked
            | ResultCode::OperatorDoesNotExist
            | ResultCode::Other(_) => PaymentStatus::Failed,
        }
    }
}

/// `"0"`, `"00000000"`: Daraja's success codes.
fn is_all_zeros(code: &str) -> bool {
    !code.is_empty() && code.bytes().all(|b| b == b'0')
}

/// Which call a reply answers: it decides what an authentication refusal means.
#[derive(Clone, Copy)]
enum Step {
    /// The OAuth call: refusal means the consumer key and secret.
    Token,
    /// An API call: refusal means the access token.
    Api,
}

/// Turns a refusal into an error: HTTP 401 or a token code is an
/// [`Error::Authentication`]; any other `errorCode` or HTTP error status is
/// an [`Error::Provider`] keeping Daraja's code and message; a body that is
/// not JSON is an unreadable reply. `Ok` when the reply is no refusal.
fn check_reply(response: &HttpResponse, step: Step) -> Result<()> {
    let status = response.status;
    let envelope: Option<MpesaErrorBody> = match read_json(response) {
        Ok(envelope) => Some(envelope),
        Err(_) if status == 401 => None,
        Err(unreadable) => return Err(unreadable),
    };
    let text = |member: Option<&Text>| member.and_then(Text::non_blank).map(str::to_owned);
    let code = text(envelope.as_ref().and_then(|e| e.error_code.as_ref()));
    let message = text(envelope.as_ref().and_then(|e| e.error_message.as_ref()));
    if code.is_none() && status < 400 {
        return Ok(());
    }
    let refused_auth = status == 401
        || code.as_deref().is_some_and(|code| match step {
            Step::Token => code == CREDENTIALS_REFUSED_CODE,
            Step::Api => TOKEN_REFUSED_CODES.contains(&code),
        });
    if refused_auth {
        let what = match step {
            Step::Token => CREDENTIALS_REFUSED,
            Step::Api => TOKEN_REFUSED,
        };
        let message = match (&code, &message) {
            (Some(code), Some(message)) => format!("{what} ({code}): {message}"),
            (Some(code), None) => format!("{what} ({code})"),
            (None, Some(message)) => format!("{what} (HTTP {status}): {message}"),
            (None, None) => format!("{what} (HTTP {status})"),
        };
        return Err(Error::Authentication {
            provider: PROVIDER,
            message,
        });
    }
    let message = message
        .or_else(|| code.clone())
        .unwrap_or_else(|| format!("HTTP {status} without an error code"));
    Err(Error::Provider(ProviderError {
        provider: PROVIDER,
        http_status: status,
        code,
        message,
    }))
}

/// Reads a reply body as `T`. A body that is not JSON (HTML, empty) is
/// described by its size and content type; JSON of another shape by where
/// serde stopped. Neither echoes the body, which may carry a token.
fn read_json<T: DeserializeOwned>(response: &HttpResponse) -> Result<T> {
    serde_json::from_slice(&response.body).map_err(|error| {
        let what = if error.is_data() {
            format!(
                "reply did not have the documented shape (line {}, column {})",
                error.line(),
                error.column()
            )
        } else {
            describe_unreadable(response)
        };
        Error::unexpected(PROVIDER, response.status, what)
    })
}

fn to_json<T: serde::Serialize>(body: &T) -> Result<Vec<u8>> {
    // Only strings and integers: serde_json cannot fail on them.
    serde_json::to_vec(body)
        .map_err(|error| Error::invalid("body", format!("could not be written as JSON: {error}")))
}

fn authorized_json(
    config: &MpesaConfig,
    token: &AccessToken,
    path: &str,
    body: Vec<u8>,
) -> Result<HttpRequest> {
    finish(
        request(Method::Post, config.url(path))
            .with_header("authorization", format!("Bearer {}", token.value.expose()))
            .with_header("content-type", "application/json")
            .with_body(body),
        names::MPESA_BASE_URL,
    )
}

/// An exact decimal amount (`"1"`, `"1.00"`, `"100.5"`) as a count of
/// hundredths. Digits past the second decimal must be zeros: nothing is
/// rounded. Exponents, signs and blanks are refused.
fn exact_hundredths(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.ends_with('.') || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.bytes().skip(2).any(|b| b != b'0') {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let mut cents = 0;
    for (weight, digit) in [10, 1].into_iter().zip(fraction.bytes()) {
        cents += weight * u64::from(digit - b'0');
    }
    whole.checked_mul(100)?.checked_add(cents)
}

/// An exact amount with two decimals (`"1.00"`), or `None` when `text` is
/// not an exact decimal of at most two (significant) decimals.
fn fixed2(text: &str) -> Option<String> {
    exact_hundredths(text.trim()).map(Amount::fixed2_from_hundredths)
}

/// Standard padded base64 (RFC 4648 §4). Small enough to write here
/// instead of adding a crate to the component.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let group = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                let sextet = (group >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[sextet as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
