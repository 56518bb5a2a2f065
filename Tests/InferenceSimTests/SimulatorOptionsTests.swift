import InferenceSim
import Testing

@Suite("Options and listen addresses")
struct SimulatorOptionsTests {
    @Test(
        "IPv4 and bracketed IPv6 listen addresses parse",
        arguments: [
            ("10.99.0.2:8000", "10.99.0.2", 8000), ("127.0.0.1:0", "127.0.0.1", 0), ("[::1]:8080", "::1", 8080),
            ("[fd00:99::2]:443", "fd00:99::2", 443),
        ])
    func parsesListen(text: String, host: String, port: Int) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == text)
    }

    @Test(
        "unparseable listen addresses are refused",
        arguments: [
            "", "10.0.0.1", "10.0.0.1:", ":8000", "localhost:8000", "10.0.0.1:http", "10.0.0.1:70000", "::1:80",
            "[::1]8080", "[::1", "10.0.0.256:80",
        ])
    func refusesListen(text: String) {
        #expect(throws: SimulatorOptionsError.self) { try ListenAddress(parsing: text) }
    }

    @Test("model lists split on commas and trim blanks")
    func modelLists() {
        #expect(SimulatorOptions.parseModels("a,b") == ["a", "b"])
        #expect(SimulatorOptions.parseModels(" a , b ") == ["a", "b"])
        #expect(SimulatorOptions.parseModels("") == [])
        #expect(SimulatorOptions.parseModels("a,,b") == ["a", "", "b"])
    }

    @Test("defaults match the command line's")
    func defaults() throws {
        let options = try SimulatorOptions(listen: ListenAddress(host: "127.0.0.1", port: 8000), models: ["a"])
        #expect(options.tokensPerSecond == 50)
        #expect(options.maxRunning == 8)
        #expect(options.reportQueueDepth == nil)
        #expect(options.reportKVUsage == nil)
        #expect(options.maxRequestBodyBytes == 16 << 20)
        #expect(options.generationTime(tokens: 12) == .milliseconds(240))
    }

    @Test("zero tokens per second means no delay")
    func noDelay() throws {
        let options = try SimulatorOptions(
            listen: ListenAddress(host: "127.0.0.1", port: 0), models: ["a"], tokensPerSecond: 0
        )
        #expect(options.generationTime(tokens: 4096) == .zero)
    }

    @Test("values the simulator cannot honour are refused with a reason")
    func refusesBadValues() throws {
        let listen = try ListenAddress(host: "127.0.0.1", port: 0)
        func message(_ make: () throws -> SimulatorOptions) -> String? {
            do {
                _ = try make()
                return nil
            } catch {
                return (error as? SimulatorOptionsError)?.description ?? "unexpected \(error)"
            }
        }
        #expect(message { try SimulatorOptions(listen: listen, models: []) }?.contains("no models") == true)
        #expect(message { try SimulatorOptions(listen: listen, models: ["a", ""]) }?.contains("empty") == true)
        #expect(message { try SimulatorOptions(listen: listen, models: ["a", "a"]) }?.contains("twice") == true)
        #expect(message { try SimulatorOptions(listen: listen, models: ["a"], tokensPerSecond: -1) } != nil)
        #expect(message { try SimulatorOptions(listen: listen, models: ["a"], tokensPerSecond: .nan) } != nil)
        #expect(message { try SimulatorOptions(listen: listen, models: ["a"], maxRunning: 0) } != nil)
        #expect(message { try SimulatorOptions(listen: listen, models: ["a"], reportQueueDepth: -1) } != nil)
        #expect(message { try SimulatorOptions(listen: listen, models: ["a"], reportKVUsage: 1.5) } != nil)
    }
}
