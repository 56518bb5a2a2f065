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

    @Test func clientAddressesSkipNetworkAndBroadcastOnIPv4() throws {
        let slash30 = try #require(IPPrefix("10.0.0.0/30")).clientAddresses
        #expect(slash30.count == 2)
        #expect([0, 1, 2].map { slash30.address(at: $0)?.description } == ["10.0.0.1", "10.0.0.2", nil])
        #expect(try #require(IPPrefix("10.0.0.0/24")).clientAddresses.count == 254)
        #expect(try #require(IPPrefix("10.0.0.7/32")).clientAddresses.address(at: 0) == IPAddress("10.0.0.7"))
        let slash20 = try #require(IPPrefix("10.8.0.0/20")).clientAddresses
        #expect(slash20.count == 4094 && slash20.address(at: 4093) == IPAddress("10.8.15.254"))
        #expect(slash20.contains(IPAddress("10.8.15.254")!) && !slash20.contains(IPAddress("10.8.15.255")!))
        #expect(!slash20.contains(IPAddress("10.8.0.0")!) && !slash20.contains(IPAddress("10.9.0.1")!))
    }

    @Test func clientAddressesOfAnyIPv6PrefixAreComputedNotListed() throws {
        let slash64 = try #require(IPPrefix("fd00:77::/64")).clientAddresses
        #expect(slash64.count == UInt64.max)
        #expect(slash64.address(at: 0) == IPAddress("fd00:77::1"))
        #expect(slash64.address(at: 0xffff) == IPAddress("fd00:77::1:0"))
        #expect(slash64.contains(IPAddress("fd00:77::ffff:ffff:ffff:ffff")!))
        #expect(!slash64.contains(IPAddress("fd00:77::")!) && !slash64.contains(IPAddress("fd00:78::1")!))
        // More than 64 host bits: the first 2^64 are reachable by index, and membership is exact.
        let slash48 = try #require(IPPrefix("fd00:1:2::/48")).clientAddresses
        #expect(slash48.address(at: UInt64.max - 1) == IPAddress("fd00:1:2:0:ffff:ffff:ffff:ffff"))
        #expect(slash48.contains(IPAddress("fd00:1:2:ffff::5")!))
        let slash126 = try #require(IPPrefix("fd00::4/126")).clientAddresses
        #expect([0, 1, 2, 3].map { slash126.address(at: $0)?.description } == ["fd00::5", "fd00::6", "fd00::7", nil])
        // The lowest free one is found without walking the prefix.
        let taken: Set = [IPAddress("fd00:77::1")!, IPAddress("fd00:77::2")!]
        #expect(slash64.lowest(notIn: taken) == IPAddress("fd00:77::3"))
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
