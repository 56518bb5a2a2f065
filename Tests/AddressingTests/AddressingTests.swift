import Addressing
import Testing

@Suite struct AddressingTests {
    @Test func parsesAndPrintsBothFamilies() throws {
        #expect(IPAddress("10.77.0.1")?.description == "10.77.0.1")
        #expect(IPAddress("fd00::1")?.description == "fd00::1")
        #expect(IPAddress("10.77.0.256") == nil)
        #expect(IPAddress("hello") == nil)
        #expect(IPAddress(bytes: [10, 0, 0, 1]) == IPAddress("10.0.0.1"))
    }

    @Test func prefixesContainAndOverlap() throws {
        let pool = try #require(IPPrefix("10.77.0.0/24"))
        #expect(pool.contains(IPAddress("10.77.0.200")!))
        #expect(!pool.contains(IPAddress("10.78.0.1")!))
        #expect(IPPrefix("10.77.0.1/24")?.network == IPAddress("10.77.0.0"))
        #expect(pool.overlaps(IPPrefix("10.77.0.5/32")!))
        #expect(!pool.overlaps(IPPrefix("10.78.0.0/16")!))
        #expect(IPPrefix("10.0.0.0/33") == nil)
        #expect(IPPrefix("10.0.0.0/") == nil)
        #expect(IPPrefix("10.0.0.7")?.length == 32)
    }

    @Test func hostAddressesSkipNetworkAndBroadcast() throws {
        let hosts = try #require(IPPrefix("10.0.0.0/30")).hostAddresses()
        #expect(hosts.map(\.description) == ["10.0.0.1", "10.0.0.2"])
        #expect(try #require(IPPrefix("10.0.0.0/24")).hostAddresses().count == 254)
    }

    @Test func endpointsParseHostAndPort() {
        #expect(SocketEndpoint("198.51.100.1:51820") == SocketEndpoint(host: "198.51.100.1", port: 51820))
        #expect(SocketEndpoint("[fd00::1]:443") == SocketEndpoint(host: "fd00::1", port: 443))
        #expect(SocketEndpoint("[fd00::1]:443")?.description == "[fd00::1]:443")
        #expect(SocketEndpoint("pop.example.net:51820")?.host == "pop.example.net")
        #expect(SocketEndpoint("198.51.100.1") == nil)
        #expect(SocketEndpoint("198.51.100.1:70000") == nil)
        #expect(SocketEndpoint("fd00::1:443") == nil)
    }
}
