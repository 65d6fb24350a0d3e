//! A transport for the core's tests: it answers from a script and records
//! every request it was asked to send.

use super::{HttpRequest, HttpResponse, Transport, TransportError};
use std::collections::VecDeque;

/// One scripted reply: a status and a body (HTML when it starts with `<`,
/// JSON otherwise), or a transport failure.
pub(crate) type Reply = Result<(u16, &'static str), TransportError>;

/// Answers requests with its script, in order; an exhausted script fails.
#[derive(Default)]
pub(crate) struct Scripted {
    replies: VecDeque<Result<HttpResponse, TransportError>>,
    /// Every request sent, in order.
    pub(crate) seen: Vec<HttpRequest>,
}

impl Scripted {
    pub(crate) fn new(replies: Vec<Result<(u16, &str), TransportError>>) -> Self {
        Self {
            replies: replies
                .into_iter()
                .map(|reply| {
                    reply.map(|(status, body)| {
                        let content_type = if body.starts_with('<') {
                            "text/html"
                        } else {
                            "application/json"
                        };
                        HttpResponse::new(status, body.as_bytes().to_vec())
                            .with_header("content-type", content_type)
                    })
                })
                .collect(),
            seen: Vec::new(),
        }
    }

    /// `METHOD /path` of every request sent.
    pub(crate) fn paths(&self) -> Vec<String> {
        self.seen
            .iter()
            .map(|request| format!("{} {}", request.method, request.path()))
            .collect()
    }
}

impl Transport for Scripted {
    fn send(&mut self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.seen.push(request);
        self.replies
            .pop_front()
            .unwrap_or_else(|| Err(TransportError::Failed("script exhausted".to_owned())))
    }
}
