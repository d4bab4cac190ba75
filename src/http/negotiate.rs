//! Content negotiation: which answer format the request's `Accept` asks for.

use hyper::header::ACCEPT;
use hyper::Request;

/// Whether any `Accept` header of `request` names `media_type` (parameters such
/// as `q=` are ignored: a client that lists it gets it, whatever else it lists).
pub fn accepts<B>(request: &Request<B>, media_type: &str) -> bool {
    request
        .headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            item.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(media_type)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_media_type_is_accepted_whatever_its_parameters() {
        let request = Request::builder()
            .header(ACCEPT, "application/json;q=0.5, application/x-ndjson")
            .body(())
            .unwrap();
        assert!(accepts(&request, "application/x-ndjson"));
        assert!(accepts(&request, "Application/JSON"));
        assert!(!accepts(&request, "text/event-stream"));
        let request = Request::builder().header(ACCEPT, "*/*").body(()).unwrap();
        assert!(!accepts(&request, "application/x-ndjson"));
        let request = Request::builder()
            .header(ACCEPT, "text/plain")
            .header(ACCEPT, "text/event-stream; charset=utf-8")
            .body(())
            .unwrap();
        assert!(accepts(&request, "text/event-stream"));
    }
}
