/// A set of request methods, as a bitmask: the methods a path has routes for, in a 405 answer.
public struct MethodSet: Hashable, Sendable, CustomStringConvertible {
    /// Bit `n` stands for the method whose raw value is `n`.
    public private(set) var rawValue: UInt16

    /// The empty set.
    public init() { rawValue = 0 }

    /// The set of `methods`.
    public init(_ methods: HTTPMethod...) {
        rawValue = 0
        for method in methods { insert(method) }
    }

    /// Whether the set is empty.
    public var isEmpty: Bool { rawValue == 0 }

    /// Whether `method` is in the set.
    public func contains(_ method: HTTPMethod) -> Bool { rawValue & (1 << method.rawValue) != 0 }

    /// Adds `method` to the set.
    public mutating func insert(_ method: HTTPMethod) { rawValue |= 1 << method.rawValue }

    /// The value of an `Allow` header for the set: the method names in the order of ``HTTPMethod``'s cases,
    /// comma-separated (`"GET, HEAD, POST"`); ``HTTPMethod/other`` is left out. Taken from a table built on
    /// first use, so it allocates nothing afterwards.
    public var allowHeaderValue: String { Self.allowHeaderValues[Int(rawValue >> 1) & 0x1FF] }

    /// The ``allowHeaderValue``.
    public var description: String { allowHeaderValue }

    /// The `Allow` value of every set of the nine named methods, by `rawValue >> 1`.
    static let allowHeaderValues: [String] = (0..<512).map { mask in
        HTTPMethod.allCases.filter { $0 != .other && mask & (1 << ($0.rawValue - 1)) != 0 }
            .map(\.description).joined(separator: ", ")
    }
}
