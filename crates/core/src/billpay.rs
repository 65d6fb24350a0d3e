//! Control numbers (ClickPesa BillPay): a payable reference a customer pays
//! by mobile money or bank, created, read and updated through FinConnect.
//! These are the caller's words; `providers::clickpesa::billpay` checks
//! them against ClickPesa's rules and builds the calls.

use crate::domain::Provider;
use serde::{Deserialize, Serialize};

/// Which kind of control number to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlNumberKind {
    /// For one order (`create-order-control-number`).
    Order,
    /// For one customer (`create-customer-control-number`): a name and an
    /// email or phone are required.
    Customer,
}

/// How a control number with an amount may be paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillPaymentMode {
    /// Less or more than the amount is accepted (ClickPesa's default).
    AllowPartialAndOverPayment,
    /// Only the exact amount.
    Exact,
}

impl BillPaymentMode {
    /// ClickPesa's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BillPaymentMode::AllowPartialAndOverPayment => "ALLOW_PARTIAL_AND_OVER_PAYMENT",
            BillPaymentMode::Exact => "EXACT",
        }
    }
}

/// Whether a control number can be paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillStatus {
    /// Payable.
    Active,
    /// Not payable.
    Inactive,
}

impl BillStatus {
    /// ClickPesa's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BillStatus::Active => "ACTIVE",
            BillStatus::Inactive => "INACTIVE",
        }
    }
}

/// A control number to create. Amounts are exact decimal text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlNumberRequest {
    /// Order or customer; `None` is refused (the caller must say which).
    pub kind: Option<ControlNumberKind>,
    /// The merchant's bill reference (alphanumeric); it becomes the number.
    pub reference: Option<String>,
    /// The amount to collect.
    pub amount: Option<String>,
    /// What the bill is for (at most 500 characters).
    pub description: Option<String>,
    /// How it may be paid; only with an amount.
    pub payment_mode: Option<BillPaymentMode>,
    /// The most that may be collected; only with an amount and partial mode.
    pub max_collection_amount: Option<String>,
    /// The customer's name (customer control numbers only, required there).
    pub customer_name: Option<String>,
    /// The customer's email (customer control numbers; this or the phone).
    pub customer_email: Option<String>,
    /// The customer's phone, `255XXXXXXXXX` (customer control numbers).
    pub customer_phone: Option<String>,
}

/// Changes to a control number; at least one must be given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlNumberUpdate {
    /// Active or inactive.
    pub status: Option<BillStatus>,
    /// A new amount (at least 0.01, at most 2 decimals).
    pub amount: Option<String>,
    /// A new description (at most 500 characters).
    pub description: Option<String>,
    /// A new payment mode.
    pub payment_mode: Option<BillPaymentMode>,
    /// A new most-that-may-be-collected.
    pub max_collection_amount: Option<String>,
}

/// A control number as the provider reported it. Amounts have two decimals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlNumber {
    /// Which provider holds it.
    pub provider: Provider,
    /// The control number customers pay to.
    pub number: String,
    /// `ACTIVE`/`INACTIVE`, when reported.
    pub status: Option<BillStatus>,
    /// The amount, when the bill has one.
    pub amount: Option<String>,
    /// The description, when reported.
    pub description: Option<String>,
    /// The customer's name (customer control numbers).
    pub customer_name: Option<String>,
    /// The payment mode, when reported.
    pub payment_mode: Option<BillPaymentMode>,
    /// The most that may be collected, when reported.
    pub max_collection_amount: Option<String>,
}
