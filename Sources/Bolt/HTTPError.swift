/// An error that becomes a response: its status, and a message for the client.
///
/// ```swift
/// guard let user = users[id] else { throw HTTPError(.notFound, "no user \(id)") }
/// ```
///
/// The app's error handler (``App/Configuration/errorHandler``) turns it into the response; the default one
/// answers `{"error":"<message>"}` with the status. Any other error thrown by a handler becomes a 500 whose body
/// does not reveal the error (it may hold internals); log it with ``Logger`` or a custom handler.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// The response status.
    public var status: HTTPStatus
    /// What the client is told; nil for the status's standard reason phrase.
    public var message: String?
    /// Header fields to add to the error response (`WWW-Authenticate`, `Allow`, `Retry-After`).
    public var headers: [(name: String, value: String)]

    /// An error answered with `status` and `message`.
    public init(_ status: HTTPStatus, _ message: String? = nil, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var description: String { "HTTPError(\(status.code)\(message.map { ": \($0)" } ?? ""))" }

    /// The message, or the status's reason phrase.
    public var reason: String { message ?? status.reasonPhrase }
}

extension HTTPStatus {
    /// The standard reason phrase (`Not Found`), or `Status <code>` for codes without one.
    public var reasonPhrase: String {
        switch code {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status \(code)"
        }
    }
}

/// Answers an error: the default writes `{"error":"<reason>"}` with the error's status.
public typealias ErrorHandler = @Sendable (Context, any Error) -> Void

/// The default ``ErrorHandler``: a JSON body with the reason, the ``HTTPError``'s status and headers, or 500.
public let defaultErrorHandler: ErrorHandler = { c, error in
    guard !c.isResponseStarted else { return }
    if let error = error as? HTTPError {
        for field in error.headers { try? c.setHeader(field.name, field.value) }
        switch error.status.code {
        // the common ones precompiled: no encoding
        case 404 where error.message == nil: c.json(precompiled: #"{"error":"Not Found"}"#, status: error.status)
        case 405 where error.message == nil: c.json(precompiled: #"{"error":"Method Not Allowed"}"#, status: error.status)
        default: (try? c.json(ErrorBody(error: error.reason), status: error.status)) ?? c.status(error.status)
        }
    } else {
        c.json(precompiled: #"{"error":"Internal Server Error"}"#, status: .internalServerError)
    }
}

struct ErrorBody: Encodable {
    let error: String
}
