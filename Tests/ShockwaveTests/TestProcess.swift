// Threads and child processes for the server tests, without Foundation.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain thread, for clients that block while the test thread acts (shutdown under load).
final class TestThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            Unmanaged<Body>.fromOpaque(arg!).takeRetainedValue().run()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed")
    }

    func join() { pthread_join(thread, nil) }
}

/// The path of an executable found on PATH, or nil.
func findExecutable(_ name: String) -> String? {
    guard let path = getenv("PATH") else { return nil }
    for dir in String(cString: path).split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// Runs `executable` with `arguments`, returns its exit status and what it wrote to stdout and stderr.
func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    try ChildProcess(executable, arguments).finish()
}

/// The path of `name` in the folder of the running test binary (where `swift build` puts the package's
/// executables), or nil.
func siblingExecutable(_ name: String) -> String? {
    var path = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &path, path.count - 1)
    guard n > 0 else { return nil }
    let exe = String(decoding: path[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = exe.lastIndex(of: "/") else { return nil }
    let candidate = exe[..<slash] + "/" + name
    return access(candidate, X_OK) == 0 ? String(candidate) : nil
}

/// A child process: its stdout and stderr come through a pipe, line by line while it runs (`readLine`), or all
/// at its end (`finish`). `stop()` sends SIGTERM (then SIGKILL) and reaps it; a child already finished is left.
final class ChildProcess {
    let pid: pid_t
    private var output: Int32
    private var pending: [UInt8] = []

    init(_ executable: String, _ arguments: [String]) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ClientError("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child = pid_t()
        let rc = posix_spawn(&child, executable, &actions, nil, argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw ClientError("posix_spawn \(executable): \(String(cString: strerror(rc)))")
        }
        pid = child
        output = fds[0]
    }

    deinit { stop() }

    /// The next line the child writes, without its newline; throws after `timeout` seconds or at EOF.
    func readLine(timeout: Int) throws -> String {
        let deadline = monotonicMs() + timeout * 1000
        while true {
            if let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                return line
            }
            var pfd = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let left = deadline - monotonicMs()
            guard left > 0, poll(&pfd, 1, Int32(left)) > 0 else { throw ClientError("no line from the child in \(timeout) s") }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ClientError("the child closed its output: \(String(decoding: pending, as: UTF8.self))") }
            pending += chunk[0..<n]
        }
    }

    /// Reads the child's output to its end, waits for it to exit; returns its exit status (128 + signal when a
    /// signal ended it) and everything it wrote after what ``readLine(timeout:)`` took.
    func finish() -> (status: Int32, output: String) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if n > 0 {
                pending += chunk[0..<n]
            } else if n == 0 || errno != EINTR {
                break
            }
        }
        close(output)
        output = -1
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitCode = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitCode, String(decoding: pending, as: UTF8.self))
    }

    /// User plus system CPU time the child has used, in milliseconds (from /proc/PID/stat).
    func cpuMs() -> Int {
        guard let f = fopen("/proc/\(pid)/stat", "r") else { return 0 }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 2048)
        guard fgets(&buf, Int32(buf.count), f) != nil else { return 0 }
        let text = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // after the ")" that ends the command name: state is field 3, utime 14, stime 15
        guard let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
        return (user + system) * 1000 / sysconf(Int32(_SC_CLK_TCK))
    }

    var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    func stop() {
        guard output >= 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<100 where waitpid(pid, &status, WNOHANG) == 0 { usleep(20_000) }
        if waitpid(pid, &status, WNOHANG) == 0 {
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        close(output)
        output = -1
    }
}
