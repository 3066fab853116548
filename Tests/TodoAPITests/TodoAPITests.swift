import Bolt
import BoltTesting
import Testing
import TodoAPI

@Suite struct TodoAPITests {
    let client: TestClient

    init() throws {
        client = try makeTodoApp(log: DiscardingSink()).testClient()
    }

    func create(_ title: String, order: Int? = nil) throws -> Todo {
        let response = try client.send(.post, "/todos", headers: [("Content-Type", "application/json")],
                                       body: Array(#"{"title":"\#(title)"\#(order.map { ",\"order\":\($0)" } ?? "")}"#.utf8))
        #expect(response.status == .created)
        let todo = try response.json(Todo.self)
        #expect(response.header("Location") == "/todos/\(todo.id)")
        return todo
    }

    @Test func createsReadsUpdatesAndDeletes() throws {
        let todo = try create("write docs")
        #expect(todo.title == "write docs" && !todo.completed)
        #expect(try client.send(.get, "/todos/\(todo.id)").json(Todo.self) == todo)
        let patched = try client.send(.patch, "/todos/\(todo.id)", headers: [("Content-Type", "application/json")],
                                      body: Array(#"{"completed":true}"#.utf8))
        #expect(try patched.json(Todo.self).completed)
        let replaced = try client.send(.put, "/todos/\(todo.id)", headers: [("Content-Type", "application/json")],
                                       body: Array(#"{"title":"  ship it  ","completed":false,"order":1}"#.utf8))
        #expect(try replaced.json(Todo.self) == Todo(id: todo.id, title: "ship it", completed: false, order: 1))
        #expect(try client.send(.delete, "/todos/\(todo.id)").status == .noContent)
        let gone = try client.send(.get, "/todos/\(todo.id)")
        #expect(gone.status == .notFound)
        #expect(gone.text == #"{"error":"no todo \#(todo.id)"}"#)
        #expect(try client.send(.delete, "/todos/\(todo.id)").status == .notFound)
    }

    @Test func listsWithFiltersAndPaging() throws {
        let a = try create("a", order: 2)
        let b = try create("b", order: 1)
        _ = try create("c")
        _ = try client.send(.patch, "/todos/\(a.id)", headers: [("Content-Type", "application/json")], body: Array(#"{"completed":true}"#.utf8))
        let all = try client.send(.get, "/todos").json([Todo].self)
        #expect(all.map(\.title) == ["b", "a", "c"])
        #expect(try client.send(.get, "/todos?completed=true").json([Todo].self).map(\.id) == [a.id])
        #expect(try client.send(.get, "/todos?limit=1&offset=1").json([Todo].self).map(\.id) == [a.id])
        #expect(try client.send(.get, "/todos?limit=0").status == .badRequest)
        #expect(try client.send(.get, "/todos?completed=maybe").status == .badRequest)
        _ = b
    }

    @Test func explainsInvalidInput() throws {
        func post(_ body: String) throws -> TestResponse {
            try client.send(.post, "/todos", headers: [("Content-Type", "application/json")], body: Array(body.utf8))
        }
        let missing = try post("{}")
        #expect(missing.status == .unprocessableContent)
        #expect(missing.text == #"{"error":"validation failed: title is required"}"#)
        #expect(try post(#"{"title":"   "}"#).text.contains("title must not be empty"))
        #expect(try post(#"{"title":"\#(String(repeating: "x", count: 201))"}"#).status == .unprocessableContent)
        let malformed = try post(#"{"title":"#)
        #expect(malformed.status == .badRequest)
        #expect(malformed.text.contains("invalid JSON body"))
        #expect(try post(#"{"title":5}"#).text.contains("wrong type"))
        #expect(try client.send(.get, "/todos/abc").status == .badRequest)
        let put = try client.send(.put, "/todos/1", headers: [("Content-Type", "application/json")], body: Array(#"{"title":"x"}"#.utf8))
        #expect(put.text.contains("completed is required"))
    }

    @Test func answersHealthChecksAndCORSAndTagsRequests() throws {
        let health = try client.send(.get, "/health", headers: [("Origin", "https://ui.example")])
        #expect(health.text == #"{"status":"ok"}"#)
        #expect(health.header("Access-Control-Allow-Origin") == "*")
        #expect(health.header("X-Request-ID")?.count == 16)
        #expect(try client.send(.delete, "/health").status == .methodNotAllowed)
    }
}
