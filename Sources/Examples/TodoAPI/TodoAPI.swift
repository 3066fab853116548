// A todo REST API on Bolt: the example of a realistic app (CRUD, validation errors, JSON, middleware), with its
// own tests in Tests/TodoAPITests. `swift run -c release todo-api --port 8080`.

import Bolt
import Synchronization

/// A todo item as the API shows it.
public struct Todo: Codable, Equatable, Sendable {
    public var id: Int
    public var title: String
    public var completed: Bool
    public var order: Int?

    public init(id: Int, title: String, completed: Bool, order: Int? = nil) {
        self.id = id
        self.title = title
        self.completed = completed
        self.order = order
    }
}

/// What a client sends to create or replace a todo; every field optional so validation can say what is missing.
struct TodoInput: Decodable {
    var title: String?
    var completed: Bool?
    var order: Int?
}

/// A validation failure: 422 with the fields at fault.
struct ValidationFailure: Encodable {
    let error = "validation failed"
    let fields: [String: String]
}

/// The todos, in memory, behind a lock (handlers run on several loop threads).
public final class TodoStore: Sendable {
    private struct State {
        var items: [Int: Todo] = [:]
        var nextID = 1
    }

    private let state = Mutex(State())

    public init() {}

    func list(completed: Bool?, limit: Int, offset: Int) -> [Todo] {
        state.withLock { state in
            let all = state.items.values.sorted { ($0.order ?? Int.max, $0.id) < ($1.order ?? Int.max, $1.id) }
            return Array(all.filter { completed == nil || $0.completed == completed }.dropFirst(offset).prefix(limit))
        }
    }

    func get(_ id: Int) -> Todo? { state.withLock { $0.items[id] } }

    func create(title: String, completed: Bool, order: Int?) -> Todo {
        state.withLock { state in
            let todo = Todo(id: state.nextID, title: title, completed: completed, order: order)
            state.items[todo.id] = todo
            state.nextID += 1
            return todo
        }
    }

    func update(_ id: Int, _ change: (inout Todo) -> Void) -> Todo? {
        state.withLock { state in
            guard var todo = state.items[id] else { return nil }
            change(&todo)
            state.items[id] = todo
            return todo
        }
    }

    func delete(_ id: Int) -> Bool { state.withLock { $0.items.removeValue(forKey: id) != nil } }
}

/// The app: routes under /todos, a health check, and the usual middleware.
public func makeTodoApp(store: TodoStore = TodoStore(), configuration: App.Configuration = .init(), log: any LogSink = StandardOutputSink()) -> App {
    let app = App(configuration: configuration)
    app.use(Logger(sink: log), RequestID(), Recover(), CORS())

    app.get("/health") { c in c.json(precompiled: #"{"status":"ok"}"#) }

    let todos = app.group("/todos")
    todos.get("") { c in
        let completed = try c.query("completed").map { value -> Bool in
            guard let flag = Bool(value) else { throw HTTPError(.badRequest, "completed must be true or false") }
            return flag
        }
        let limit = try queryInt(c, "limit", default: 100, range: 1...1000)
        let offset = try queryInt(c, "offset", default: 0, range: 0...Int.max)
        try c.json(store.list(completed: completed, limit: limit, offset: offset))
    }
    todos.post("") { c in
        let input = try c.decode(TodoInput.self)
        let title = try validTitle(input.title, required: true)!
        let todo = store.create(title: title, completed: input.completed ?? false, order: input.order)
        try c.setHeader("Location", "/todos/\(todo.id)")
        try c.json(todo, status: .created)
    }
    todos.get("/:id") { c in
        try c.json(try found(store.get(id(c)), c))
    }
    todos.put("/:id") { c in
        let input = try c.decode(TodoInput.self)
        let title = try validTitle(input.title, required: true)!
        guard let completed = input.completed else { throw invalid(["completed": "is required"]) }
        let todo = store.update(try id(c)) { todo in
            todo.title = title
            todo.completed = completed
            todo.order = input.order
        }
        try c.json(try found(todo, c))
    }
    todos.patch("/:id") { c in
        let input = try c.decode(TodoInput.self)
        let title = try validTitle(input.title, required: false)
        let todo = store.update(try id(c)) { todo in
            if let title { todo.title = title }
            if let completed = input.completed { todo.completed = completed }
            if let order = input.order { todo.order = order }
        }
        try c.json(try found(todo, c))
    }
    todos.delete("/:id") { c in
        guard store.delete(try id(c)) else { throw HTTPError(.notFound, "no todo \(c.param("id") ?? "")") }
        c.noContent()
    }
    return app
}

/// The `:id` parameter as a positive integer, else 400.
func id(_ c: Context) throws -> Int {
    guard let text = c.param("id"), let value = Int(text), value > 0 else {
        throw HTTPError(.badRequest, "the id must be a positive integer")
    }
    return value
}

func found(_ todo: Todo?, _ c: Context) throws -> Todo {
    guard let todo else { throw HTTPError(.notFound, "no todo \(c.param("id") ?? "")") }
    return todo
}

func validTitle(_ title: String?, required: Bool) throws -> String? {
    guard let title else {
        if required { throw invalid(["title": "is required"]) }
        return nil
    }
    let trimmed = title.trimmingCharacters(in: .whitespaces)
    if trimmed.isEmpty { throw invalid(["title": "must not be empty"]) }
    if trimmed.count > 200 { throw invalid(["title": "must be at most 200 characters"]) }
    return trimmed
}

func queryInt(_ c: Context, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
    guard let text = c.query(name) else { return value }
    guard let number = Int(text), range.contains(number) else {
        throw HTTPError(.badRequest, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
    }
    return number
}

/// 422 with a JSON body naming the fields.
func invalid(_ fields: [String: String]) -> HTTPError {
    let detail = fields.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "; ")
    return HTTPError(.unprocessableContent, "validation failed: \(detail)")
}

extension String {
    func trimmingCharacters(in set: CharacterSet) -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

enum CharacterSet { case whitespaces }
