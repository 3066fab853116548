import Bolt
import Testing

@Suite struct BoltTests {
    @Test func reexportsShockwaveAndNamesTheEngine() {
        #expect(Bolt.engineDescription == "shockwave/\(Engine.simdLevel)")
    }
}
