//! grpc-gateway's error answers: the HTTP status it gives each gRPC code,
//! the JSON body of a failed unary call (`{"error","message","code"}`), and
//! the last line of a failed stream (`{"error":{"grpc_code",...}}`).

use tonic::codegen::http::StatusCode;
use tonic::{Code, Status};

/// grpc-gateway v1's mapping of a gRPC code to an HTTP status.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The body of a failed unary call.
pub fn body(status: &Status) -> Vec<u8> {
    serde_json::json!({
        "error": status.message(),
        "code": status.code() as i32,
        "message": status.message(),
    })
    .to_string()
    .into_bytes()
}

/// The line that ends a failed stream.
pub fn stream_line(status: &Status) -> Vec<u8> {
    let http = http_status(status.code());
    let mut error = serde_json::Map::new();
    error.insert("grpc_code".into(), (status.code() as i32).into());
    error.insert("http_code".into(), http.as_u16().into());
    if !status.message().is_empty() {
        error.insert("message".into(), status.message().into());
    }
    error.insert(
        "http_status".into(),
        http.canonical_reason().unwrap_or_default().into(),
    );
    serde_json::json!({ "error": error })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_grpc_gateways() {
        let status = Status::not_found("etcdserver: requested lease not found");
        assert_eq!(http_status(status.code()), StatusCode::NOT_FOUND);
        let body: serde_json::Value = serde_json::from_slice(&body(&status)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "etcdserver: requested lease not found",
                               "message": "etcdserver: requested lease not found", "code": 5})
        );
        let line: serde_json::Value = serde_json::from_slice(&stream_line(&status)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"error": {"grpc_code": 5, "http_code": 404,
                "message": "etcdserver: requested lease not found", "http_status": "Not Found"}})
        );
        assert_eq!(
            http_status(Code::FailedPrecondition),
            StatusCode::PRECONDITION_FAILED
        );
    }
}
