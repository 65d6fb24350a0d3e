//! Filters and paging of `GET /payments` (the ledger's records, newest
//! first): `status=` keeps one ledger state, `after=` continues after the
//! record a previous page's `next` cursor names.
//!
//! A cursor is the record's place in the listing order — its creation time
//! and its key — written as `<created_at>.<hex of the key>`, so it is
//! URL-safe, stays valid while records are added, and says nothing a caller
//! could not already read.

use super::Problem;
use crate::ledger::{PaymentRecord, State};

/// Every state, for parsing `status=` and for the message naming them.
const STATES: [State; 8] = [
    State::Initiating,
    State::Pending,
    State::Completed,
    State::Failed,
    State::Reversed,
    State::RefundPending,
    State::Cancelled,
    State::Unknown,
];

/// A record's place in the newest-first listing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Cursor {
    created_at: u64,
    key: String,
}

impl Cursor {
    /// Where `record` stands.
    pub(super) fn of(record: &PaymentRecord) -> Cursor {
        Cursor {
            created_at: record.created_at,
            key: record.key(),
        }
    }

    /// The cursor's text.
    pub(super) fn encode(&self) -> String {
        let hex = hex::encode(&self.key);
        format!("{}.{hex}", self.created_at)
    }

    /// Reads `after=`; 422 naming `after` when it is not a cursor.
    pub(super) fn decode(text: &str) -> Result<Cursor, Problem> {
        let invalid =
            || Problem::invalid(422, "after", "must be the `next` cursor of a previous page");
        let (time, hex) = text.split_once('.').ok_or_else(invalid)?;
        let created_at = time.parse::<u64>().map_err(|_| invalid())?;
        if hex.is_empty() || hex.len() % 2 != 0 {
            return Err(invalid());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)?;
        let key = String::from_utf8(bytes).map_err(|_| invalid())?;
        Ok(Cursor { created_at, key })
    }
}

/// Reads `status=`; 422 naming `status` for anything but a ledger state.
pub(super) fn state(text: &str) -> Result<State, Problem> {
    STATES
        .into_iter()
        .find(|state| state.as_str() == text)
        .ok_or_else(|| {
            let names: Vec<&str> = STATES.iter().map(|state| state.as_str()).collect();
            Problem::invalid(
                422,
                "status",
                &format!("must be one of {}", names.join(", ")),
            )
        })
}

/// One page of `records` (oldest first, as the ledger lists them): newest
/// first, those of `provider` and `status` only, after `after`, at most
/// `limit`; and the cursor of the next page when more remain.
pub(super) fn page<'a>(
    records: &'a [PaymentRecord],
    keep: impl Fn(&PaymentRecord) -> bool,
    after: Option<&Cursor>,
    limit: usize,
) -> (Vec<&'a PaymentRecord>, Option<String>) {
    let mut matching = records
        .iter()
        .rev()
        .filter(|record| keep(record))
        .filter(|record| after.is_none_or(|after| Cursor::of(record) < *after));
    let data: Vec<&PaymentRecord> = matching.by_ref().take(limit).collect();
    let next = match (matching.next(), data.last()) {
        (Some(_), Some(last)) => Some(Cursor::of(last).encode()),
        _ => None,
    };
    (data, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = Cursor {
            created_at: 1_700_000_000_123,
            key: "finconnect/ledger/payment/clickpesa/ORD 1".to_owned(),
        };
        let text = cursor.encode();
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.'));
        // A `next` cursor handed out before an upgrade still pages after it.
        assert_eq!(
            text,
            "1700000000123.66696e636f6e6e6563742f6c65646765722f7061796d656e742f636c69636b706573612f4f52442031"
        );
        assert_eq!(Cursor::decode(&text).ok(), Some(cursor));
        for bad in ["", "12", "x.41", "12.4", "12.zz", "12.", "12.ff"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_are_the_ledger_names() {
        assert_eq!(state("refund_pending").ok(), Some(State::RefundPending));
        assert!(state("paid").is_err());
        assert!(state("Completed").is_err());
    }
}
