#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// Why a ``Server`` could not start: the address is taken, the port needs privileges, the backend asked for
/// is not available here, or a configuration value is out of range.
public struct ServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, for code that reacts to it.
    public enum Kind: Sendable, Hashable {
        /// Another socket is bound to the address and port (`EADDRINUSE`).
        case addressInUse
        /// Binding needs a privilege the process lacks, such as a port below 1024 (`EACCES`).
        case permissionDenied
        /// The address is not an IP literal or not one of this machine's (`EINVAL`, `EADDRNOTAVAIL`).
        case invalidAddress
        /// The backend asked for explicitly (``ServerConfiguration/Backend/uring``) cannot run here: not in
        /// this build, or the kernel or a seccomp profile forbids it (`ENOSYS`).
        case backendUnavailable
        /// A ``ServerConfiguration`` value is out of range; ``ServerError/message`` names it.
        case invalidConfiguration
        /// ``Server/start()`` was called on a server that is running or has run.
        case alreadyStarted
        /// Any other error from the system; see ``ServerError/code``.
        case system
    }

    /// What went wrong.
    public var kind: Kind
    /// The `errno` value behind the error (for example `EADDRINUSE`), or 0.
    public var code: Int32
    /// A sentence saying what failed, with the system's description of the error.
    public var message: String

    /// An error with the given parts (for tests and adapters; the server makes its own).
    public init(kind: Kind, code: Int32, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// An error for a failed `sw_server_start`, from its negative errno.
    init(startingOn host: String, port: Int, errno negated: Int32) {
        let code = -negated
        let kind: Kind =
            switch code {
            case EADDRINUSE: .addressInUse
            case EACCES, EPERM: .permissionDenied
            case EINVAL, EADDRNOTAVAIL, EAFNOSUPPORT: .invalidAddress
            case ENOSYS: .backendUnavailable
            default: .system
            }
        let reason = String(cString: strerror(code))
        let what =
            kind == .backendUnavailable
            ? "the io_uring backend is not available (not built in, or the kernel forbids it)"
            : "cannot listen on \(host):\(port)"
        self.init(kind: kind, code: code, message: "\(what): \(reason)")
    }

    public var description: String { message }
}
