import Foundation
import Sodium
import Testing

@Suite struct HMACAndKeyFileTests {
    @Test func hmacMatchesPythonsHmacModule() {
        // python3 -c "import hmac,hashlib; print(hmac.new(bytes(range(32)), b'popgate', hashlib.sha256).hexdigest())"
        let key = SecretBytes(copying: Array(0..<32).map(UInt8.init))
        #expect(Hex.encode(HMACSHA256.authenticate(Array("popgate".utf8), key: key))
            == "f9be079fc49b83aa41dcb5424f1fb82f2e64a99b94f0982d4e5d3e6b3cd9ce87")
    }

    @Test func aKeyFileIsMadeOnceOwnerOnlyAndReadBackTheSame() throws {
        let path = NSTemporaryDirectory() + "popgate-keyfile-\(UUID().uuidString)/keys/salt.key"
        let made = try SecretKeyFile.loadOrCreate(path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try SecretKeyFile.loadOrCreate(path).constantTimeEquals(made))
    }

    @Test func aKeyFileOthersMayReadOrThatIsNotAKeyIsRefused() throws {
        let directory = NSTemporaryDirectory() + "popgate-keyfile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let open = directory + "/open.key"
        FileManager.default.createFile(
            atPath: open, contents: Data((Data(count: 32).base64EncodedString() + "\n").utf8),
            attributes: [.posixPermissions: 0o644]
        )
        #expect { try SecretKeyFile.loadOrCreate(open) } throws: { "\($0)".contains("chmod 600") }
        let short = directory + "/short.key"
        FileManager.default.createFile(atPath: short, contents: Data("AAAA\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect { try SecretKeyFile.loadOrCreate(short) } throws: { "\($0)".contains("32 bytes") }
    }
}
